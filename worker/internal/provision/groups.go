package provision

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/scimplane/scimplane/worker/internal/resource"
)

func (s *Service) renderGroup(c *Call, g *GroupRecord, members []resource.Member, p resource.Projection) []byte {
	out := s.group.Render(g.Doc, g.Meta, c.Base, members)
	p.Apply(s.group, out)
	b, _ := json.Marshal(out)
	return b
}

func (s *Service) groupResult(c *Call, status int, g *GroupRecord, body []byte) *Result {
	return &Result{Status: status, Body: body, Location: c.Base + "/Groups/" + g.ID, ETag: g.ETag()}
}

// takeMembers removes members from a group document and returns their ids.
func takeMembers(doc resource.Doc) []string {
	list, _ := doc["members"].([]any)
	delete(doc, "members")
	ids := make([]string, 0, len(list))
	for _, m := range list {
		if obj, ok := m.(map[string]any); ok {
			if id, ok := obj["value"].(string); ok {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// readGroup reads a POST or PUT body: the document, the attributes it
// ignored and the member ids, taken out of the document.
func (s *Service) readGroup(body []byte) (resource.Doc, []string, []string, error) {
	doc, ignored, err := s.group.Read(body)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := requireString(doc, "displayName"); err != nil {
		return nil, nil, nil, err
	}
	return doc, ignored, takeMembers(doc), nil
}

// CreateGroup handles POST /Groups.
func (s *Service) CreateGroup(ctx context.Context, c *Call, body []byte) (*Result, error) {
	doc, ignored, ids, err := s.readGroup(body)
	if err != nil {
		return nil, err
	}
	now := s.now()
	g := &GroupRecord{Meta: resource.Meta{ID: newID(), Created: now, LastModified: now, Version: 1}, Doc: doc}
	c.describeGroup(g.ID, doc)
	var out []byte
	err = s.inTx(ctx, c, func(tx Tx) error {
		if err := tx.InsertGroup(ctx, g); err != nil {
			return err
		}
		added, _, err := tx.ApplyMembers(ctx, g.ID, []resource.MemberOp{{Kind: resource.MembersAdd, IDs: ids}})
		if err != nil {
			return err
		}
		if err := s.membershipChanged(ctx, tx, g.ID, added, nil, added); err != nil {
			return err
		}
		out = s.renderGroup(c, g, nil, resource.Projection{Excluded: []string{"members"}})
		summary := "created group " + c.Entry.DisplayName
		if len(added) > 0 {
			summary += " with " + itoa(len(added)) + " members"
		}
		return s.commit(ctx, tx, c, 201, out, summary+dropped(ignored))
	})
	if err := s.writeErr(err, "Group", g.ID, "displayName"); err != nil {
		return nil, err
	}
	return s.groupResult(c, 201, g, out), nil
}

// GetGroup handles GET /Groups/{id}; members are loaded only if returned.
func (s *Service) GetGroup(ctx context.Context, c *Call, id string, p resource.Projection) (*Result, error) {
	g, err := s.store.GetGroup(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, notFound("Group", id)
	}
	if err != nil {
		return nil, err
	}
	c.describeGroup(g.ID, g.Doc)
	var members []resource.Member
	if p.Returns(s.group, "members") {
		m, err := s.store.Members(ctx, []string{g.ID})
		if err != nil {
			return nil, err
		}
		members = m[g.ID]
	}
	return s.groupResult(c, 200, g, s.renderGroup(c, g, members, p)), nil
}

// ListGroups handles GET /Groups.
func (s *Service) ListGroups(ctx context.Context, c *Call, q Query, p resource.Projection) (*Result, error) {
	groups, total, err := s.store.ListGroups(ctx, q)
	if err != nil {
		return nil, err
	}
	var members map[string][]resource.Member
	if len(groups) > 0 && p.Returns(s.group, "members") {
		ids := make([]string, len(groups))
		for i, g := range groups {
			ids[i] = g.ID
		}
		if members, err = s.store.Members(ctx, ids); err != nil {
			return nil, err
		}
	}
	resources := make([]map[string]any, len(groups))
	for i, g := range groups {
		var m []resource.Member
		if members != nil {
			m = members[g.ID]
		}
		out := s.group.Render(g.Doc, g.Meta, c.Base, m)
		p.Apply(s.group, out)
		resources[i] = out
	}
	if len(groups) == 1 {
		c.describeGroup(groups[0].ID, groups[0].Doc)
	}
	b, _ := json.Marshal(resource.ListResponse(total, q.Start, resources))
	return &Result{Status: 200, Body: b}, nil
}

// ReplaceGroup handles PUT /Groups/{id}; like every attribute, members are
// replaced by those in the body (none if absent).
func (s *Service) ReplaceGroup(ctx context.Context, c *Call, id string, body []byte) (*Result, error) {
	doc, ignored, ids, err := s.readGroup(body)
	if err != nil {
		return nil, err
	}
	var res *Result
	err = s.inTx(ctx, c, func(tx Tx) error {
		g, err := tx.LockGroup(ctx, id)
		if err != nil {
			return err
		}
		g.Doc, g.LastModified, g.Version = doc, s.now(), g.Version+1
		if err := tx.UpdateGroup(ctx, g); err != nil {
			return err
		}
		added, removed, err := tx.ApplyMembers(ctx, g.ID, []resource.MemberOp{{Kind: resource.MembersReplace, IDs: ids}})
		if err != nil {
			return err
		}
		// The name may have changed, which the policy can match on: every
		// member is re-evaluated, and those who left.
		members, err := tx.GroupMemberIDs(ctx, g.ID)
		if err != nil {
			return err
		}
		if err := s.membershipChanged(ctx, tx, g.ID, added, removed, append(members, removed...)); err != nil {
			return err
		}
		c.describeGroup(g.ID, doc)
		out := s.renderGroup(c, g, nil, resource.Projection{Excluded: []string{"members"}})
		res = s.groupResult(c, 200, g, out)
		return s.commit(ctx, tx, c, 200, out, "replaced group "+c.Entry.DisplayName+dropped(ignored))
	})
	return res, s.writeErr(err, "Group", id, "displayName")
}

// PatchGroup handles PATCH /Groups/{id}. Membership changes touch only the
// rows that change; the group row is locked so concurrent PATCHes of one
// group serialise and no add is lost. It answers 204, as Entra prefers.
func (s *Service) PatchGroup(ctx context.Context, c *Call, id string, body []byte) (*Result, error) {
	err := s.inTx(ctx, c, func(tx Tx) error {
		g, err := tx.LockGroup(ctx, id)
		if err != nil {
			return err
		}
		pr, err := s.group.Patch(g.Doc, body)
		if err != nil {
			return err
		}
		added, removed, err := tx.ApplyMembers(ctx, g.ID, pr.Members)
		if err != nil {
			return err
		}
		if pr.Changed {
			if err := requireString(pr.Doc, "displayName"); err != nil {
				return err
			}
			g.Doc = pr.Doc
		}
		if pr.Changed || len(added)+len(removed) > 0 {
			g.LastModified, g.Version = s.now(), g.Version+1
			if err := tx.UpdateGroup(ctx, g); err != nil {
				return err
			}
		}
		// Only the users whose membership changed are re-evaluated, unless
		// the group's name or externalId changed, which the policy may match.
		affected := append(append([]string{}, added...), removed...)
		if pr.Changed {
			members, err := tx.GroupMemberIDs(ctx, g.ID)
			if err != nil {
				return err
			}
			affected = append(members, removed...)
		}
		if err := s.membershipChanged(ctx, tx, g.ID, added, removed, affected); err != nil {
			return err
		}
		c.describeGroup(g.ID, g.Doc)
		summary := "patched group " + c.Entry.DisplayName + ": " + strings.Join(pr.Summary, ", ")
		if len(pr.Members) > 0 {
			summary += " (" + itoa(len(added)) + " added, " + itoa(len(removed)) + " removed)"
		}
		return s.commit(ctx, tx, c, 204, nil, summary+dropped(pr.Dropped))
	})
	if err := s.writeErr(err, "Group", id, "displayName"); err != nil {
		return nil, err
	}
	return &Result{Status: 204}, nil
}

// DeleteGroup handles DELETE /Groups/{id}; member users are untouched.
func (s *Service) DeleteGroup(ctx context.Context, c *Call, id string) (*Result, error) {
	err := s.inTx(ctx, c, func(tx Tx) error {
		g, err := tx.LockGroup(ctx, id)
		if err != nil {
			return err
		}
		c.describeGroup(g.ID, g.Doc)
		members, err := tx.GroupMemberIDs(ctx, g.ID)
		if err != nil {
			return err
		}
		if err := tx.DeleteGroup(ctx, id); err != nil {
			return err
		}
		if err := tx.RecordChanges(ctx, []Change{{Kind: "group_deleted", GroupID: id}}); err != nil {
			return err
		}
		if err := s.recompute(ctx, tx, members); err != nil {
			return err
		}
		return s.commit(ctx, tx, c, 204, nil, "deleted group "+c.Entry.DisplayName)
	})
	if err := s.writeErr(err, "Group", id, "displayName"); err != nil {
		return nil, err
	}
	return &Result{Status: 204}, nil
}

// membershipChanged records membership changes in the feed and
// re-evaluates the affected users, all in the change's transaction.
func (s *Service) membershipChanged(ctx context.Context, tx Tx, groupID string, added, removed, affected []string) error {
	changes := append(memberChanges("member_added", groupID, added), memberChanges("member_removed", groupID, removed)...)
	if err := tx.RecordChanges(ctx, changes); err != nil {
		return err
	}
	return s.recompute(ctx, tx, affected)
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
