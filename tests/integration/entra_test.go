package integration

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/tests/entrasim"
)

// TestE2E starts one stack and runs the Entra cycle, the validator checks
// and the two-tenant isolation run against it, each on tenants of its own.
func TestE2E(t *testing.T) {
	s := startStack(t, nil)
	t.Run("EntraCycle", func(t *testing.T) { testEntraCycle(t, s) })
	t.Run("Validator", func(t *testing.T) { testValidator(t, s) })
	t.Run("Isolation", func(t *testing.T) { testIsolation(t, s) })
}

// cycleTimeout bounds a simulator run, so that a hung service fails the
// test (and its cleanups run) well before go test's own timeout.
const cycleTimeout = 5 * time.Minute

func newSim(t *testing.T, tn tenant, dir *entrasim.Directory, d entrasim.Dialect) *entrasim.Sim {
	t.Helper()
	c, err := entrasim.NewClient(tn.SCIMURL, tn.Token, 2*time.Minute)
	require.NoError(t, err)
	return entrasim.New(c, dir, d, 8)
}

// runCycles is Entra's life of a directory: an initial cycle in one dialect,
// an incremental cycle in the other (a Tenant URL edit switches it), and a
// read back of the end state.
func runCycles(t *testing.T, name string, sim *entrasim.Sim, second entrasim.Dialect) error {
	ctx, cancel := context.WithTimeout(context.Background(), cycleTimeout)
	defer cancel()
	done := phase(t, name+": initial cycle ("+sim.Dialect.String()+")")
	if err := sim.Initial(ctx); err != nil {
		return err
	}
	done()
	sim.Dialect = second
	sim.Dir.Evolve()
	done = phase(t, name+": incremental cycle ("+second.String()+")")
	if err := sim.Incremental(ctx); err != nil {
		return err
	}
	done()
	done = phase(t, name+": verify")
	defer done()
	return sim.Verify(ctx)
}

// testEntraCycle provisions a few hundred users and tens of groups, both
// dialects, and verifies the end state.
func testEntraCycle(t *testing.T, s *stack) {
	tn := createTenant(t, s.baseURL, operatorKey, "Contoso")
	sim := newSim(t, tn, entrasim.Generate(11, "contoso.test", 300, 25), entrasim.Legacy)
	require.NoError(t, runCycles(t, tn.Name, sim, entrasim.Flag))
	t.Log(sim.Client.Stats())

	// The same directory again in the flag dialect from the start.
	tn = createTenant(t, s.baseURL, operatorKey, "Contoso Flag")
	sim = newSim(t, tn, entrasim.Generate(12, "contoso.test", 200, 15), entrasim.Flag)
	require.NoError(t, runCycles(t, tn.Name, sim, entrasim.Legacy))
	t.Log(sim.Client.Stats())
}

// testIsolation provisions two tenants concurrently; each must end with
// exactly its own users and groups, and neither token opens the other.
func testIsolation(t *testing.T, s *stack) {
	a := createTenant(t, s.baseURL, operatorKey, "Tenant A")
	b := createTenant(t, s.baseURL, operatorKey, "Tenant B")
	simA := newSim(t, a, entrasim.Generate(21, "a.test", 250, 15), entrasim.Legacy)
	simB := newSim(t, b, entrasim.Generate(22, "b.test", 200, 20), entrasim.Flag)

	done := phase(t, "two tenants provisioned concurrently")
	var wg sync.WaitGroup
	var errA, errB error
	wg.Go(func() { errA = runCycles(t, a.Name, simA, entrasim.Flag) })
	wg.Go(func() { errB = runCycles(t, b.Name, simB, entrasim.Legacy) })
	wg.Wait()
	done()
	require.NoError(t, errA, "tenant A")
	require.NoError(t, errB, "tenant B")

	ctx, cancel := context.WithTimeout(context.Background(), cycleTimeout)
	defer cancel()
	bOnA, err := entrasim.NewClient(a.SCIMURL, b.Token, 0)
	require.NoError(t, err)
	_, err = bOnA.Do(ctx, entrasim.Request{Method: http.MethodGet, Path: "/Users", Want: []int{401}}, false)
	require.NoError(t, err, "B's token on A's URL")

	// A's ids and userNames are unknown to B, and the other way round.
	for _, pair := range []struct {
		from, to *entrasim.Sim
	}{{simA, simB}, {simB, simA}} {
		for i, u := range pair.from.Dir.Users {
			if u.Deleted || i%10 != 0 {
				continue
			}
			_, err := pair.to.Client.Do(ctx, entrasim.Request{Method: http.MethodGet,
				Path: "/Users/" + pair.from.UserID(i), Want: []int{404}}, false)
			require.NoError(t, err)
			resp, err := pair.to.Client.Do(ctx, entrasim.LookupUser(u.UPN), false)
			require.NoError(t, err)
			res, err := entrasim.ParseList(resp)
			require.NoError(t, err)
			require.Empty(t, res, "%s visible in the other tenant", u.UPN)
		}
	}
}

