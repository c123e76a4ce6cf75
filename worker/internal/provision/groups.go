package provision

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/scimplane/scimplane/worker/internal/resource"
)

// renderGroup renders g under the call's projection; members is nil when
// they are not returned.
func (s *Service) renderGroup(c *Call, g *GroupRecord, members []resource.Member) []byte {
	out := s.GroupKind().Render(g.Doc, g.Meta, c.Base, members)
	c.Projection.Apply(s.GroupKind(), out)
	b, _ := json.Marshal(out)
	return b
}

// wantsMembers reports whether the call's answer includes the members.
func (s *Service) wantsMembers(c *Call) bool { return c.Projection.Returns(s.GroupKind(), "members") }

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
	doc, ignored, err := s.GroupKind().Read(body)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := requireString(doc, "displayName"); err != nil {
		return nil, nil, nil, err
	}
	return doc, ignored, takeMembers(doc), nil
}

// ref is a group as the permission policy sees it.
func (g *GroupRecord) ref() GroupRef {
	name, _ := g.Doc["displayName"].(string)
	ext, _ := g.Doc["externalId"].(string)
	return GroupRef{ID: g.ID, ExternalID: ext, DisplayName: name}
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
	want := s.wantsMembers(c)
	var out []byte
	err = s.inTx(ctx, c, func(tx Tx) error {
		if err := tx.InsertGroup(ctx, g); err != nil {
			return err
		}
		if err := tx.RecordChanges(ctx, []Change{{Kind: ChangeGroupCreated, GroupID: g.ID, Detail: groupDetail(doc)}}); err != nil {
			return err
		}
		var changes []MemberChange
		var members []resource.Member
		if len(ids) > 0 {
			var err error
			// The members answered are read in the round trip that adds them.
			if changes, members, err = tx.ChangeMembers(ctx, g.ID, []resource.MemberOp{{Kind: resource.MembersAdd, IDs: ids}}, want); err != nil {
				return err
			}
			if err := s.membersChanged(ctx, tx, g.ref(), changes); err != nil {
				return err
			}
		}
		if want && members == nil {
			members = []resource.Member{}
		}
		out = s.renderGroup(c, g, members)
		summary := "created group " + c.Log.DisplayName
		if len(changes) > 0 {
			summary += " with " + itoa(len(changes)) + " members"
		}
		return s.commit(ctx, tx, c, 201, out, summary+dropped(ignored))
	})
	if err := s.writeErr(err, "Group", g.ID, "displayName"); err != nil {
		return nil, err
	}
	return s.groupResult(c, 201, g, out), nil
}

// GetGroup handles GET /Groups/{id}; members are loaded only if returned,
// and not for a 304.
func (s *Service) GetGroup(ctx context.Context, c *Call, id string) (*Result, error) {
	g, err := s.store.GetGroup(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, notFound("Group", id)
	}
	if err != nil {
		return nil, err
	}
	c.describeGroup(g.ID, g.Doc)
	if err := c.Pre.check(g.Version, true); errors.Is(err, errNotModified) {
		return notModified(g.ETag()), nil
	} else if err != nil {
		return nil, err
	}
	var members []resource.Member
	if s.wantsMembers(c) {
		m, err := s.store.Members(ctx, []string{g.ID})
		if err != nil {
			return nil, err
		}
		members = m[g.ID]
	}
	return s.groupResult(c, 200, g, s.renderGroup(c, g, members)), nil
}

