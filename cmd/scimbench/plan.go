package main

import (
	"math/rand/v2"
	"slices"

	"github.com/scimplane/scimplane/tests/entrasim"
)

// stepKind is one object-level step of an Entra cycle; a step sends one to
// a few requests.
type stepKind uint8

const (
	sProbe          stepKind = iota // GET /Users?filter=userName eq "<random GUID>"
	sProvisionUser                  // lookup by userName, POST /Users if not found
	sSetManager                     // PATCH the manager (initial cycle)
	sLookupUser                     // lookup by userName
	sUpdateUser                     // [GET /Users/{id}], PATCH /Users/{id}
	sProvisionGroup                 // lookup by displayName, POST /Groups, PATCH members in batches of 20
	sUpdateMembers                  // GET /Groups/{id}, PATCH remove, PATCH add
)

type step struct {
	kind        stepKind
	user, group int
	want        entrasim.UserView // sUpdateUser
	read        bool              // sUpdateUser: GET the user first
	add, remove []int             // sUpdateMembers
}

// The incremental mix: the share of users each cycle touches, by change,
// and of groups whose memberships change. Entra's incremental cycles carry
// only what changed in the source.
const (
	pctAttribute = 10 // title and department
	pctActive    = 5  // disable or enable
	pctManager   = 3  // manager set, changed or removed
	pctLookup    = 10 // userName lookup (scoping re-evaluation)
	pctGroup     = 50 // member removes and adds
	maxRemove    = 2
	maxAdd       = 3
)

var (
	titles = []string{"Engineer", "Senior Engineer", "Manager", "Analyst", "Designer", "Director"}
	depts  = []string{"R&D", "Sales", "Finance", "Operations", "Legal", "Support"}
)

// initialPlan is Entra's initial cycle over a share (B34): every user
// matched and created, then manager references, then every group matched,
// created and filled.
func initialPlan(sh *share, probe bool) []step {
	var out []step
	if probe {
		out = append(out, step{kind: sProbe})
	}
	for i := range sh.users {
		out = append(out, step{kind: sProvisionUser, user: i})
	}
	for i, u := range sh.users {
		if u.manager >= 0 {
			out = append(out, step{kind: sSetManager, user: i})
		}
	}
	for j := range sh.groups {
		out = append(out, step{kind: sProvisionGroup, group: j})
	}
	return out
}

// incrementalPlan draws one incremental cycle from the share's state:
// objects a previous cycle failed to create are provisioned again; created
// users get attribute, active and manager changes or lookups; created
// groups lose and gain members. It never returns an empty plan.
func incrementalPlan(sh *share, rng *rand.Rand, probe bool) []step {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var out []step
	if probe {
		out = append(out, step{kind: sProbe})
	}
	var created []int
	for i, u := range sh.users {
		if u.id != "" {
			created = append(created, i)
		}
	}
	for i, u := range sh.users {
		if u.id == "" {
			out = append(out, step{kind: sProvisionUser, user: i})
			continue
		}
		want := u.sent
		switch r := rng.IntN(100); {
		case r < pctAttribute:
			want.Title = pickOther(rng, titles, want.Title)
			want.Department = pickOther(rng, depts, want.Department)
		case r < pctAttribute+pctActive:
			want.Active = !want.Active
		case r < pctAttribute+pctActive+pctManager:
			if m := pickOther(rng, created, i); m != i && (want.ManagerID == "" || rng.IntN(2) == 0) {
				want.ManagerID = sh.users[m].id
			} else {
				want.ManagerID = ""
			}
		case r < pctAttribute+pctActive+pctManager+pctLookup:
			out = append(out, step{kind: sLookupUser, user: i})
			continue
		default:
			continue
		}
		if want != u.sent {
			out = append(out, step{kind: sUpdateUser, user: i, want: want, read: true})
		}
	}
	for j, g := range sh.groups {
		if g.id == "" {
			out = append(out, step{kind: sProvisionGroup, group: j})
			continue
		}
		if rng.IntN(100) >= pctGroup {
			continue
		}
		var remove, add []int
		if len(g.members) > 1 {
			for _, k := range rng.Perm(len(g.members))[:min(len(g.members)-1, 1+rng.IntN(maxRemove))] {
				remove = append(remove, g.members[k])
			}
		}
		for _, k := range rng.Perm(len(created)) {
			if len(add) == 1+rng.IntN(maxAdd) {
				break
			}
			if m := created[k]; !slices.Contains(g.members, m) {
				add = append(add, m)
			}
		}
		if len(add)+len(remove) > 0 {
			out = append(out, step{kind: sUpdateMembers, group: j, add: add, remove: remove})
		}
	}
	if len(out) == 0 && len(sh.users) > 0 {
		out = append(out, step{kind: sLookupUser, user: rng.IntN(len(sh.users))})
	}
	return out
}

// pickOther picks an element other than not, if there is one.
func pickOther[T comparable](rng *rand.Rand, xs []T, not T) T {
	var zero T
	if len(xs) == 0 {
		return zero
	}
	start := rng.IntN(len(xs))
	for k := range xs {
		if x := xs[(start+k)%len(xs)]; x != not {
			return x
		}
	}
	return not
}

