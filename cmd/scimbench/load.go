package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/scimplane/scimplane/tests/entrasim"
)

// errWindowClosed stops a closed-loop client: the measurement window ended
// before its next request.
var errWindowClosed = errors.New("measurement window closed")

// newHTTPClient is the one keep-alive client every request goes through,
// with an idle connection kept for each request that can be in flight.
// Entra gives up on a request after 60 seconds.
func newHTTPClient(maxInFlight int) *http.Client {
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		MaxIdleConns:        maxInFlight + 64,
		MaxIdleConnsPerHost: maxInFlight + 64,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}}
}

// tenant is one created tenant and the directory shares its clients own.
type tenant struct {
	index   int
	info    tenantInfo
	auth    string // "Bearer <token>"
	dialect entrasim.Dialect
	shares  []*share
}

func newTenant(index int, info tenantInfo) *tenant {
	// Both PATCH dialects, alternating; the flag dialect is a Tenant URL
	// with ?aadOptscim062020, as Entra is configured.
	d := entrasim.Legacy
	if index%2 == 1 {
		d = entrasim.Flag
	}
	return &tenant{index: index, info: info, auth: "Bearer " + info.Token, dialect: d}
}

// url is the full URL of a request under the Tenant URL.
func (t *tenant) url(r entrasim.Request) string {
	var b strings.Builder
	b.WriteString(strings.TrimSuffix(t.info.SCIMURL, "/"))
	b.WriteString(r.Path)
	sep := byte('?')
	if t.dialect == entrasim.Flag {
		b.WriteByte(sep)
		b.WriteString(entrasim.FlagParam)
		sep = '&'
	}
	if len(r.Query) > 0 {
		b.WriteByte(sep)
		b.WriteString(r.Query.Encode())
	}
	return b.String()
}

// share is the part of a tenant's directory one client owns: disjoint
// users (their own userName domain) and groups (a name prefix), with what
// was last written to the service, for verification.
type share struct {
	mu     sync.Mutex
	t      *tenant
	index  int
	users  []*userState
	groups []*groupState
	rng    *rand.Rand
	// Open loop: the next user and group to create.
	nextUser, nextGroup int
}

type userState struct {
	src     *entrasim.User
	id      string            // "" until created
	sent    entrasim.UserView // what the service holds, as last written
	manager int               // the source manager (share index), -1 for none
	busy    bool              // open loop: a request for it is in flight
	// uncertain: a write failed in a way that may have applied it (5xx,
	// transport error), so its state is unknown and not verified.
	uncertain bool
	// createUnknown: a create failed that way and nothing adopted it, so
	// the user may exist.
	createUnknown bool
}

type groupState struct {
	src           *entrasim.Group
	name          string
	id            string
	members       []int // user indices, sorted, as last written
	busy          bool
	uncertain     bool
	createUnknown bool
}

// newShare generates a share of users and groups from seed. Users get a
// domain of their own so userNames never collide between shares; groups a
// prefix, since display names are unique per tenant.
func newShare(t *tenant, index int, seed uint64, users, groups int) *share {
	dir := entrasim.Generate(seed, fmt.Sprintf("c%d.t%d.bench.test", index, t.index), users, groups)
	sh := &share{t: t, index: index, rng: rand.New(rand.NewPCG(seed, 0xbe7c4))}
	for i, u := range dir.Users {
		if i == 0 {
			u.Manager = -1 // Generate makes user 0 its own manager
		}
		sh.users = append(sh.users, &userState{src: u, manager: u.Manager})
	}
	for _, g := range dir.Groups {
		sh.groups = append(sh.groups, &groupState{src: g, name: fmt.Sprintf("c%d %s", index, g.DisplayName)})
	}
	return sh
}

// createdView is what a user looks like right after Entra's POST: the
// manager is set later by PATCH.
func createdView(u *entrasim.User) entrasim.UserView {
	return entrasim.UserView{
		UserName: u.UPN, DisplayName: u.DisplayName, GivenName: u.GivenName, FamilyName: u.Surname,
		Title: u.Title, Mail: u.Mail, WorkPhone: u.WorkPhone, Department: u.Department,
		EmployeeNumber: u.EmployeeNumber, Active: u.Enabled,
	}
}

