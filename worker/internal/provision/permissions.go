package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/scimplane/scimplane/worker/internal/resource"
)

// GroupRef is a group as the permission policy sees it.
type GroupRef struct {
	ID          string `json:"id"`
	ExternalID  string `json:"externalId,omitempty"`
	DisplayName string `json:"displayName"`
}

// Grant records that a rule gave a permission through a set and a group.
type Grant struct {
	Permission string `json:"permission"`
	Set        string `json:"set"`
	Group      string `json:"group"`
	Rule       string `json:"rule"`
}

// Permissions is a user's effective permissions. Error is set when the
// policy failed for the user; such a user is granted nothing.
type Permissions struct {
	Permissions []string `json:"permissions"`
	Sets        []string `json:"sets"`
	Grants      []Grant  `json:"grants"`
	Error       string   `json:"error,omitempty"`
}

// Empty reports whether p grants nothing and records no error.
func (p Permissions) Empty() bool {
	return len(p.Permissions) == 0 && len(p.Sets) == 0 && p.Error == ""
}

// Decider evaluates the permission policy for one user.
type Decider interface {
	Decide(ctx context.Context, user map[string]any, groups []GroupRef) (Permissions, error)
}

// Policy is the version in force and its prepared decider.
type Policy struct {
	Version int64
	Decider Decider
	// Reads lists what the policy reads of its input.user, as key paths
	// (["active"], ["urn:...:User", "department"]); nil means it may read
	// anything. A user whose groups and read attributes did not change
	// keeps its decision without an evaluation, and users that agree on
	// both share one.
	Reads [][]string
}

// readsChanged reports whether the policy's view of a user differs
// between two inputs.
func (p *Policy) readsChanged(before, after map[string]any) bool {
	if p.Reads == nil {
		return !reflect.DeepEqual(before, after)
	}
	for _, path := range p.Reads {
		if !reflect.DeepEqual(lookup(before, path), lookup(after, path)) {
			return true
		}
	}
	return false
}

