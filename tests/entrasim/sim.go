// Package entrasim plays Microsoft Entra ID's provisioning service against a
// SCIM Tenant URL and Secret Token: it generates a directory, runs an initial
// cycle and incremental cycles in Entra's order and request shapes (both
// PATCH dialects), and reads the end state back to verify it. The request
// shapes follow docs/entra.md (B3-B26, B33, B34).
package entrasim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
)

// memberBatch is how many members one PATCH adds or removes.
const memberBatch = 25

// Sim provisions one Directory to one tenant.
type Sim struct {
	Client      *Client
	Dir         *Directory
	Dialect     Dialect // may change between cycles, as a Tenant URL edit does
	Concurrency int

	userIDs     []string   // our SCIM id per user index, "" until provisioned
	sent        []UserView // the state last pushed per user
	groupIDs    []string
	sentNames   []string
	sentMembers [][]int // member user indices last pushed per group
	removed     [][]int // members removed by the last incremental cycle
	// deleted users and groups whose DELETE succeeded: Entra does not
	// send it again in later cycles.
	userGone, groupGone []bool
}

// New returns a simulator for dir; nothing is sent until a cycle runs.
func New(c *Client, dir *Directory, d Dialect, concurrency int) *Sim {
	return &Sim{
		Client: c, Dir: dir, Dialect: d, Concurrency: max(1, concurrency),
		userIDs:     make([]string, len(dir.Users)),
		sent:        make([]UserView, len(dir.Users)),
		groupIDs:    make([]string, len(dir.Groups)),
		sentNames:   make([]string, len(dir.Groups)),
		sentMembers: make([][]int, len(dir.Groups)),
		removed:     make([][]int, len(dir.Groups)),
		userGone:    make([]bool, len(dir.Users)),
		groupGone:   make([]bool, len(dir.Groups)),
	}
}

// UserID is the SCIM id the service issued for user i ("" if none).
func (s *Sim) UserID(i int) string { return s.userIDs[i] }

// GroupID is the SCIM id the service issued for group j ("" if none).
func (s *Sim) GroupID(j int) string { return s.groupIDs[j] }

func (s *Sim) do(ctx context.Context, r Request) (*Response, error) {
	return s.Client.Do(ctx, r, s.Dialect == Flag)
}

// list sends a query and returns its Resources, checking the ListResponse
// shape.
func (s *Sim) list(ctx context.Context, r Request) ([]map[string]any, error) {
	resp, err := s.do(ctx, r)
	if err != nil {
		return nil, err
	}
	return ParseList(resp)
}

// ParseList decodes a ListResponse: its schema, totalResults and Resources
// (present even when empty).
func ParseList(resp *Response) ([]map[string]any, error) {
	m, err := resp.Object()
	if err != nil {
		return nil, err
	}
	if !slices.Contains(stringList(m["schemas"]), URNListResp) {
		return nil, fmt.Errorf("not a ListResponse: %s", truncate(resp.Body))
	}
	raw, ok := m["Resources"].([]any)
	total, tok := m["totalResults"].(float64)
	if !ok || !tok {
		return nil, fmt.Errorf("ListResponse without Resources or totalResults: %s", truncate(resp.Body))
	}
	out := make([]map[string]any, 0, len(raw))
	for _, r := range raw {
		obj, ok := r.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("resource is not an object: %s", truncate(resp.Body))
		}
		out = append(out, obj)
	}
	if int(total) < len(out) {
		return nil, fmt.Errorf("totalResults %v < %d resources", total, len(out))
	}
	return out, nil
}

// each runs fn for 0..n-1 on s.Concurrency goroutines and gathers failures
// (the first ten, and how many more) instead of stopping at the first: a
// real cycle goes on past a failed object.
func (s *Sim) each(ctx context.Context, n int, fn func(i int) error) error {
	var (
		mu     sync.Mutex
		errs   []error
		failed int
		wg     sync.WaitGroup
	)
	next := make(chan int)
	for range s.Concurrency {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					failed++
					if len(errs) < 10 {
						errs = append(errs, err)
					}
					mu.Unlock()
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if failed > len(errs) {
		errs = append(errs, fmt.Errorf("and %d more failures", failed-len(errs)))
	}
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Probe is the start of every cycle and Test Connection: random GUIDs looked
// up on /Users and /Groups must give 200 and no results (B3).
func (s *Sim) Probe(ctx context.Context) error {
	for _, r := range []Request{ProbeUsers(randomGUID()), ProbeGroups(randomGUID())} {
		res, err := s.list(ctx, r)
		if err != nil {
			return fmt.Errorf("test connection: %w", err)
		}
		if len(res) != 0 {
			return fmt.Errorf("test connection: %s %s found %d resources", r.Method, r.Path, len(res))
		}
	}
	return nil
}

func randomGUID() string {
	return guid(rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())))
}