// openKind is one open-loop operation: always exactly one request.
type openKind uint8

const (
	oLookupUser openKind = iota
	oCreateUser
	oGetUser
	oPatchUser
	oLookupGroup
	oCreateGroup
	oAddMembers
	oRemoveMembers
	numOpenKinds
)

// openMix is the open loop's weights (percent). An operation that is not
// ready (nothing created yet, every candidate busy) falls back to a create
// of a new user, then to a lookup, which is always ready.
var openMix = [numOpenKinds]int{
	oLookupUser:    25,
	oCreateUser:    20,
	oGetUser:       10,
	oPatchUser:     25,
	oLookupGroup:   4,
	oCreateGroup:   2,
	oAddMembers:    10,
	oRemoveMembers: 4,
}

// openOp is one chosen open-loop operation; the objects it writes are
// marked busy until done, so no two in-flight writes race on one object.
type openOp struct {
	kind        openKind
	user, group int
	want        entrasim.UserView
	members     []int
}

// nextReady picks the share's next operation that can be sent now without
// waiting for another, and marks what it writes busy.
func nextReady(sh *share, rng *rand.Rand) openOp {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r := rng.IntN(100)
	k := oLookupUser
	for kk, w := range openMix {
		if r < w {
			k = openKind(kk)
			break
		}
		r -= w
	}
	if op, ok := sh.ready(rng, k); ok {
		return op
	}
	if op, ok := sh.ready(rng, oCreateUser); ok {
		return op
	}
	op, _ := sh.ready(rng, oLookupUser)
	return op
}

// ready builds an operation of kind k if one is possible; sh.mu is held.
func (sh *share) ready(rng *rand.Rand, k openKind) (openOp, bool) {
	switch k {
	case oLookupUser:
		return openOp{kind: k, user: rng.IntN(len(sh.users))}, true
	case oLookupGroup:
		if len(sh.groups) == 0 {
			return openOp{}, false
		}
		return openOp{kind: k, group: rng.IntN(len(sh.groups))}, true
	case oCreateUser:
		if sh.nextUser >= len(sh.users) {
			return openOp{}, false
		}
		i := sh.nextUser
		sh.nextUser++
		sh.users[i].busy = true
		return openOp{kind: k, user: i}, true
	case oCreateGroup:
		if sh.nextGroup >= len(sh.groups) {
			return openOp{}, false
		}
		j := sh.nextGroup
		sh.nextGroup++
		sh.groups[j].busy = true
		return openOp{kind: k, group: j}, true
	case oGetUser, oPatchUser:
		i, ok := sh.idleUser(rng)
		if !ok {
			return openOp{}, false
		}
		if k == oGetUser {
			return openOp{kind: k, user: i}, true
		}
		u := sh.users[i]
		want := u.sent
		switch rng.IntN(10) {
		case 0, 1, 2:
			want.Active = !want.Active
		case 3:
			if want.ManagerID == "" {
				if m, ok := sh.idleUser(rng); ok && m != i {
					want.ManagerID = sh.users[m].id
					break
				}
			}
			want.ManagerID = ""
			if want == u.sent {
				want.Title = pickOther(rng, titles, want.Title)
			}
		default:
			want.Title = pickOther(rng, titles, want.Title)
			want.Department = pickOther(rng, depts, want.Department)
		}
		u.busy = true
		return openOp{kind: k, user: i, want: want}, true
	case oAddMembers, oRemoveMembers:
		j, ok := sh.idleGroup(rng)
		if !ok {
			return openOp{}, false
		}
		g := sh.groups[j]
		var members []int
		if k == oRemoveMembers {
			for _, n := range rng.Perm(len(g.members))[:min(len(g.members), 1+rng.IntN(maxRemove))] {
				members = append(members, g.members[n])
			}
		} else {
			want := 1 + rng.IntN(memberBatch)
			for _, n := range rng.Perm(sh.nextUser) {
				if len(members) == want {
					break
				}
				if sh.users[n].id != "" && !slices.Contains(g.members, n) {
					members = append(members, n)
				}
			}
		}
		if len(members) == 0 {
			return openOp{}, false
		}
		g.busy = true
		return openOp{kind: k, group: j, members: members}, true
	}
	return openOp{}, false
}

// idleUser is a random created user with nothing in flight. Open-loop
// creates go in directory order, so created users are a prefix.
func (sh *share) idleUser(rng *rand.Rand) (int, bool) {
	n := sh.nextUser
	if n == 0 {
		return 0, false
	}
	start := rng.IntN(n)
	for k := range min(n, 16) {
		i := (start + k) % n
		if u := sh.users[i]; u.id != "" && !u.busy {
			return i, true
		}
	}
	return 0, false
}

// idleGroup is a random created group with nothing in flight.
func (sh *share) idleGroup(rng *rand.Rand) (int, bool) {
	n := len(sh.groups)
	if n == 0 {
		return 0, false
	}
	start := rng.IntN(n)
	for k := range n {
		j := (start + k) % n
		if g := sh.groups[j]; g.id != "" && !g.busy {
			return j, true
		}
	}
	return 0, false
}
