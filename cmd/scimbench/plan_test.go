package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// createdShare is a share whose users and groups all exist on the
// service, with their initial members.
func createdShare(t *testing.T, users, groups int) *share {
	t.Helper()
	sh := newShare(newTenant(1, tenantInfo{ID: "tnt_1", SCIMURL: "http://127.0.0.1:1/scim/tnt_1/v2", Token: "x"}), 0, 7, users, groups)
	for i, u := range sh.users {
		u.id = fmt.Sprintf("u-%d", i)
		u.sent = createdView(u.src)
	}
	for j, g := range sh.groups {
		g.id = fmt.Sprintf("g-%d", j)
		g.members = slices.Clone(g.src.Members)
	}
	return sh
}

func TestNewShare(t *testing.T) {
	tn := newTenant(3, tenantInfo{})
	a, b := newShare(tn, 0, 1, 20, 2), newShare(tn, 1, 1, 20, 2)
	require.Equal(t, -1, a.users[0].manager, "no user manages itself")
	for i, u := range a.users {
		require.NotEqual(t, u.src.UPN, b.users[i].src.UPN, "userNames are unique per tenant")
		require.Less(t, u.manager, max(i, 1))
	}
	require.NotEqual(t, a.groups[0].name, b.groups[0].name, "group names are unique per tenant")
}

func TestInitialPlan(t *testing.T) {
	sh := newShare(newTenant(0, tenantInfo{}), 0, 1, 20, 2)
	plan := initialPlan(sh, true)
	require.Equal(t, sProbe, plan[0].kind)
	var kinds []stepKind
	for _, st := range plan[1:] {
		if len(kinds) == 0 || kinds[len(kinds)-1] != st.kind {
			kinds = append(kinds, st.kind)
		}
	}
	// Users first, then managers once every id is known, then groups.
	require.Equal(t, []stepKind{sProvisionUser, sSetManager, sProvisionGroup}, kinds)
	require.Len(t, plan, 1+20+19+2)
	require.NotEqual(t, sProbe, initialPlan(sh, false)[0].kind)
}

func TestIncrementalPlan(t *testing.T) {
	sh := createdShare(t, 50, 4)
	// Two users failed to be created: the cycle provisions them again and
	// writes nothing else to them.
	sh.users[3].id, sh.users[17].id = "", ""
	rng := rand.New(rand.NewPCG(1, 2))
	counts := map[string]int{}
	const cycles = 400
	for range cycles {
		plan := incrementalPlan(sh, rng, true)
		require.NotEmpty(t, plan)
		require.Equal(t, sProbe, plan[0].kind)
		seenUser := map[int]bool{}
		for _, st := range plan[1:] {
			switch st.kind {
			case sProvisionUser:
				require.Contains(t, []int{3, 17}, st.user)
				counts["provision"]++
			case sLookupUser:
				counts["lookup"]++
			case sUpdateUser:
				u := sh.users[st.user]
				require.NotEmpty(t, u.id, "no PATCH of a user that does not exist")
				require.False(t, seenUser[st.user], "one write per user per cycle")
				seenUser[st.user] = true
				require.True(t, st.read, "incremental cycles read the user first")
				require.NotEqual(t, u.sent, st.want, "a PATCH changes something")
				have, want := u.sent, st.want
				switch {
				case have.Active != want.Active:
					counts["active"]++
				case have.ManagerID != want.ManagerID:
					require.NotEqual(t, u.id, want.ManagerID, "no user manages itself")
					if want.ManagerID != "" {
						require.NotContains(t, []string{""}, want.ManagerID)
					}
					counts["manager"]++
				default:
					require.NotEqual(t, have.Title, want.Title)
					require.NotEqual(t, have.Department, want.Department)
					counts["attribute"]++
				}
			case sUpdateMembers:
				g := sh.groups[st.group]
				require.NotEmpty(t, append(slices.Clone(st.add), st.remove...))
				for _, m := range st.remove {
					require.Contains(t, g.members, m, "removes only members")
				}
				require.Less(t, len(st.remove), max(len(g.members), 1), "never empties a group")
				for _, m := range st.add {
					require.NotContains(t, g.members, m, "adds only non-members")
					require.NotEmpty(t, sh.users[m].id, "adds only users that exist")
				}
				counts["members"]++
				// Apply it, so the next cycle starts from the new state.
				applyMembers(sh, g, st.add, st.remove, applied)
			default:
				t.Fatalf("unexpected step %v", st.kind)
			}
			if st.kind == sUpdateUser {
				sh.users[st.user].sent = st.want
			}
		}
	}
	// 48 created users per cycle; the expected share of each change within
	// a generous margin (the generator is seeded, so this cannot flake).
	perCycle := func(k string) float64 { return float64(counts[k]) / cycles }
	require.Equal(t, 2*cycles, counts["provision"])
	require.InDelta(t, 48*0.10, perCycle("attribute"), 1.5)
	require.InDelta(t, 48*0.05, perCycle("active"), 1)
	require.InDelta(t, 48*0.03, perCycle("manager"), 1)
	require.InDelta(t, 48*0.10, perCycle("lookup"), 1.5)
	require.InDelta(t, 4*0.5, perCycle("members"), 0.5)
}