// view is what user i should look like on the service now.
func (s *Sim) view(i int) UserView {
	u := s.Dir.Users[i]
	v := UserView{
		UserName: u.UPN, DisplayName: u.DisplayName, GivenName: u.GivenName, FamilyName: u.Surname,
		Title: u.Title, Mail: u.Mail, WorkPhone: u.WorkPhone, Department: u.Department,
		EmployeeNumber: u.EmployeeNumber, Active: u.Enabled,
	}
	if u.Manager >= 0 {
		v.ManagerID = s.userIDs[u.Manager]
	}
	return v
}

// Initial runs an initial cycle: the probe; every user looked up by userName
// and created (or adopted when found); then, with every id known, the
// manager references and any differences PATCHed; then every group looked up
// and created, and its members added in batches (B34).
func (s *Sim) Initial(ctx context.Context) error {
	if err := s.Probe(ctx); err != nil {
		return err
	}
	if err := s.each(ctx, len(s.Dir.Users), func(i int) error { return s.provisionUser(ctx, i) }); err != nil {
		return fmt.Errorf("create users: %w", err)
	}
	if err := s.each(ctx, len(s.Dir.Users), func(i int) error { return s.reconcileUser(ctx, i, true) }); err != nil {
		return fmt.Errorf("update users: %w", err)
	}
	if err := s.each(ctx, len(s.Dir.Groups), func(j int) error { return s.provisionGroup(ctx, j) }); err != nil {
		return fmt.Errorf("groups: %w", err)
	}
	return nil
}

func (s *Sim) provisionUser(ctx context.Context, i int) error {
	u := s.Dir.Users[i]
	if u.Deleted || s.userIDs[i] != "" {
		return nil
	}
	found, err := s.lookupUser(ctx, u.UPN)
	if err != nil || found != nil {
		return s.adoptUser(i, found, err)
	}
	resp, err := s.do(ctx, CreateUser(u, s.Dialect))
	var se *StatusError
	if errors.As(err, &se) && se.Status == 409 {
		// A create that committed before its retry: the lookup finds it.
		found, err = s.lookupUser(ctx, u.UPN)
		return s.adoptUser(i, found, err)
	}
	if err != nil {
		return err
	}
	obj, err := resp.Object()
	if err != nil {
		return err
	}
	id, _ := obj["id"].(string)
	if id == "" {
		return fmt.Errorf("POST /Users %s: 201 without id", u.UPN)
	}
	s.userIDs[i] = id
	s.sent[i] = s.view(i)
	s.sent[i].ManagerID = ""
	return nil
}

// lookupUser returns the one user whose userName matches, or nil.
func (s *Sim) lookupUser(ctx context.Context, upn string) (map[string]any, error) {
	res, err := s.list(ctx, LookupUser(upn))
	if err != nil {
		return nil, err
	}
	switch len(res) {
	case 0:
		return nil, nil
	case 1:
		return res[0], nil
	}
	return nil, fmt.Errorf("lookup %s: %d matches (DuplicateTargetEntries)", upn, len(res))
}

// adoptUser takes the id of a user that the lookup found.
func (s *Sim) adoptUser(i int, found map[string]any, err error) error {
	if err != nil {
		return err
	}
	if found == nil {
		return fmt.Errorf("user %s: create answered 409 but the lookup finds nothing", s.Dir.Users[i].UPN)
	}
	id, v, err := ParseUser(found)
	if err != nil {
		return fmt.Errorf("lookup %s: %w", s.Dir.Users[i].UPN, err)
	}
	s.userIDs[i], s.sent[i] = id, v
	return nil
}

// reconcileUser PATCHes user i with what differs from the state last pushed.
// In the initial cycle a manager about to be set is first checked (B14); in
// incremental cycles the user is read by id first (B34).
func (s *Sim) reconcileUser(ctx context.Context, i int, initial bool) error {
	id, want := s.userIDs[i], s.view(i)
	if id == "" || s.Dir.Users[i].Deleted || want == s.sent[i] {
		return nil
	}
	have := s.sent[i]
	if initial && have.ManagerID == "" && want.ManagerID != "" {
		res, err := s.list(ctx, ManagerCheck(id, want.ManagerID))
		if err != nil {
			return err
		}
		if len(res) != 0 {
			return fmt.Errorf("manager check for %s: %d results before the manager was set", id, len(res))
		}
	}
	if !initial {
		resp, err := s.do(ctx, GetUser(id))
		if err != nil {
			return err
		}
		obj, err := resp.Object()
		if err != nil {
			return err
		}
		if _, have, err = ParseUser(obj); err != nil {
			return fmt.Errorf("GET /Users/%s: %w", id, err)
		}
	}
	if r, ok := PatchUser(id, have, want, s.Dialect); ok {
		if _, err := s.do(ctx, r); err != nil {
			return err
		}
	}
	s.sent[i] = want
	return nil
}

