package entrasim

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in tests/testdata/entra")

// TestRequests_Golden pins the request shapes the simulator sends against
// tests/testdata/entra/<case>.json, reviewed against entra-scim.md.
func TestRequests_Golden(t *testing.T) {
	dir := Generate(1, "contoso.test", 8, 2)
	alice := dir.Users[1]
	before := UserView{
		UserName: alice.UPN, DisplayName: alice.DisplayName, GivenName: alice.GivenName, FamilyName: alice.Surname,
		Title: alice.Title, Mail: alice.Mail, WorkPhone: alice.WorkPhone, Department: alice.Department,
		EmployeeNumber: alice.EmployeeNumber, ManagerID: "u-0", Active: true,
	}
	after := before
	after.DisplayName, after.FamilyName, after.Title = "Alicia Ng-Li", "Ng-Li", "Director"
	after.Mail, after.WorkPhone, after.Department = "a.ng@mail.contoso.test", "+1 425 555 0177", "Research"
	after.ManagerID, after.Active = "u-3", false
	unmanaged := before
	unmanaged.ManagerID = ""

	cases := map[string]Request{
		"probe_users":   ProbeUsers("9b1f0c4e-3d7a-4d55-a0a9-5f3e1c2b7d10"),
		"probe_groups":  ProbeGroups("e0c2a1f4-6b8d-4c3e-9f1a-2b3c4d5e6f70"),
		"lookup_user":   LookupUser(alice.UPN),
		"lookup_group":  LookupGroup(dir.Groups[0].DisplayName),
		"get_user":      GetUser("u-1"),
		"get_group":     GetGroup("g-1"),
		"create_group":  CreateGroup(dir.Groups[0]),
		"member_check":  MemberCheck("g-1", "u-1"),
		"manager_check": ManagerCheck("u-1", "u-0"),
	}
	for _, d := range []Dialect{Legacy, Flag} {
		sfx := "_" + d.String()
		cases["create_user"+sfx] = CreateUser(alice, d)
		cases["create_disabled_user"+sfx] = CreateUser(dir.Users[7], d)
		cases["manager_add"+sfx], _ = PatchUser("u-1", unmanaged, before, d)
		cases["user_update"+sfx], _ = PatchUser("u-1", before, after, d)
		cases["manager_remove"+sfx], _ = PatchUser("u-1", before, unmanaged, d)
		cases["members_add"+sfx] = AddMembers("g-1", []string{"u-1", "u-2"}, d)
		cases["members_remove"+sfx] = RemoveMembers("g-1", []string{"u-1", "u-2"}, d)
		cases["group_rename"+sfx] = RenameGroup("g-1", "Sales EMEA", d)
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			require.NoError(t, enc.Encode(map[string]any{
				"method": r.Method, "path": r.Path, "query": r.Query.Encode(), "body": r.Body,
			}))
			got := buf.Bytes()
			file := filepath.Join("..", "testdata", "entra", name+".json")
			if *update {
				require.NoError(t, os.WriteFile(file, got, 0o644))
				return
			}
			want, err := os.ReadFile(file)
			require.NoError(t, err, "run go test ./tests/entrasim -update")
			require.Equal(t, string(want), string(got))
		})
	}
}

func TestPatchUser_NoChange(t *testing.T) {
	v := UserView{UserName: "a@contoso.test", Active: true}
	_, ok := PatchUser("u-1", v, v, Legacy)
	require.False(t, ok)
}

func TestGenerate_Deterministic(t *testing.T) {
	a, b := Generate(7, "contoso.test", 50, 5), Generate(7, "contoso.test", 50, 5)
	a.Evolve()
	b.Evolve()
	require.Equal(t, a.Users, b.Users)
	require.Equal(t, a.Groups, b.Groups)
	for i, u := range a.Users {
		if u.Manager >= 0 {
			require.False(t, a.Users[u.Manager].Deleted, "user %d's manager was deleted", i)
		}
	}
}

func TestParseUser_Strict(t *testing.T) {
	_, _, err := ParseUser(map[string]any{"id": "u-1", "active": "True"})
	require.ErrorContains(t, err, "JSON boolean")
	_, _, err = ParseUser(map[string]any{"id": "u-1", "active": true,
		URNEnterprise: map[string]any{"manager": "u-2"}})
	require.ErrorContains(t, err, "want an object")
	_, v, err := ParseUser(map[string]any{"id": "u-1", "active": false,
		"emails":      []any{map[string]any{"type": "work", "value": "a@x"}},
		URNEnterprise: map[string]any{"manager": map[string]any{"value": "u-2", "$ref": "../Users/u-2"}}})
	require.NoError(t, err)
	require.Equal(t, UserView{Mail: "a@x", ManagerID: "u-2"}, v)
}

func TestClient_URL(t *testing.T) {
	c, err := NewClient("http://127.0.0.1:8080/scim/t1/v2/", "tok", 0)
	require.NoError(t, err)
	r := LookupUser("Alice@contoso.com")
	require.Equal(t, "http://127.0.0.1:8080/scim/t1/v2/Users?aadOptscim062020&filter=userName+eq+%22Alice%40contoso.com%22",
		c.URL(r.Path, r.Query, true))
	require.Equal(t, "http://127.0.0.1:8080/scim/t1/v2/Users?filter=userName+eq+%22Alice%40contoso.com%22",
		c.URL(r.Path, r.Query, false))
}

// TestDirectory_EvolveKeepsValuesBounded runs many incremental cycles'
// changes: names and mails change but never grow past one change's
// worth, so a long fault run stays within the service's value limits.
func TestDirectory_EvolveKeepsValuesBounded(t *testing.T) {
	d := Generate(7, "bounded.test", 40, 4)
	longest := func() (n int) {
		for _, u := range d.Users {
			n = max(n, len(u.DisplayName), len(u.Surname), len(u.Mail))
		}
		for _, g := range d.Groups {
			n = max(n, len(g.DisplayName))
		}
		return n
	}
	initial := longest()
	for range 300 {
		d.Evolve()
	}
	require.LessOrEqual(t, longest(), initial+20)
}
