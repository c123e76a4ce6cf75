package console

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

const pageSize = "50"

// pageQuery carries the list pages' search and cursor to the API.
func pageQuery(r *request, withQ bool) url.Values {
	q := url.Values{"limit": {pageSize}}
	if after := r.c.Query("after"); after != "" {
		q.Set("after", after)
	}
	if withQ {
		if s := strings.TrimSpace(r.c.Query("q")); s != "" {
			q.Set("q", s)
		}
	}
	return q
}

func (con *console) groupsPage(r *request) error {
	t, err := r.tenant()
	if err != nil {
		return err
	}
	var out scimworker.GroupsPage
	if err := r.api.get(r.c.UserContext(), tenantPath(t.ID, "groups"), pageQuery(r, true), &out); err != nil {
		return err
	}
	data := map[string]any{"Groups": out.Groups, "Next": out.Next, "Q": r.c.Query("q"), "Paged": r.c.Query("after") != ""}
	return con.render(r, "groups", page{Title: t.Name + ": groups", Nav: "groups", Tenant: t, Data: data})
}

func (con *console) groupPage(r *request) error {
	t, err := r.tenant()
	if err != nil {
		return err
	}
	var out scimworker.GroupMembersPage
	if err := r.api.get(r.c.UserContext(), tenantPath(t.ID, "groups", r.c.Params("gid"), "members"), pageQuery(r, false), &out); err != nil {
		return err
	}
	data := map[string]any{"Group": out.Group, "Members": out.Members, "Next": out.Next, "Paged": r.c.Query("after") != ""}
	return con.render(r, "group", page{Title: out.Group.DisplayName, Nav: "groups", Tenant: t, Data: data})
}

func (con *console) usersPage(r *request) error {
	t, err := r.tenant()
	if err != nil {
		return err
	}
	var out scimworker.UsersPage
	if err := r.api.get(r.c.UserContext(), tenantPath(t.ID, "users"), pageQuery(r, true), &out); err != nil {
		return err
	}
	data := map[string]any{"Users": out.Users, "Next": out.Next, "Q": r.c.Query("q"), "Paged": r.c.Query("after") != ""}
	return con.render(r, "users", page{Title: t.Name + ": users", Nav: "users", Tenant: t, Data: data})
}

// userPage shows a user's groups and effective permissions, each with the
// grants that give it; ?permission= asks the policy why a permission is
// (or is not) granted.
func (con *console) userPage(r *request) error {
	t, err := r.tenant()
	if err != nil {
		return err
	}
	ctx := r.c.UserContext()
	uid := r.c.Params("uid")
	var u scimworker.UserDetail
	if err := r.api.get(ctx, tenantPath(t.ID, "users", uid), nil, &u); err != nil {
		return err
	}
	var attrs map[string]any
	if err := json.Unmarshal(u.User, &attrs); err != nil {
		return fmt.Errorf("user %s: %w", uid, err)
	}
	groupNames := make(map[string]string, len(u.Groups))
	for _, g := range u.Groups {
		groupNames[g.ID] = g.DisplayName
	}
	type permRow struct {
		Permission string
		Grants     []scimworker.Grant
	}
	var perms []permRow
	for _, p := range u.Permissions {
		row := permRow{Permission: p}
		for _, g := range u.Grants {
			if g.Permission == p {
				if name := groupNames[g.Group]; name != "" {
					g.Group = name
				}
				row.Grants = append(row.Grants, g)
			}
		}
		perms = append(perms, row)
	}
	data := map[string]any{"User": u, "Attrs": attrs, "Perms": perms, "Attributes": prettyJSONValue(attrs), "GroupNames": groupNames}
	if p := strings.TrimSpace(r.c.Query("permission")); p != "" {
		var ex scimworker.Explanation
		err := r.api.get(ctx, tenantPath(t.ID, "users", uid, "explain"), url.Values{"permission": {p}}, &ex)
		data["Explain"], data["ExplainError"], data["Asked"] = ex, err, p
	}
	name, _ := attrs["userName"].(string)
	return con.render(r, "user", page{Title: name, Nav: "users", Tenant: t, Data: data})
}