// testValidator runs the checks of Microsoft's SCIM Validator and gallery
// kit that the cycles do not: discovery documents, error bodies, filters,
// pagination, manager and disable round trips.
func testValidator(t *testing.T, s *stack) {
	defer phase(t, "validator checks")()
	ctx, cancel := context.WithTimeout(context.Background(), cycleTimeout)
	defer cancel()
	tn := createTenant(t, s.baseURL, operatorKey, "Validator")
	c, err := entrasim.NewClient(tn.SCIMURL, tn.Token, 30*time.Second)
	require.NoError(t, err)
	dir := entrasim.Generate(31, "validator.test", 12, 1)
	sim := entrasim.New(c, dir, entrasim.Legacy, 1)

	do := func(t *testing.T, r entrasim.Request) map[string]any {
		t.Helper()
		resp, err := c.Do(ctx, r, false)
		require.NoError(t, err)
		if len(resp.Body) == 0 {
			return nil
		}
		require.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "application/scim+json"),
			"%s %s: Content-Type %q", r.Method, r.Path, resp.Header.Get("Content-Type"))
		obj, err := resp.Object()
		require.NoError(t, err)
		return obj
	}
	get := func(t *testing.T, path string, query url.Values, want int) map[string]any {
		t.Helper()
		return do(t, entrasim.Request{Method: http.MethodGet, Path: path, Query: query, Want: []int{want}})
	}
	requireError := func(t *testing.T, obj map[string]any, status, scimType string) {
		t.Helper()
		require.Contains(t, obj["schemas"], entrasim.URNError)
		require.Equal(t, status, obj["status"])
		if scimType != "" {
			require.Equal(t, scimType, obj["scimType"])
		}
	}

	t.Run("TestConnection", func(t *testing.T) {
		require.NoError(t, sim.Probe(ctx))
		sim.Dialect = entrasim.Flag // ?aadOptscim062020 on the Tenant URL
		require.NoError(t, sim.Probe(ctx))
		sim.Dialect = entrasim.Legacy
		for _, path := range []string{"/users", "/Users/"} {
			require.EqualValues(t, 0, get(t, path, url.Values{"filter": {`userName eq "nobody@x"`}}, 200)["totalResults"], path)
		}
	})

	t.Run("Discovery", func(t *testing.T) {
		spc := get(t, "/ServiceProviderConfig", nil, 200)
		require.Equal(t, true, spc["patch"].(map[string]any)["supported"])
		require.Equal(t, false, spc["bulk"].(map[string]any)["supported"])
		require.Equal(t, true, spc["filter"].(map[string]any)["supported"])
		require.NotEmpty(t, spc["authenticationSchemes"])

		var ids []any
		for _, r := range get(t, "/Schemas", nil, 200)["Resources"].([]any) {
			ids = append(ids, r.(map[string]any)["id"])
		}
		require.Subset(t, ids, []any{entrasim.URNUser, entrasim.URNGroup, entrasim.URNEnterprise})
		require.Equal(t, entrasim.URNEnterprise, get(t, "/Schemas/"+entrasim.URNEnterprise, nil, 200)["id"])

		types := map[any]map[string]any{}
		for _, r := range get(t, "/ResourceTypes", nil, 200)["Resources"].([]any) {
			types[r.(map[string]any)["name"]] = r.(map[string]any)
		}
		require.Equal(t, "/Users", types["User"]["endpoint"])
		require.Equal(t, "/Groups", types["Group"]["endpoint"])
		require.Contains(t, types["User"]["schemaExtensions"].([]any)[0].(map[string]any)["schema"], entrasim.URNEnterprise)
	})

	var ids []string
	t.Run("CreateAndConflict", func(t *testing.T) {
		for _, u := range dir.Users {
			resp, err := c.Do(ctx, entrasim.CreateUser(u, entrasim.Legacy), false)
			require.NoError(t, err)
			require.NotEmpty(t, resp.Header.Get("Location"))
			obj, err := resp.Object()
			require.NoError(t, err)
			id, v, err := entrasim.ParseUser(obj)
			require.NoError(t, err)
			require.Equal(t, u.Enabled, v.Active)
			require.Equal(t, "User", obj["meta"].(map[string]any)["resourceType"])
			ids = append(ids, id)
		}
		dup := entrasim.CreateUser(dir.Users[0], entrasim.Legacy)
		dup.Body.(map[string]any)["userName"] = strings.ToUpper(dir.Users[0].UPN)
		dup.Want = []int{409}
		requireError(t, do(t, dup), "409", "uniqueness")
	})

	t.Run("Errors", func(t *testing.T) {
		requireError(t, get(t, "/Users/does-not-exist", nil, 404), "404", "")
		requireError(t, get(t, "/Groups/does-not-exist", nil, 404), "404", "")
		requireError(t, get(t, "/Users", url.Values{"filter": {`userName zz "x"`}}, 400), "400", "invalidFilter")
		// A wrong secret, and the Entra-issued JWT sent when the token field
		// is left empty (B2).
		for _, token := range []string{"scimtok_wrong", "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiI4YWRmOGU2ZSJ9.c2ln"} {
			wrong, err := entrasim.NewClient(tn.SCIMURL, token, 0)
			require.NoError(t, err)
			resp, err := wrong.Do(ctx, entrasim.ProbeUsers("9b1f0c4e-3d7a-4d55-a0a9-5f3e1c2b7d10"), false)
			require.Error(t, err)
			require.Equal(t, 401, resp.Status)
			require.Contains(t, resp.Header.Get("WWW-Authenticate"), "Bearer")
			obj, err := resp.Object()
			require.NoError(t, err)
			requireError(t, obj, "401", "")
		}
	})

	t.Run("Filters", func(t *testing.T) {
		u := dir.Users[1]
		for _, f := range []string{
			`userName eq "` + strings.ToUpper(u.UPN) + `"`,
			`externalId eq "` + u.MailNickname + `"`,
			`emails[type eq "work"].value eq "` + u.Mail + `"`,
			`id eq "` + ids[1] + `"`,
		} {
			obj := get(t, "/Users", url.Values{"filter": {f}}, 200)
			require.EqualValues(t, 1, obj["totalResults"], f)
			require.Equal(t, ids[1], obj["Resources"].([]any)[0].(map[string]any)["id"], f)
		}
		obj := get(t, "/Users", url.Values{"filter": {`id eq "` + ids[1] + `"`}, "attributes": {"id"}}, 200)
		require.NotContains(t, obj["Resources"].([]any)[0], "userName")
	})

	t.Run("Pagination", func(t *testing.T) {
		seen := map[any]bool{}
		for start := 1; start <= len(ids); start += 5 {
			obj := get(t, "/Users", url.Values{"startIndex": {strconv.Itoa(start)}, "count": {"5"}}, 200)
			require.EqualValues(t, start, obj["startIndex"])
			require.EqualValues(t, len(ids), obj["totalResults"])
			page := obj["Resources"].([]any)
			require.EqualValues(t, len(page), obj["itemsPerPage"])
			for _, r := range page {
				id := r.(map[string]any)["id"]
				require.False(t, seen[id], "user %v on two pages", id)
				seen[id] = true
			}
		}
		require.Len(t, seen, len(ids))
	})

	t.Run("ManagerAndDisable", func(t *testing.T) {
		u, m := ids[2], ids[0]
		do(t, patchOps(u, entrasim.Op{Op: "Add", Path: entrasim.URNEnterprise + ":manager", Value: m}))
		_, v, err := entrasim.ParseUser(get(t, "/Users/"+u, nil, 200))
		require.NoError(t, err)
		require.Equal(t, m, v.ManagerID)
		require.EqualValues(t, 1, get(t, "/Users", url.Values{"filter": {`id eq "` + u + `" and manager eq "` + m + `"`}, "attributes": {"id"}}, 200)["totalResults"])
		do(t, patchOps(u, entrasim.Op{Op: "replace", Path: entrasim.URNEnterprise + ":manager", Value: ""}))
		_, v, err = entrasim.ParseUser(get(t, "/Users/"+u, nil, 200))
		require.NoError(t, err)
		require.Empty(t, v.ManagerID)

		do(t, patchOps(u, entrasim.Op{Op: "Replace", Path: "active", Value: "False"}))
		obj := get(t, "/Users", url.Values{"filter": {`userName eq "` + dir.Users[2].UPN + `"`}}, 200)
		require.Equal(t, false, obj["Resources"].([]any)[0].(map[string]any)["active"])
		do(t, patchOps(u, entrasim.Op{Op: "replace", Value: map[string]any{"active": true, "name.givenName": "Alicia"}}))
		obj = get(t, "/Users/"+u, nil, 200)
		require.Equal(t, true, obj["active"])
		require.Equal(t, "Alicia", obj["name"].(map[string]any)["givenName"])
		require.Equal(t, dir.Users[2].Surname, obj["name"].(map[string]any)["familyName"])
		require.NotContains(t, obj, "name.givenName")
	})

	t.Run("ClearValues", func(t *testing.T) {
		u := ids[4]
		do(t, patchOps(u, entrasim.Op{Op: "Remove", Path: "title"},
			entrasim.Op{Op: "replace", Path: entrasim.URNEnterprise + ":department", Value: ""},
			map[string]any{"op": "replace", "path": "displayName", "value": nil}))
		obj := get(t, "/Users/"+u, nil, 200)
		require.Empty(t, obj["title"])
		require.Empty(t, obj["displayName"])
		require.Empty(t, obj[entrasim.URNEnterprise].(map[string]any)["department"])
		require.Equal(t, dir.Users[4].EmployeeNumber, obj[entrasim.URNEnterprise].(map[string]any)["employeeNumber"])
	})

	t.Run("Groups", func(t *testing.T) {
		g := dir.Groups[0]
		obj := do(t, entrasim.CreateGroup(g))
		gid := obj["id"].(string)
		dup := entrasim.CreateGroup(g)
		dup.Want = []int{409}
		requireError(t, do(t, dup), "409", "uniqueness")
		do(t, entrasim.AddMembers(gid, ids[:3], entrasim.Legacy))
		do(t, entrasim.AddMembers(gid, ids[:3], entrasim.Legacy)) // Entra re-sends adds
		require.NotContains(t, get(t, "/Groups/"+gid, url.Values{"excludedAttributes": {"members"}}, 200), "members")
		member := func(uid string) any {
			return do(t, entrasim.MemberCheck(gid, uid))["totalResults"]
		}
		require.EqualValues(t, 1, member(ids[0]))
		valuePath := get(t, "/Groups", url.Values{"excludedAttributes": {"members"},
			"filter": {`id eq "` + gid + `" and members[value eq "` + ids[1] + `"]`}}, 200)
		require.EqualValues(t, 1, valuePath["totalResults"])
		do(t, entrasim.RemoveMembers(gid, ids[:1], entrasim.Legacy))
		do(t, entrasim.RemoveMembers(gid, ids[1:2], entrasim.Flag))
		require.EqualValues(t, 0, member(ids[0]))
		require.EqualValues(t, 0, member(ids[1]))
		require.EqualValues(t, 1, member(ids[2]))
		do(t, entrasim.DeleteGroup(gid))
		get(t, "/Groups/"+gid, nil, 404)
	})

	// Shapes Entra, its Postman suite and other clients send (B6, B14, B17,
	// B20, B27, B29).
	t.Run("Quirks", func(t *testing.T) {
		u := dir.Users[5]
		post := entrasim.CreateUser(u, entrasim.Legacy)
		body := post.Body.(map[string]any)
		body["userName"], body["externalId"] = "quirks."+u.UPN, "quirks"
		body["active"], body["addresses"], body["nickName"] = "False", nil, nil
		ext := body[entrasim.URNEnterprise].(map[string]any)
		ext["Manager"], ext["department"] = map[string]any{"Value": ids[0]}, nil
		id, v, err := entrasim.ParseUser(do(t, post))
		require.NoError(t, err)
		require.False(t, v.Active)
		require.Equal(t, ids[0], v.ManagerID)

		do(t, patchOps(id, entrasim.Op{Op: "Replace", Path: "manager", Value: []any{map[string]any{"value": ids[1]}}},
			entrasim.Op{Op: "Add", Path: "roles", Value: []any{map[string]any{"value": `{"id":"r-1","value":"Admin","displayName":"Admin"}`}}}))
		obj := get(t, "/Users/"+id, url.Values{"attributes": {"userName"}}, 200)
		require.Equal(t, id, obj["id"])
		require.Equal(t, "quirks."+u.UPN, obj["userName"])
		require.NotContains(t, obj, "displayName")
		_, v, err = entrasim.ParseUser(get(t, "/Users/"+id, nil, 200))
		require.NoError(t, err)
		require.Equal(t, ids[1], v.ManagerID)

		obj = get(t, "/Users", url.Values{"count": {"0"}}, 200)
		require.EqualValues(t, len(ids)+1, obj["totalResults"])
		require.Empty(t, obj["Resources"])
		require.EqualValues(t, 1, get(t, "/Users", url.Values{"startIndex": {"0"}, "count": {"2"}}, 200)["startIndex"])

		// application/json is accepted as well as application/scim+json (B4).
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, tn.SCIMURL+"/Users",
			strings.NewReader(`{"schemas":["`+entrasim.URNUser+`"],"userName":"json@validator.test","active":true}`))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tn.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusCreated, resp.StatusCode)

		group := entrasim.CreateGroup(&entrasim.Group{ObjectID: "quirks-group", DisplayName: "Quirks"})
		group.Body.(map[string]any)["members"] = []any{map[string]any{"value": ids[0]}}
		gid := do(t, group)["id"].(string)
		require.EqualValues(t, 1, do(t, entrasim.MemberCheck(gid, ids[0]))["totalResults"])
	})

	// Entra sends requests for one tenant in parallel; member adds racing
	// on one group must all land (B35).
	t.Run("ConcurrentMemberAdds", func(t *testing.T) {
		gid := do(t, entrasim.CreateGroup(dir.Groups[0]))["id"].(string)
		var wg sync.WaitGroup
		errs := make([]error, len(ids))
		for i, uid := range ids {
			wg.Go(func() { _, errs[i] = c.Do(ctx, entrasim.AddMembers(gid, []string{uid}, entrasim.Legacy), false) })
		}
		wg.Wait()
		for i, uid := range ids {
			require.NoError(t, errs[i])
			require.EqualValues(t, 1, do(t, entrasim.MemberCheck(gid, uid))["totalResults"], "member %s", uid)
		}
	})

	t.Run("DeleteUser", func(t *testing.T) {
		do(t, entrasim.DeleteUser(ids[3]))
		get(t, "/Users/"+ids[3], nil, 404)
		require.EqualValues(t, 0, do(t, entrasim.LookupUser(dir.Users[3].UPN))["totalResults"])
	})
}

// patchOps is a PATCH of a user; ops are entrasim.Op values, or maps where
// an explicit "value": null is needed.
func patchOps(userID string, ops ...any) entrasim.Request {
	return entrasim.Request{Method: http.MethodPatch, Path: "/Users/" + userID, Want: []int{200, 204},
		Body: map[string]any{"schemas": []string{entrasim.URNPatchOp}, "Operations": ops}}
}
