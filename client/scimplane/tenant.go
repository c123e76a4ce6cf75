package scimplane

import (
	"context"
	"iter"
	"net/url"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

// The API's answers and queries, as the server declares them.
type (
	// User is a user with its effective permissions and permission sets.
	User = scimworker.UserRow
	// UserDetail is one user: its SCIM attributes, groups, permissions and
	// the grants that give them.
	UserDetail = scimworker.UserDetail
	// Group is a group with its member count and what the policy gives its
	// members.
	Group = scimworker.GroupRow
	// GroupRef names a group a user is a member of.
	GroupRef = scimworker.GroupRef
	// Grant is a policy rule giving a permission through a set and a group.
	Grant = scimworker.Grant
	// Explanation says whether a user has a permission and why.
	Explanation = scimworker.Explanation
	// Change is one change feed entry.
	Change = scimworker.Change

	UsersPage   = scimworker.UsersPage
	GroupsPage  = scimworker.GroupsPage
	MembersPage = scimworker.GroupMembersPage
	ChangesPage = scimworker.ChangesPage

	// UsersQuery filters and pages users: Q keeps those whose userName or
	// displayName starts with it.
	UsersQuery = scimworker.UsersRequest
	// GroupsQuery filters and pages groups: Q keeps those whose display
	// name contains it.
	GroupsQuery = scimworker.GroupsRequest
)

// Kinds of change feed entries.
const (
	ChangeMemberAdded        = "member_added"
	ChangeMemberRemoved      = "member_removed"
	ChangePermissionsChanged = "permissions_changed"
	ChangeUserDeleted        = "user_deleted"
	ChangeGroupDeleted       = "group_deleted"
)

// Tenant reads one tenant's data.
type Tenant struct {
	c  *Client
	id string
}

// Tenant returns the reader of the tenant with id tnt_...
func (c *Client) Tenant(id string) *Tenant { return &Tenant{c: c, id: id} }

// ID is the tenant's id.
func (t *Tenant) ID() string { return t.id }

func (t *Tenant) path(rest string) string { return "/tenants/" + url.PathEscape(t.id) + rest }

// ListUsers returns one page of users, in creation order, each with its
// effective permissions. Pass the page's Next as q.After for the next one;
// an empty Next is the last page.
func (t *Tenant) ListUsers(ctx context.Context, q UsersQuery) (*UsersPage, error) {
	var p UsersPage
	return &p, t.c.get(ctx, t.path("/users"), values(q), &p)
}

// Users yields every user q selects, page after page from q.After, and
// stops at the first error, which it yields.
func (t *Tenant) Users(ctx context.Context, q UsersQuery) iter.Seq2[User, error] {
	return pages(func() ([]User, string, error) {
		p, err := t.ListUsers(ctx, q)
		if err != nil {
			return nil, "", err
		}
		q.After = p.Next
		return p.Users, p.Next, nil
	})
}

// User returns one user with its groups, permissions and grants.
func (t *Tenant) User(ctx context.Context, userID string) (*UserDetail, error) {
	var u UserDetail
	return &u, t.c.get(ctx, t.path("/users/"+url.PathEscape(userID)), nil, &u)
}

// Permissions returns a user's effective permissions, sorted.
func (t *Tenant) Permissions(ctx context.Context, userID string) ([]string, error) {
	u, err := t.User(ctx, userID)
	if err != nil {
		return nil, err
	}
	return u.Permissions, nil
}

// Explain says whether a user has permission and why: the grants that give
// it, or the reasons none does.
func (t *Tenant) Explain(ctx context.Context, userID, permission string) (*Explanation, error) {
	var e Explanation
	return &e, t.c.get(ctx, t.path("/users/"+url.PathEscape(userID)+"/explain"), url.Values{"permission": {permission}}, &e)
}

// ListGroups returns one page of groups, by display name.
func (t *Tenant) ListGroups(ctx context.Context, q GroupsQuery) (*GroupsPage, error) {
	var p GroupsPage
	return &p, t.c.get(ctx, t.path("/groups"), values(q), &p)
}

// Groups yields every group q selects, page after page.
func (t *Tenant) Groups(ctx context.Context, q GroupsQuery) iter.Seq2[Group, error] {
	return pages(func() ([]Group, string, error) {
		p, err := t.ListGroups(ctx, q)
		if err != nil {
			return nil, "", err
		}
		q.After = p.Next
		return p.Groups, p.Next, nil
	})
}

// ListMembers returns a group and one page of its members (after the
// cursor after, limit of them; 0 for the default), each with its
// effective permissions.
func (t *Tenant) ListMembers(ctx context.Context, groupID, after string, limit int) (*MembersPage, error) {
	var p MembersPage
	q := values(scimworker.GroupMembersRequest{After: after, Limit: limit})
	return &p, t.c.get(ctx, t.path("/groups/"+url.PathEscape(groupID)+"/members"), q, &p)
}

// Members yields every member of a group, page after page.
func (t *Tenant) Members(ctx context.Context, groupID string) iter.Seq2[User, error] {
	after := ""
	return pages(func() ([]User, string, error) {
		p, err := t.ListMembers(ctx, groupID, after, 0)
		if err != nil {
			return nil, "", err
		}
		after = p.Next
		return p.Members, p.Next, nil
	})
}

// Changes returns the changes committed after the cursor after ("" for
// the beginning), at most limit (0 for the default of 50, at most 500), in
// commit order, and the cursor to ask from next; that cursor equals after
// when nothing new committed. Follow polls it for you.
func (t *Tenant) Changes(ctx context.Context, after string, limit int) (*ChangesPage, error) {
	var p ChangesPage
	return &p, t.c.get(ctx, t.path("/changes"), values(scimworker.ChangesRequest{After: after, Limit: limit}), &p)
}

// pages yields the items of each page next returns, until a page's cursor
// is empty or next fails.
func pages[T any](next func() ([]T, string, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for {
			items, cursor, err := next()
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			if cursor == "" {
				return
			}
		}
	}
}