func lookup(v any, path []string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// memoKey identifies what a decision depends on, for policies that say
// what they read: the read attributes and the groups.
func (p *Policy) memoKey(sub *Subject) (string, bool) {
	if p.Reads == nil {
		return "", false
	}
	values := make([]any, len(p.Reads))
	for i, path := range p.Reads {
		values[i] = lookup(sub.User, path)
	}
	groups := slices.Clone(sub.Groups)
	slices.SortFunc(groups, func(a, b GroupRef) int { return strings.Compare(a.ID, b.ID) })
	b, err := json.Marshal(struct {
		V []any
		G []GroupRef
	}{values, groups})
	return string(b), err == nil
}

// Subject is a user with what the policy needs and what is stored now.
type Subject struct {
	UserID  string
	User    map[string]any
	Groups  []GroupRef
	Current Permissions
	// Version is the policy version Current was computed under, -1 when
	// the user has no stored row.
	Version int64
}

// UserPermissions is a row of the effective permissions table.
type UserPermissions struct {
	UserID string
	Permissions
}

// Change is one entry of the change feed.
type Change struct {
	Kind    string // one of the Change* kinds
	UserID  string
	GroupID string
	Detail  any
}

// PolicyInput builds the policy's view of a stored user: the SCIM
// attributes plus id, with active defaulting to true as the worker returns it.
func PolicyInput(id string, doc resource.Doc) map[string]any {
	u := make(map[string]any, len(doc)+2)
	for k, v := range doc {
		u[k] = v
	}
	u["id"] = id
	if _, ok := u["active"]; !ok {
		u["active"] = true
	}
	return u
}

// SetPolicy makes p the policy for every later decision.
func (s *Service) SetPolicy(p *Policy) { s.policy.Store(p) }

// Policy returns the policy in force (nil before the first SetPolicy).
func (s *Service) Policy() *Policy { return s.policy.Load() }

// Evaluate decides one subject under p; a policy error grants nothing and
// is recorded in Error. A decision that could not be taken now (timeout,
// cancellation) is no decision: Evaluate returns an error wrapping
// ErrDecisionUnavailable, and the caller keeps what is stored.
func Evaluate(ctx context.Context, p *Policy, sub *Subject) (Permissions, error) {
	perms, err := p.Decider.Decide(ctx, sub.User, sub.Groups)
	switch {
	case errors.Is(err, ErrDecisionUnavailable):
		return Permissions{}, fmt.Errorf("decide permissions of user %s: %w", sub.UserID, err)
	case err != nil:
		return Permissions{Permissions: []string{}, Sets: []string{}, Grants: []Grant{}, Error: err.Error()}, nil
	}
	return perms, nil
}

// apply evaluates subjects under the policy in force and stores the rows
// that differ from what is stored (a row for every user evaluated, so that
// its policy version tells whether it is current).
func (s *Service) apply(ctx context.Context, tx Tx, subjects []*Subject) error {
	p := s.policy.Load()
	if p == nil {
		return nil
	}
	var rows []UserPermissions
	var changes []Change
	var memo map[string]Permissions
	if len(subjects) > 1 && p.Reads != nil {
		memo = make(map[string]Permissions)
	}
	for _, sub := range subjects {
		var next Permissions
		key, ok := "", false
		if memo != nil {
			key, ok = p.memoKey(sub)
		}
		if prev, hit := memo[key]; ok && hit {
			next = prev
		} else {
			var err error
			if next, err = Evaluate(ctx, p, sub); err != nil {
				// The write fails (503, retried by Entra); what is
				// stored stays.
				return err
			}
			if ok {
				memo[key] = next
			}
		}
		if next.Error != "" {
			s.log.WarnContext(ctx, "permission policy failed for user", "user_id", sub.UserID, "policy_version", p.Version, "err", next.Error)
		}
		if sub.Version == p.Version && samePermissions(sub.Current, next) {
			continue
		}
		rows = append(rows, UserPermissions{UserID: sub.UserID, Permissions: next})
		gained, lost := Diff(sub.Current.Permissions, next.Permissions)
		if len(gained) > 0 || len(lost) > 0 {
			changes = append(changes, Change{Kind: ChangePermissionsChanged, UserID: sub.UserID, Detail: PermissionsDetail{
				Permissions: orEmpty(next.Permissions), Before: orEmpty(sub.Current.Permissions),
				Sets: orEmpty(next.Sets), SetsBefore: orEmpty(sub.Current.Sets),
				Gained: gained, Lost: lost, PolicyVersion: p.Version,
			}})
		}
	}
	if err := tx.SavePermissions(ctx, p.Version, rows); err != nil {
		return err
	}
	return tx.RecordChanges(ctx, changes)
}

func samePermissions(a, b Permissions) bool {
	return slices.Equal(a.Permissions, b.Permissions) && slices.Equal(a.Sets, b.Sets) && a.Error == b.Error &&
		slices.Equal(a.Grants, b.Grants)
}

// Diff returns what next has that prev lacks, and the reverse.
func Diff(prev, next []string) (gained, lost []string) {
	gained, lost = []string{}, []string{}
	for _, p := range next {
		if !slices.Contains(prev, p) {
			gained = append(gained, p)
		}
	}
	for _, p := range prev {
		if !slices.Contains(next, p) {
			lost = append(lost, p)
		}
	}
	return gained, lost
}

// RecomputeBatch is how many users one bulk transaction re-evaluates.
const RecomputeBatch = 1000

// RecomputeAll re-evaluates every user under the policy in force, in
// batches of RecomputeBatch users, each batch its own transaction. progress
// is called after each batch with the users done so far.
func (s *Service) RecomputeAll(ctx context.Context, progress func(done int)) (int, error) {
	var after int64
	done := 0
	for {
		var n int
		err := s.store.InTx(ctx, func(tx Tx) error {
			subs, last, err := tx.SubjectsAfter(ctx, after, RecomputeBatch)
			if err != nil {
				return err
			}
			n, after = len(subs), last
			return s.apply(ctx, tx, subs)
		})
		if err != nil {
			return done, err
		}
		if n == 0 {
			return done, nil
		}
		done += n
		if progress != nil {
			progress(done)
		}
	}
}

// membersChanged records membership changes of group in the feed and
// re-evaluates each user concerned once, with its groups after all the
// changes.
func (s *Service) membersChanged(ctx context.Context, tx Tx, group GroupRef, changes []MemberChange) error {
	if len(changes) == 0 {
		return nil
	}
	feed := make([]Change, len(changes))
	byUser := make(map[string]*Subject, len(changes))
	var subjects []*Subject
	for i, ch := range changes {
		kind := ChangeMemberRemoved
		if ch.Added {
			kind = ChangeMemberAdded
		}
		feed[i] = Change{Kind: kind, UserID: ch.Subject.UserID, GroupID: group.ID}
		sub := byUser[ch.Subject.UserID]
		if sub == nil {
			sub = ch.Subject
			byUser[sub.UserID] = sub
			subjects = append(subjects, sub)
		}
		// The statement that changed the link did not see its own change.
		sub.Groups = slices.DeleteFunc(sub.Groups, func(g GroupRef) bool { return g.ID == group.ID })
		if ch.Added {
			sub.Groups = append(sub.Groups, group)
		}
	}
	if err := tx.RecordChanges(ctx, feed); err != nil {
		return err
	}
	return s.apply(ctx, tx, subjects)
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