func TestIncrementalPlan_NeverEmpty(t *testing.T) {
	sh := createdShare(t, 1, 1)
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		require.NotEmpty(t, incrementalPlan(sh, rng, false))
	}
}

func TestNextReady(t *testing.T) {
	sh := newShare(newTenant(0, tenantInfo{}), 0, 1, 1000, 20)
	rng := rand.New(rand.NewPCG(5, 6))

	// Nothing created: only creates and lookups.
	var created []openOp
	for range 50 {
		op := nextReady(sh, rng)
		require.Contains(t, []openKind{oCreateUser, oLookupUser, oLookupGroup, oCreateGroup}, op.kind)
		if op.kind == oCreateUser {
			require.True(t, sh.users[op.user].busy)
		}
		created = append(created, op)
	}
	for _, op := range created {
		switch op.kind {
		case oCreateUser:
			u := sh.users[op.user]
			u.id, u.sent, u.busy = fmt.Sprintf("u-%d", op.user), createdView(u.src), false
		case oCreateGroup:
			g := sh.groups[op.group]
			g.id, g.busy = fmt.Sprintf("g-%d", op.group), false
		}
	}
	require.Positive(t, sh.nextUser)

	// In flight writes are never doubled up; the mix is roughly openMix.
	counts := map[openKind]int{}
	inFlight := map[int]bool{}
	for range 2000 {
		op := nextReady(sh, rng)
		counts[op.kind]++
		switch op.kind {
		case oPatchUser:
			require.False(t, inFlight[op.user], "a second write to a user in flight")
			require.NotEqual(t, sh.users[op.user].sent, op.want)
			inFlight[op.user] = true
			if len(inFlight) > 10 { // complete them
				for i := range inFlight {
					sh.users[i].busy = false
					delete(inFlight, i)
				}
			}
		case oAddMembers, oRemoveMembers:
			g := sh.groups[op.group]
			require.True(t, g.busy)
			require.NotEmpty(t, op.members)
			require.LessOrEqual(t, len(op.members), memberBatch)
			if op.kind == oAddMembers {
				applyMembers(sh, g, op.members, nil, applied)
			} else {
				for _, m := range op.members {
					require.Contains(t, g.members, m)
				}
				applyMembers(sh, g, nil, op.members, applied)
			}
			g.busy = false
		case oCreateUser:
			u := sh.users[op.user]
			u.id, u.sent, u.busy = fmt.Sprintf("u-%d", op.user), createdView(u.src), false
		case oCreateGroup:
			g := sh.groups[op.group]
			g.id, g.busy = fmt.Sprintf("g-%d", op.group), false
		}
	}
	share := func(k openKind) float64 { return float64(counts[k]) / 20 }
	require.InDelta(t, 25, share(oPatchUser), 4)
	require.InDelta(t, 10, share(oGetUser), 3)
	require.InDelta(t, 10, share(oAddMembers), 3)
	require.InDelta(t, 20, share(oCreateUser), 4)

	// Everything busy and created: lookups.
	for sh.nextUser < len(sh.users) {
		sh.users[sh.nextUser].id = "x"
		sh.nextUser++
	}
	for _, u := range sh.users {
		u.busy = true
	}
	for _, g := range sh.groups {
		g.busy = true
	}
	sh.nextGroup = len(sh.groups)
	for range 100 {
		require.Contains(t, []openKind{oLookupUser, oLookupGroup}, nextReady(sh, rng).kind)
	}
}

func TestSchedule(t *testing.T) {
	d := 20 * time.Second
	arrivals := schedule(rand.New(rand.NewPCG(1, 1)), 50, 25, d)
	// 50 x 25/s x 20 s = 25,000 expected; Poisson sd is about 160.
	require.InDelta(t, 25000, len(arrivals), 800)
	perTenant := make([]int, 50)
	for i, a := range arrivals {
		require.GreaterOrEqual(t, a.at, time.Duration(0))
		require.Less(t, a.at, d)
		if i > 0 {
			require.GreaterOrEqual(t, a.at, arrivals[i-1].at, "in time order")
		}
		perTenant[a.tenant]++
	}
	for _, n := range perTenant {
		require.InDelta(t, 500, n, 120)
	}
}

func TestPickOther(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for range 100 {
		require.NotEqual(t, "a", pickOther(rng, []string{"a", "b", "c"}, "a"))
	}
	require.Equal(t, "a", pickOther(rng, []string{"a"}, "a"), "no other: the same")
	require.Equal(t, "", pickOther(rng, nil, "a"))
}
