package provision

import (
	"context"
	"encoding/json"

	"github.com/scimplane/scimplane/worker/internal/resource"
)

// Search handles a query over the server root (GET / and POST /.search):
// users and groups, each query with the filter and sort resolved for its
// kind and both with the same page. Without a sort, all matching users come
// first, then all matching groups, each in creation order, so pages over
// the two neither skip nor repeat. With a sort, the two are merged by the
// sort key, users before groups on equal keys; such a query reads at most
// the store's bound of matching resources (else 400 tooMany).
func (s *Service) Search(ctx context.Context, c *Call, users, groups Query) (*Result, error) {
	var found []*Resource
	var total int
	if users.Sort != nil || groups.Sort != nil {
		var err error
		if found, total, err = s.store.ListSorted(ctx, users, groups); err != nil {
			return nil, err
		}
	} else {
		us, ut, err := s.store.ListUsers(ctx, users)
		if err != nil {
			return nil, err
		}
		// The groups' page starts where the users end.
		groups.Start = max(1, users.Start-ut)
		groups.Count = users.Count - len(us)
		gs, gt, err := s.store.ListGroups(ctx, groups)
		if err != nil {
			return nil, err
		}
		for _, u := range us {
			found = append(found, &Resource{Meta: u.Meta, Doc: u.Doc})
		}
		for _, g := range gs {
			found = append(found, &Resource{Group: true, Meta: g.Meta, Doc: g.Doc})
		}
		total = ut + gt
	}
	var members map[string][]resource.Member
	if s.wantsMembers(c) {
		var ids []string
		for _, r := range found {
			if r.Group {
				ids = append(ids, r.ID)
			}
		}
		if len(ids) > 0 {
			var err error
			if members, err = s.store.Members(ctx, ids); err != nil {
				return nil, err
			}
		}
	}
	resources := make([]map[string]any, len(found))
	for i, r := range found {
		kind, m := s.UserKind(), []resource.Member(nil)
		if r.Group {
			kind, m = s.GroupKind(), members[r.ID]
		}
		out := kind.Render(r.Doc, r.Meta, c.Base, m)
		c.Projection.Apply(kind, out)
		resources[i] = out
	}
	b, _ := json.Marshal(resource.ListResponse(total, users.Start, resources))
	return &Result{Status: 200, Body: b}, nil
}