// outcome of a write, for the expected state.
type outcome uint8

const (
	applied    outcome = iota // 2xx
	notApplied                // 4xx, including 429: refused before any change
	unknown                   // 5xx or no answer: it may have been applied
)

func writeOutcome(status int, ok bool, err error) outcome {
	switch {
	case err == nil && ok:
		return applied
	case err != nil || status >= 500:
		return unknown
	}
	return notApplied
}

// sender sends one goroutine's requests and records them.
type sender struct {
	http     *http.Client
	rec      *recorder // nil: not measured (warm-up, verification)
	deadline time.Time // closed loop: send nothing after it
	buf      bytes.Buffer
}

// send sends r for t. from is when the request was due (open loop: its
// scheduled time; zero: now), so that queueing in the client counts.
// The body is valid until the next send.
func (s *sender) send(ctx context.Context, t *tenant, k kind, r entrasim.Request, from time.Time) (int, []byte, error) {
	if !s.deadline.IsZero() && !time.Now().Before(s.deadline) {
		return 0, nil, errWindowClosed
	}
	var body []byte
	if r.Body != nil {
		var err error
		if body, err = json.Marshal(r.Body); err != nil {
			return 0, nil, fmt.Errorf("encode %s %s: %w", r.Method, r.Path, err)
		}
	}
	if from.IsZero() {
		from = time.Now()
	}
	status, err := s.do(ctx, t, r.Method, t.url(r), body)
	if s.rec != nil {
		s.rec.add(k, time.Since(from), status, err == nil && slices.Contains(r.Want, status), err)
	}
	if err != nil {
		return 0, nil, err
	}
	return status, s.buf.Bytes(), nil
}

func (s *sender) do(ctx context.Context, t *tenant, method, url string, body []byte) (int, error) {
	var rd io.Reader // a nil *bytes.Reader would give every GET a body
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", t.auth)
	req.Header.Set("Accept", "application/scim+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json; charset=utf-8")
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, err
	}
	s.buf.Reset()
	_, err = s.buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

// The steps of Entra's sequence, executed by closed-loop clients and T3.

// probe is the start of a cycle: a userName that cannot exist.
func (s *sender) probe(ctx context.Context, sh *share, from time.Time) error {
	_, _, err := s.send(ctx, sh.t, kProbe, entrasim.ProbeUsers(randomGUID(sh)), from)
	return err
}

// randomGUID is a version 4 GUID from the share's generator.
func randomGUID(sh *share) string {
	sh.mu.Lock()
	a, b := sh.rng.Uint64(), sh.rng.Uint64()
	sh.mu.Unlock()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", a>>32, a>>16&0xffff, a&0xfff, 0x8000|b>>48&0x3fff, b&0xffffffffffff)
}

// provisionUser is Entra's match then create: look the userName up; adopt
// the user if found (an earlier create that failed but committed), else
// POST it.
func (s *sender) provisionUser(ctx context.Context, sh *share, i int) error {
	u := sh.users[i]
	status, body, err := s.send(ctx, sh.t, kLookupUser, entrasim.LookupUser(u.src.UPN), time.Time{})
	if err != nil || status != http.StatusOK {
		return err
	}
	found, err := entrasim.ParseList(&entrasim.Response{Status: status, Body: body})
	if err != nil {
		return nil // counted as a success by status; the object waits for the next cycle
	}
	if len(found) == 1 {
		if id, v, perr := entrasim.ParseUser(found[0]); perr == nil {
			sh.mu.Lock()
			u.id, u.sent, u.uncertain, u.createUnknown = id, v, false, false
			sh.mu.Unlock()
		}
		return nil
	}
	if len(found) > 1 {
		return nil
	}
	status, body, err = s.send(ctx, sh.t, kCreateUser, entrasim.CreateUser(u.src, sh.t.dialect), time.Time{})
	if errors.Is(err, errWindowClosed) {
		return err
	}
	s.applyCreateUser(sh, u, status, body, err)
	return nil
}