// ListGroups handles GET /Groups and POST /Groups/.search.
func (s *Service) ListGroups(ctx context.Context, c *Call, q Query) (*Result, error) {
	groups, total, err := s.store.ListGroups(ctx, q)
	if err != nil {
		return nil, err
	}
	var members map[string][]resource.Member
	if len(groups) > 0 && s.wantsMembers(c) {
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
		out := s.GroupKind().Render(g.Doc, g.Meta, c.Base, m)
		c.Projection.Apply(s.GroupKind(), out)
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
	want := s.wantsMembers(c)
	var res *Result
	err = s.inTx(ctx, c, func(tx Tx) error {
		g, err := tx.LockGroup(ctx, id)
		if err != nil {
			return err
		}
		c.describeGroup(g.ID, g.Doc)
		if err := c.Pre.check(g.Version, false); err != nil {
			return err
		}
		g.Doc, g.LastModified, g.Version = doc, s.now(), g.Version+1
		if err := tx.UpdateGroup(ctx, g); err != nil {
			return err
		}
		if err := tx.RecordChanges(ctx, []Change{{Kind: ChangeGroupUpdated, GroupID: g.ID, Detail: groupDetail(doc)}}); err != nil {
			return err
		}
		changes, members, err := tx.ChangeMembers(ctx, g.ID, []resource.MemberOp{{Kind: resource.MembersReplace, IDs: ids}}, want)
		if err != nil {
			return err
		}
		// The name may have changed, which the policy can match on.
		if err := s.groupRenamed(ctx, tx, g, changes); err != nil {
			return err
		}
		c.describeGroup(g.ID, doc)
		out := s.renderGroup(c, g, members)
		res = s.groupResult(c, 200, g, out)
		return s.commit(ctx, tx, c, 200, out, "replaced group "+c.Log.DisplayName+dropped(ignored))
	})
	return res, s.writeErr(err, "Group", id, "displayName")
}

// groupRenamed records membership changes and re-evaluates every member of
// g, and those who left it: its name or externalId, which a policy may
// match on, changed.
func (s *Service) groupRenamed(ctx context.Context, tx Tx, g *GroupRecord, changes []MemberChange) error {
	feed := make([]Change, len(changes))
	var left []*Subject
	for i, ch := range changes {
		kind := ChangeMemberRemoved
		if ch.Added {
			kind = ChangeMemberAdded
		}
		feed[i] = Change{Kind: kind, UserID: ch.Subject.UserID, GroupID: g.ID}
		if !ch.Added {
			left = append(left, ch.Subject)
		}
	}
	if err := tx.RecordChanges(ctx, feed); err != nil {
		return err
	}
	// Read after the group's update and membership changes: current groups.
	members, err := tx.GroupSubjects(ctx, g.ID)
	if err != nil {
		return err
	}
	in := make(map[string]bool, len(members))
	for _, m := range members {
		in[m.UserID] = true
	}
	for _, sub := range left {
		if !in[sub.UserID] {
			sub.Groups = slices.DeleteFunc(sub.Groups, func(r GroupRef) bool { return r.ID == g.ID })
			members = append(members, sub)
		}
	}
	return s.apply(ctx, tx, members)
}

// PatchGroup handles PATCH /Groups/{id}. Membership changes touch only the
// rows that change; the group row is locked so concurrent PATCHes of one
// group serialise and no add is lost. It answers 204, as Entra prefers,
// unless the request names attributes to return: then 200 with the group
// (RFC 7644 section 3.5.2 requires it).
func (s *Service) PatchGroup(ctx context.Context, c *Call, id string, body []byte) (*Result, error) {
	// Entra's group PATCHes mostly only add or remove members: those need
	// no document, so the lock and the membership changes go together.
	if pr, err := s.GroupKind().Patch(resource.Doc{}, body); err == nil && !pr.Changed && len(pr.Members) > 0 {
		return s.patchMembers(ctx, c, id, pr)
	}
	withBody := len(c.Projection.Attributes) > 0
	want := withBody && s.wantsMembers(c)
	var res *Result
	err := s.inTx(ctx, c, func(tx Tx) error {
		g, err := tx.LockGroup(ctx, id)
		if err != nil {
			return err
		}
		c.describeGroup(g.ID, g.Doc)
		if err := c.Pre.check(g.Version, false); err != nil {
			return err
		}
		pr, err := s.GroupKind().Patch(g.Doc, body)
		if err != nil {
			return err
		}
		if pr.Changed {
			if err := requireString(pr.Doc, "displayName"); err != nil {
				return err
			}
			g.Doc = pr.Doc
		}
		var changes []MemberChange
		var members []resource.Member
		if len(pr.Members) > 0 {
			if changes, members, err = tx.ChangeMembers(ctx, g.ID, pr.Members, want); err != nil {
				return err
			}
		} else if want {
			// Only a client asking for members back pays this round trip.
			if members, err = tx.Members(ctx, g.ID); err != nil {
				return err
			}
		}
		if pr.Changed || len(changes) > 0 {
			g.LastModified, g.Version = s.now(), g.Version+1
			if err := tx.UpdateGroup(ctx, g); err != nil {
				return err
			}
		}
		if pr.Changed {
			if err := tx.RecordChanges(ctx, []Change{{Kind: ChangeGroupUpdated, GroupID: g.ID, Detail: groupDetail(g.Doc)}}); err != nil {
				return err
			}
		}
		if pr.Changed {
			err = s.groupRenamed(ctx, tx, g, changes)
		} else {
			err = s.membersChanged(ctx, tx, g.ref(), changes)
		}
		if err != nil {
			return err
		}
		res, err = s.commitGroupPatch(ctx, tx, c, g, pr, changes, withBody, members)
		return err
	})
	return res, s.writeErr(err, "Group", id, "displayName")
}

// patchMembers applies a PATCH that only changes members in two round
// trips: lock and membership changes, then the rest and COMMIT. The
// preconditions are checked against the locked row once it is read; the
// changes sent with the lock are rolled back if they fail.
func (s *Service) patchMembers(ctx context.Context, c *Call, id string, pr *resource.PatchResult) (*Result, error) {
	withBody := len(c.Projection.Attributes) > 0
	var res *Result
	err := s.inTx(ctx, c, func(tx Tx) error {
		g, changes, members, err := tx.LockGroupAndChangeMembers(ctx, id, pr.Members, withBody && s.wantsMembers(c))
		if err != nil {
			return err
		}
		c.describeGroup(g.ID, g.Doc)
		if err := c.Pre.check(g.Version, false); err != nil {
			return err
		}
		if len(changes) > 0 {
			g.LastModified, g.Version = s.now(), g.Version+1
			if err := tx.UpdateGroup(ctx, g); err != nil {
				return err
			}
		}
		if err := s.membersChanged(ctx, tx, g.ref(), changes); err != nil {
			return err
		}
		res, err = s.commitGroupPatch(ctx, tx, c, g, pr, changes, withBody, members)
		return err
	})
	return res, s.writeErr(err, "Group", id, "displayName")
}

// commitGroupPatch logs a group PATCH and returns its answer: 204 with the
// new entity tag, or 200 with the group if withBody.
func (s *Service) commitGroupPatch(ctx context.Context, tx Tx, c *Call, g *GroupRecord, pr *resource.PatchResult, changes []MemberChange, withBody bool, members []resource.Member) (*Result, error) {
	c.describeGroup(g.ID, g.Doc)
	summary := "patched group " + c.Log.DisplayName + ": " + strings.Join(pr.Summary, ", ")
	if len(pr.Members) > 0 {
		added := 0
		for _, ch := range changes {
			if ch.Added {
				added++
			}
		}
		summary += " (" + itoa(added) + " added, " + itoa(len(changes)-added) + " removed)"
	}
	res := &Result{Status: 204, ETag: g.ETag()}
	if withBody {
		res = s.groupResult(c, 200, g, s.renderGroup(c, g, members))
	}
	return res, s.commit(ctx, tx, c, res.Status, res.Body, summary+dropped(pr.Dropped))
}

// DeleteGroup handles DELETE /Groups/{id}; member users are untouched.
func (s *Service) DeleteGroup(ctx context.Context, c *Call, id string) (*Result, error) {
	err := s.inTx(ctx, c, func(tx Tx) error {
		g, err := tx.LockGroup(ctx, id)
		if err != nil {
			return err
		}
		c.describeGroup(g.ID, g.Doc)
		if err := c.Pre.check(g.Version, false); err != nil {
			return err
		}
		members, err := tx.GroupSubjects(ctx, g.ID)
		if err != nil {
			return err
		}
		if err := tx.DeleteGroup(ctx, id); err != nil {
			return err
		}
		if err := tx.RecordChanges(ctx, []Change{{Kind: ChangeGroupDeleted, GroupID: id}}); err != nil {
			return err
		}
		for _, m := range members {
			m.Groups = slices.DeleteFunc(m.Groups, func(r GroupRef) bool { return r.ID == g.ID })
		}
		if err := s.apply(ctx, tx, members); err != nil {
			return err
		}
		return s.commit(ctx, tx, c, 204, nil, "deleted group "+c.Log.DisplayName)
	})
	if err := s.writeErr(err, "Group", id, "displayName"); err != nil {
		return nil, err
	}
	return &Result{Status: 204}, nil
}

func itoa(n int) string {
	return strconv.Itoa(n)
}