func (s *Sim) provisionGroup(ctx context.Context, j int) error {
	g := s.Dir.Groups[j]
	if g.Deleted {
		return nil
	}
	if s.groupIDs[j] == "" {
		id, err := s.lookupGroup(ctx, g.DisplayName)
		if err != nil {
			return err
		}
		if id == "" {
			resp, err := s.do(ctx, CreateGroup(g))
			var se *StatusError
			switch {
			case errors.As(err, &se) && se.Status == 409:
				if id, err = s.lookupGroup(ctx, g.DisplayName); err == nil && id == "" {
					err = fmt.Errorf("group %q: create answered 409 but the lookup finds nothing", g.DisplayName)
				}
			case err == nil:
				var obj map[string]any
				if obj, err = resp.Object(); err == nil {
					id, _ = obj["id"].(string)
				}
			}
			if err != nil {
				return err
			}
		}
		s.groupIDs[j], s.sentNames[j] = id, g.DisplayName
	}
	if err := s.patchMembers(ctx, s.groupIDs[j], s.memberIDs(g.Members), AddMembers); err != nil {
		return err
	}
	s.sentMembers[j] = slices.Clone(g.Members)
	return nil
}

// lookupGroup returns the id of the group with that displayName, or "".
func (s *Sim) lookupGroup(ctx context.Context, name string) (string, error) {
	res, err := s.list(ctx, LookupGroup(name))
	if err != nil {
		return "", err
	}
	switch len(res) {
	case 0:
		return "", nil
	case 1:
		if _, ok := res[0]["members"]; ok {
			return "", fmt.Errorf("lookup group %q: members returned despite excludedAttributes=members", name)
		}
		id, _ := res[0]["id"].(string)
		return id, nil
	}
	return "", fmt.Errorf("lookup group %q: %d matches (DuplicateTargetEntries)", name, len(res))
}

func (s *Sim) memberIDs(members []int) []string {
	ids := make([]string, 0, len(members))
	for _, m := range members {
		if id := s.userIDs[m]; id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

func (s *Sim) patchMembers(ctx context.Context, groupID string, ids []string, build func(string, []string, Dialect) Request) error {
	for batch := range slices.Chunk(ids, memberBatch) {
		if _, err := s.do(ctx, build(groupID, batch, s.Dialect)); err != nil {
			return err
		}
	}
	return nil
}

// Incremental runs an incremental cycle after Dir.Evolve: the probe; users
// whose source changed read by id and PATCHed, purged users deleted; groups
// renamed, their membership changes read, checked and PATCHed, deleted
// groups deleted.
func (s *Sim) Incremental(ctx context.Context) error {
	if err := s.Probe(ctx); err != nil {
		return err
	}
	if err := s.each(ctx, len(s.Dir.Users), func(i int) error {
		if s.Dir.Users[i].Deleted && s.userIDs[i] != "" {
			if s.userGone[i] {
				return nil
			}
			_, err := s.do(ctx, DeleteUser(s.userIDs[i]))
			s.userGone[i] = err == nil
			return err
		}
		return s.reconcileUser(ctx, i, false)
	}); err != nil {
		return fmt.Errorf("users: %w", err)
	}
	if err := s.each(ctx, len(s.Dir.Groups), func(j int) error { return s.updateGroup(ctx, j) }); err != nil {
		return fmt.Errorf("groups: %w", err)
	}
	return nil
}

func (s *Sim) updateGroup(ctx context.Context, j int) error {
	g, id := s.Dir.Groups[j], s.groupIDs[j]
	if id == "" {
		return nil
	}
	if g.Deleted {
		if s.groupGone[j] {
			return nil
		}
		_, err := s.do(ctx, DeleteGroup(id))
		s.groupGone[j] = err == nil
		return err
	}
	var added, removed []int
	for _, m := range g.Members {
		if !slices.Contains(s.sentMembers[j], m) {
			added = append(added, m)
		}
	}
	for _, m := range s.sentMembers[j] {
		if !slices.Contains(g.Members, m) && !s.Dir.Users[m].Deleted {
			removed = append(removed, m)
		}
	}
	if g.DisplayName == s.sentNames[j] && len(added) == 0 && len(removed) == 0 {
		return nil
	}
	if _, err := s.do(ctx, GetGroup(id)); err != nil {
		return err
	}
	if g.DisplayName != s.sentNames[j] {
		if _, err := s.do(ctx, RenameGroup(id, g.DisplayName, s.Dialect)); err != nil {
			return err
		}
		s.sentNames[j] = g.DisplayName
	}
	for _, m := range removed {
		res, err := s.list(ctx, MemberCheck(id, s.userIDs[m]))
		if err != nil {
			return err
		}
		if len(res) != 1 {
			return fmt.Errorf("member check group %s user %s: %d results before removal, want 1", id, s.userIDs[m], len(res))
		}
	}
	if err := s.patchMembers(ctx, id, s.memberIDs(added), AddMembers); err != nil {
		return err
	}
	if err := s.patchMembers(ctx, id, s.memberIDs(removed), RemoveMembers); err != nil {
		return err
	}
	s.sentMembers[j] = slices.Clone(g.Members)
	s.removed[j] = removed
	return nil
}