func (s *sender) applyCreateUser(sh *share, u *userState, status int, body []byte, err error) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	switch writeOutcome(status, status == http.StatusCreated, err) {
	case applied:
		var created struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(body, &created) == nil && created.ID != "" {
			u.id, u.sent, u.createUnknown = created.ID, createdView(u.src), false
		} else {
			u.createUnknown = true
		}
	case unknown:
		u.createUnknown = true
	}
}

// patchUser sends the PATCH that turns the last written state into want.
// read first GETs the user, as Entra does in incremental cycles.
func (s *sender) patchUser(ctx context.Context, sh *share, i int, want entrasim.UserView, read bool) error {
	u := sh.users[i]
	sh.mu.Lock()
	id, have := u.id, u.sent
	sh.mu.Unlock()
	if id == "" {
		return nil
	}
	if read {
		if _, _, err := s.send(ctx, sh.t, kGetUser, entrasim.GetUser(id), time.Time{}); errors.Is(err, errWindowClosed) {
			return err
		}
	}
	r, ok := entrasim.PatchUser(id, have, want, sh.t.dialect)
	if !ok {
		return nil
	}
	status, _, err := s.send(ctx, sh.t, kPatchUser, r, time.Time{})
	if errors.Is(err, errWindowClosed) {
		return err
	}
	s.applyPatchUser(sh, u, want, status, slices.Contains(r.Want, status), err)
	return nil
}

func (s *sender) applyPatchUser(sh *share, u *userState, want entrasim.UserView, status int, ok bool, err error) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	switch writeOutcome(status, ok, err) {
	case applied:
		u.sent = want
	case unknown:
		u.uncertain = true
	}
}

// setManager is the initial cycle's manager PATCH.
func (s *sender) setManager(ctx context.Context, sh *share, i int) error {
	u := sh.users[i]
	if u.manager < 0 {
		return nil
	}
	sh.mu.Lock()
	want, mgrID := u.sent, sh.users[u.manager].id
	sh.mu.Unlock()
	if mgrID == "" || want.ManagerID == mgrID {
		return nil
	}
	want.ManagerID = mgrID
	return s.patchUser(ctx, sh, i, want, false)
}

// provisionGroup looks the group up, creates it if missing, and adds its
// members, memberBatch per PATCH.
func (s *sender) provisionGroup(ctx context.Context, sh *share, j int) error {
	g := sh.groups[j]
	if g.id == "" {
		status, body, err := s.send(ctx, sh.t, kLookupGroup, entrasim.LookupGroup(g.name), time.Time{})
		if err != nil || status != http.StatusOK {
			return err
		}
		found, err := entrasim.ParseList(&entrasim.Response{Status: status, Body: body})
		if err != nil || len(found) > 1 {
			return nil
		}
		if len(found) == 1 {
			id, _ := found[0]["id"].(string)
			sh.mu.Lock()
			// Adopted after a create that failed but committed: it was
			// created without members, and that is still the state unless
			// a member PATCH ran, which needs the id it did not have.
			g.id, g.createUnknown = id, false
			sh.mu.Unlock()
		} else {
			src := *g.src
			src.DisplayName = g.name
			status, body, err = s.send(ctx, sh.t, kCreateGroup, entrasim.CreateGroup(&src), time.Time{})
			if errors.Is(err, errWindowClosed) {
				return err
			}
			s.applyCreateGroup(sh, g, status, body, err)
		}
	}
	if g.id == "" {
		return nil
	}
	sh.mu.Lock()
	var add []int
	for _, m := range g.src.Members {
		if sh.users[m].id != "" && !slices.Contains(g.members, m) {
			add = append(add, m)
		}
	}
	sh.mu.Unlock()
	for batch := range slices.Chunk(add, memberBatch) {
		if err := s.patchMembers(ctx, sh, j, batch, nil); err != nil {
			return err
		}
	}
	return nil
}

