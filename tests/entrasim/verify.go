package entrasim

import (
	"context"
	"fmt"
	"strings"
)

// ParseUser reads a user resource the way Entra's parser does: active must be
// a JSON boolean, the manager an object with a value, and there must be at
// most one work e-mail and work phone.
func ParseUser(res map[string]any) (string, UserView, error) {
	var v UserView
	id, _ := res["id"].(string)
	if id == "" {
		return "", v, fmt.Errorf("user without id")
	}
	active, ok := res["active"].(bool)
	if !ok {
		return id, v, fmt.Errorf("user %s: active is %#v, want a JSON boolean", id, res["active"])
	}
	v.Active = active
	v.UserName, _ = res["userName"].(string)
	v.DisplayName, _ = res["displayName"].(string)
	v.Title, _ = res["title"].(string)
	if name, ok := res["name"].(map[string]any); ok {
		v.GivenName, _ = name["givenName"].(string)
		v.FamilyName, _ = name["familyName"].(string)
	}
	var err error
	if v.Mail, err = typedValue(res, "emails", "work"); err != nil {
		return id, v, fmt.Errorf("user %s: %w", id, err)
	}
	if v.WorkPhone, err = typedValue(res, "phoneNumbers", "work"); err != nil {
		return id, v, fmt.Errorf("user %s: %w", id, err)
	}
	if ext, ok := res[URNEnterprise].(map[string]any); ok {
		v.Department, _ = ext["department"].(string)
		v.EmployeeNumber, _ = ext["employeeNumber"].(string)
		if m, present := ext["manager"]; present {
			obj, ok := m.(map[string]any)
			if !ok {
				return id, v, fmt.Errorf("user %s: manager is %#v, want an object", id, m)
			}
			v.ManagerID, _ = obj["value"].(string)
		}
	}
	return id, v, nil
}

// typedValue is the value of the one entry of a multi-valued attribute with
// that type.
func typedValue(res map[string]any, attr, typ string) (string, error) {
	items, _ := res[attr].([]any)
	var found []string
	for _, it := range items {
		if m, ok := it.(map[string]any); ok && m["type"] == typ {
			s, _ := m["value"].(string)
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return "", nil
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("%d %s of type %q, want at most one", len(found), attr, typ)
}

func stringList(v any) []string {
	items, _ := v.([]any)
	out := make([]string, 0, len(items))
	for _, it := range items {
		if s, ok := it.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// Verify reads the end state back and compares it with the directory: every
// live user by id and by a userName filter (every tenth also upper-cased);
// deleted users and groups 404 and filter to nothing; every live group by id
// without members and by displayName; every member, and every member the last
// cycle removed, through the membership filter; and the totals, which must
// be exactly the directory's (no other tenant's data).
func (s *Sim) Verify(ctx context.Context) error {
	if err := s.each(ctx, len(s.Dir.Users), func(i int) error { return s.verifyUser(ctx, i) }); err != nil {
		return fmt.Errorf("verify users: %w", err)
	}
	if err := s.each(ctx, len(s.Dir.Groups), func(j int) error { return s.verifyGroup(ctx, j) }); err != nil {
		return fmt.Errorf("verify groups: %w", err)
	}
	var users, groups int
	for _, u := range s.Dir.Users {
		if !u.Deleted {
			users++
		}
	}
	for _, g := range s.Dir.Groups {
		if !g.Deleted {
			groups++
		}
	}
	for path, want := range map[string]int{"/Users": users, "/Groups": groups} {
		if err := s.verifyTotal(ctx, path, want); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sim) verifyUser(ctx context.Context, i int) error {
	u, id := s.Dir.Users[i], s.userIDs[i]
	if id == "" {
		if u.Deleted {
			return nil
		}
		return fmt.Errorf("user %s was never provisioned", u.UPN)
	}
	if u.Deleted {
		if _, err := s.do(ctx, Request{Method: "GET", Path: "/Users/" + id, Want: []int{404}}); err != nil {
			return fmt.Errorf("deleted user: %w", err)
		}
		found, err := s.lookupUser(ctx, u.UPN)
		if err == nil && found != nil {
			err = fmt.Errorf("deleted user %s still found by userName", u.UPN)
		}
		return err
	}
	resp, err := s.do(ctx, GetUser(id))
	if err != nil {
		return err
	}
	obj, err := resp.Object()
	if err != nil {
		return err
	}
	_, got, err := ParseUser(obj)
	if err != nil {
		return err
	}
	if want := s.view(i); got != want {
		return fmt.Errorf("GET /Users/%s:\n got  %+v\n want %+v", id, got, want)
	}
	names := []string{u.UPN}
	if i%10 == 0 {
		names = append(names, strings.ToUpper(u.UPN))
	}
	for _, name := range names {
		found, err := s.lookupUser(ctx, name)
		if err != nil {
			return err
		}
		if found == nil || found["id"] != id {
			return fmt.Errorf("filter userName eq %q: got %v, want id %s", name, found["id"], id)
		}
	}
	return nil
}

func (s *Sim) verifyGroup(ctx context.Context, j int) error {
	g, id := s.Dir.Groups[j], s.groupIDs[j]
	if id == "" {
		return fmt.Errorf("group %q was never provisioned", g.DisplayName)
	}
	if g.Deleted {
		_, err := s.do(ctx, Request{Method: "GET", Path: "/Groups/" + id, Want: []int{404}})
		return err
	}
	resp, err := s.do(ctx, GetGroup(id))
	if err != nil {
		return err
	}
	obj, err := resp.Object()
	if err != nil {
		return err
	}
	if _, ok := obj["members"]; ok {
		return fmt.Errorf("GET /Groups/%s?excludedAttributes=members returned members", id)
	}
	if obj["displayName"] != g.DisplayName {
		return fmt.Errorf("GET /Groups/%s: displayName %v, want %q", id, obj["displayName"], g.DisplayName)
	}
	if found, err := s.lookupGroup(ctx, g.DisplayName); err != nil || found != id {
		return fmt.Errorf("filter displayName eq %q: id %q, want %s (%v)", g.DisplayName, found, id, err)
	}
	check := func(users []int, want int) error {
		for _, m := range users {
			if s.Dir.Users[m].Deleted {
				continue
			}
			res, err := s.list(ctx, MemberCheck(id, s.userIDs[m]))
			if err != nil {
				return err
			}
			if len(res) != want {
				return fmt.Errorf("group %s member %s: %d results, want %d", id, s.userIDs[m], len(res), want)
			}
			if want == 1 {
				if _, ok := res[0]["members"]; ok {
					return fmt.Errorf("membership check on group %s returned members", id)
				}
			}
		}
		return nil
	}
	if err := check(g.Members, 1); err != nil {
		return err
	}
	return check(s.removed[j], 0)
}

func (s *Sim) verifyTotal(ctx context.Context, path string, want int) error {
	resp, err := s.do(ctx, Request{Method: "GET", Path: path, Query: map[string][]string{"startIndex": {"1"}, "count": {"1"}}, Want: []int{200}})
	if err != nil {
		return err
	}
	obj, err := resp.Object()
	if err != nil {
		return err
	}
	if total, _ := obj["totalResults"].(float64); int(total) != want {
		return fmt.Errorf("GET %s: totalResults %v, want %d", path, obj["totalResults"], want)
	}
	return nil
}