// memberBatch is how many members one PATCH adds.
const memberBatch = 20

func (s *sender) applyCreateGroup(sh *share, g *groupState, status int, body []byte, err error) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	switch writeOutcome(status, status == http.StatusCreated, err) {
	case applied:
		var created struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(body, &created) == nil && created.ID != "" {
			g.id, g.createUnknown = created.ID, false
		} else {
			g.createUnknown = true
		}
	case unknown:
		g.createUnknown = true
	}
}

// patchMembers sends one member PATCH: add or remove (one of them).
func (s *sender) patchMembers(ctx context.Context, sh *share, j int, add, remove []int) error {
	g := sh.groups[j]
	sh.mu.Lock()
	id := g.id
	ids := make([]string, 0, len(add)+len(remove))
	for _, m := range append(slices.Clone(add), remove...) {
		ids = append(ids, sh.users[m].id)
	}
	sh.mu.Unlock()
	var r entrasim.Request
	if len(add) > 0 {
		r = entrasim.AddMembers(id, ids, sh.t.dialect)
	} else {
		r = entrasim.RemoveMembers(id, ids, sh.t.dialect)
	}
	status, _, err := s.send(ctx, sh.t, kPatchMembers, r, time.Time{})
	if errors.Is(err, errWindowClosed) {
		return err
	}
	applyMembers(sh, g, add, remove, writeOutcome(status, slices.Contains(r.Want, status), err))
	return nil
}

func applyMembers(sh *share, g *groupState, add, remove []int, o outcome) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	switch o {
	case applied:
		for _, m := range add {
			if !slices.Contains(g.members, m) {
				g.members = append(g.members, m)
			}
		}
		g.members = slices.DeleteFunc(g.members, func(m int) bool { return slices.Contains(remove, m) })
		slices.Sort(g.members)
	case unknown:
		g.uncertain = true
	}
}

// updateMembers is an incremental cycle's membership change: read the
// group, then remove and add.
func (s *sender) updateMembers(ctx context.Context, sh *share, j int, add, remove []int) error {
	if sh.groups[j].id == "" {
		return nil
	}
	if _, _, err := s.send(ctx, sh.t, kGetGroup, entrasim.GetGroup(sh.groups[j].id), time.Time{}); errors.Is(err, errWindowClosed) {
		return err
	}
	if len(remove) > 0 {
		if err := s.patchMembers(ctx, sh, j, nil, remove); err != nil {
			return err
		}
	}
	if len(add) > 0 {
		return s.patchMembers(ctx, sh, j, add, nil)
	}
	return nil
}

// lookupUser is a userName lookup whose answer is not needed.
func (s *sender) lookupUser(ctx context.Context, sh *share, i int) error {
	_, _, err := s.send(ctx, sh.t, kLookupUser, entrasim.LookupUser(sh.users[i].src.UPN), time.Time{})
	return err
}

// exec runs one planned step. Only errWindowClosed and a cancelled ctx
// stop a client; a failed request is counted and the cycle goes on, as
// Entra's does.
func (s *sender) exec(ctx context.Context, sh *share, st step) error {
	var err error
	switch st.kind {
	case sProbe:
		err = s.probe(ctx, sh, time.Time{})
	case sProvisionUser:
		err = s.provisionUser(ctx, sh, st.user)
	case sSetManager:
		err = s.setManager(ctx, sh, st.user)
	case sLookupUser:
		err = s.lookupUser(ctx, sh, st.user)
	case sUpdateUser:
		err = s.patchUser(ctx, sh, st.user, st.want, st.read)
	case sProvisionGroup:
		err = s.provisionGroup(ctx, sh, st.group)
	case sUpdateMembers:
		err = s.updateMembers(ctx, sh, st.group, st.add, st.remove)
	}
	if errors.Is(err, errWindowClosed) || ctx.Err() != nil {
		return errors.Join(err, ctx.Err())
	}
	return nil
}
