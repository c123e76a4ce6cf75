package resource

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

const (
	testUserExt  = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"
	testGroupExt = "urn:ietf:params:scim:schemas:extension:Acme:1.0:Group"
)

// testDeclarations declare every type, for User and Group.
var testDeclarations = []Declared{
	{Schema: testUserExt, ResourceType: "User", Name: "costCenter", Type: String, Description: "Cost center."},
	{Schema: testUserExt, ResourceType: "User", Name: "badge", Type: Integer},
	{Schema: testUserExt, ResourceType: "User", Name: "score", Type: Decimal},
	{Schema: testUserExt, ResourceType: "User", Name: "contractor", Type: Boolean},
	{Schema: testUserExt, ResourceType: "User", Name: "hired", Type: DateTime},
	{Schema: testUserExt, ResourceType: "User", Name: "tags", Type: String, MultiValued: true},
	{Schema: testUserExt, ResourceType: "User", Name: "homepage", Type: Reference, CaseExact: true},
	{Schema: testGroupExt, ResourceType: "Group", Name: "region", Type: String, CaseExact: true},
}

func TestDeclare(t *testing.T) {
	have := testDeclarations
	tests := []struct {
		name    string
		d       Declared
		status  int
		message string
	}{
		{name: "new attribute of a declared schema, URN in another case", d: Declared{Schema: "URN:ietf:params:scim:schemas:extension:customextensionname:2.0:User", ResourceType: "User", Name: "floor", Type: "INTEGER"}},
		{name: "new schema", d: Declared{Schema: ExtensionPrefix + "Other:1.0:User", ResourceType: "User", Name: "costCenter", Type: String}},
		{name: "not under the extension prefix", d: Declared{Schema: "urn:acme:User", ResourceType: "User", Name: "x", Type: String}, status: 400, message: "schema must be a URN under"},
		{name: "empty segment", d: Declared{Schema: ExtensionPrefix + "Acme::User", ResourceType: "User", Name: "x", Type: String}, status: 400, message: "schema must be a URN under"},
		{name: "quote in URN", d: Declared{Schema: ExtensionPrefix + "Ac'me:User", ResourceType: "User", Name: "x", Type: String}, status: 400, message: "schema must be a URN under"},
		{name: "enterprise URN", d: Declared{Schema: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", ResourceType: "User", Name: "x", Type: String}, status: 400, message: "served by this service"},
		{name: "under the enterprise URN", d: Declared{Schema: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:more", ResourceType: "User", Name: "x", Type: String}, status: 400, message: "served by this service"},
		{name: "prefix of a declared URN", d: Declared{Schema: ExtensionPrefix + "CustomExtensionName:2.0", ResourceType: "User", Name: "x", Type: String}, status: 400, message: "prefixes of one another"},
		{name: "core attribute", d: Declared{Schema: testUserExt, ResourceType: "User", Name: "UserName", Type: String}, status: 400, message: "core User schema"},
		{name: "core Group attribute", d: Declared{Schema: testGroupExt, ResourceType: "Group", Name: "members", Type: String}, status: 400, message: "core Group schema"},
		{name: "common attribute", d: Declared{Schema: testUserExt, ResourceType: "User", Name: "externalId", Type: String}, status: 400, message: "common attribute"},
		{name: "bad name", d: Declared{Schema: testUserExt, ResourceType: "User", Name: "cost.center", Type: String}, status: 400, message: "name must start with a letter"},
		{name: "complex type", d: Declared{Schema: testUserExt, ResourceType: "User", Name: "x", Type: Complex}, status: 400, message: "type must be one of"},
		{name: "unknown resource type", d: Declared{Schema: testUserExt, ResourceType: "Device", Name: "x", Type: String}, status: 400, message: "resourceType"},
		{name: "schema of the other resource type", d: Declared{Schema: testGroupExt, ResourceType: "User", Name: "x", Type: String}, status: 400, message: "extends Group"},
		{name: "duplicate in another case", d: Declared{Schema: testUserExt, ResourceType: "User", Name: "COSTCENTER", Type: String}, status: 409, message: "already declared"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			all, d, err := Declare(have, tt.d)
			if tt.status == 0 {
				require.NoError(t, err)
				require.Len(t, all, len(have)+1)
				require.Equal(t, d, all[len(all)-1])
				require.Contains(t, ExtensionTypes, d.Type)
				return
			}
			require.Error(t, err)
			se := err.(interface{ Error() string })
			require.Contains(t, se.Error(), tt.message)
			require.Contains(t, se.Error(), fmt.Sprint(tt.status))
		})
	}
	t.Run("URN spelt as declared", func(t *testing.T) {
		_, d, err := Declare(have, tests[0].d)
		require.NoError(t, err)
		require.Equal(t, testUserExt, d.Schema)
		require.Equal(t, Integer, d.Type)
	})
	t.Run("bounds", func(t *testing.T) {
		var many []Declared
		for i := range MaxExtensionAttributes {
			many = append(many, Declared{Schema: fmt.Sprintf("%sS%d:User", ExtensionPrefix, i%MaxExtensionSchemas), ResourceType: "User", Name: fmt.Sprintf("a%d", i), Type: String})
		}
		_, _, err := Declare(many, Declared{Schema: ExtensionPrefix + "S1:User", ResourceType: "User", Name: "one", Type: String})
		require.ErrorContains(t, err, "at most 100 extension attributes")
		_, _, err = Declare(many[:50], Declared{Schema: ExtensionPrefix + "S99:User", ResourceType: "User", Name: "one", Type: String})
		require.ErrorContains(t, err, "at most 20 extension schemas")
		_, _, err = Declare(many[:50], Declared{Schema: ExtensionPrefix + "S19:User", ResourceType: "User", Name: "one", Type: String})
		require.NoError(t, err)
	})
}

// TestKind_DeclaredExtension covers reading, patching and rendering a
// declared extension's values.
func TestKind_DeclaredExtension(t *testing.T) {
	user, _ := NewSchemas(testDeclarations...).Kinds()
	ext := func(body string) string { return `{"userName":"a@b","` + testUserExt + `":` + body + `}` }
	tests := []struct {
		name    string
		body    string
		want    string // the extension object stored, JSON
		dropped []string
		errType string
	}{
		{name: "typed values", body: ext(`{"costCenter":"CC-1","badge":42,"score":1.50,"contractor":"True","hired":"2026-01-31T09:00:00Z","tags":["a","A","b"],"homepage":"https://x"}`),
			want: `{"costCenter":"CC-1","badge":42,"score":1.5,"contractor":true,"hired":"2026-01-31T09:00:00Z","tags":["a","b"],"homepage":"https://x"}`},
		{name: "numbers in strings", body: ext(`{"badge":"7","score":"-0.25"}`), want: `{"badge":7,"score":-0.25}`},
		{name: "name in any case", body: ext(`{"CostCenter":"CC-1"}`), want: `{"costCenter":"CC-1"}`},
		{name: "URN-qualified attribute key", body: `{"userName":"a@b","` + testUserExt + `:costCenter":"CC-2"}`, want: `{"costCenter":"CC-2"}`},
		{name: "single value for a multi-valued attribute", body: ext(`{"tags":"x"}`), want: `{"tags":["x"]}`},
		{name: "undeclared attribute of a declared schema", body: ext(`{"floor":3}`), dropped: []string{testUserExt + ":floor"}},
		{name: "undeclared schema", body: `{"userName":"a@b","urn:ietf:params:scim:schemas:extension:Other:1.0:User":{"x":1}}`,
			dropped: []string{"urn:ietf:params:scim:schemas:extension:Other:1.0:User"}},
		{name: "bare name does not reach a declared attribute", body: `{"userName":"a@b","badge":1}`, dropped: []string{"badge"}},
		{name: "integer with a fraction", body: ext(`{"badge":1.5}`), errType: "invalidValue"},
		{name: "integer too large to store exactly", body: ext(`{"badge":9007199254740993}`), errType: "invalidValue"},
		{name: "integer as a word", body: ext(`{"badge":"forty"}`), errType: "invalidValue"},
		{name: "decimal as a boolean", body: ext(`{"score":true}`), errType: "invalidValue"},
		{name: "boolean as a word", body: ext(`{"contractor":"maybe"}`), errType: "invalidValue"},
		{name: "dateTime not RFC 3339", body: ext(`{"hired":"31/01/2026"}`), errType: "invalidValue"},
		{name: "dateTime as a number", body: ext(`{"hired":20260131}`), errType: "invalidValue"},
		{name: "string as an object", body: ext(`{"costCenter":{"a":1}}`), errType: "invalidValue"},
		{name: "extension not an object", body: ext(`"CC-1"`), errType: "invalidValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, dropped, err := user.Read([]byte(tt.body))
			if tt.errType != "" {
				require.Error(t, err)
				require.Contains(t, err.Error(), tt.errType)
				return
			}
			require.NoError(t, err)
			require.ElementsMatch(t, tt.dropped, dropped)
			got, _ := json.Marshal(doc[testUserExt])
			want := tt.want
			if want == "" {
				want = "null"
			}
			require.JSONEq(t, want, string(got))
		})
	}

	base := `{"userName":"a@b","` + testUserExt + `":{"costCenter":"CC-1","badge":1,"tags":["a","b"]}}`
	patches := []struct {
		name, ops, want string
		errType         string
	}{
		{name: "replace by URN-prefixed path, as Entra sends it", ops: `[{"op":"Replace","path":"` + testUserExt + `:costCenter","value":"CC-2"}]`,
			want: `{"costCenter":"CC-2","badge":1,"tags":["a","b"]}`},
		{name: "add by the schema URN with an object", ops: `[{"op":"add","path":"` + testUserExt + `","value":{"badge":"2","contractor":"False"}}]`,
			want: `{"costCenter":"CC-1","badge":2,"contractor":false,"tags":["a","b"]}`},
		{name: "path-less value with a URN-qualified key", ops: `[{"op":"replace","value":{"` + testUserExt + `:costCenter":"CC-3"}}]`,
			want: `{"costCenter":"CC-3","badge":1,"tags":["a","b"]}`},
		{name: "path-less value with the URN object", ops: `[{"op":"replace","value":{"` + testUserExt + `":{"costCenter":"CC-4"}}}]`,
			want: `{"costCenter":"CC-4","badge":1,"tags":["a","b"]}`},
		{name: "remove an attribute", ops: `[{"op":"remove","path":"` + testUserExt + `:costCenter"}]`, want: `{"badge":1,"tags":["a","b"]}`},
		{name: "clear with empty string", ops: `[{"op":"replace","path":"` + testUserExt + `:badge","value":""}]`, want: `{"costCenter":"CC-1","tags":["a","b"]}`},
		{name: "remove the whole extension", ops: `[{"op":"remove","path":"` + testUserExt + `"}]`, want: `null`},
		{name: "add to a multi-valued attribute, duplicates collapse", ops: `[{"op":"add","path":"` + testUserExt + `:tags","value":["B","c"]}]`,
			want: `{"costCenter":"CC-1","badge":1,"tags":["a","b","c"]}`},
		{name: "replace a multi-valued attribute", ops: `[{"op":"replace","path":"` + testUserExt + `:tags","value":["z"]}]`,
			want: `{"costCenter":"CC-1","badge":1,"tags":["z"]}`},
		{name: "remove one value of a multi-valued attribute", ops: `[{"op":"remove","path":"` + testUserExt + `:tags","value":["A"]}]`,
			want: `{"costCenter":"CC-1","badge":1,"tags":["b"]}`},
		{name: "wrong type", ops: `[{"op":"replace","path":"` + testUserExt + `:badge","value":"many"}]`, errType: "invalidValue"},
		{name: "wrong type inside the URN object", ops: `[{"op":"add","path":"` + testUserExt + `","value":{"hired":"soon"}}]`, errType: "invalidValue"},
		{name: "value filter on a simple attribute", ops: `[{"op":"remove","path":"` + testUserExt + `:tags[value eq \"a\"]"}]`, errType: "invalidPath"},
	}
	for _, tt := range patches {
		t.Run("PATCH "+tt.name, func(t *testing.T) {
			doc, _, err := user.Read([]byte(base))
			require.NoError(t, err)
			res, err := user.Patch(doc, []byte(`{"Operations":`+tt.ops+`}`))
			if tt.errType != "" {
				require.Error(t, err)
				require.Contains(t, err.Error(), tt.errType)
				return
			}
			require.NoError(t, err)
			got, _ := json.Marshal(res.Doc[testUserExt])
			require.JSONEq(t, tt.want, string(got))
		})
	}

	t.Run("render and project", func(t *testing.T) {
		doc, _, err := user.Read([]byte(base))
		require.NoError(t, err)
		// A value of an attribute no longer declared is not returned.
		doc[testUserExt].(map[string]any)["retired"] = "x"
		out := user.Render(doc, Meta{ID: "u1"}, "https://b", nil)
		require.Equal(t, []any{"urn:ietf:params:scim:schemas:core:2.0:User", testUserExt}, out["schemas"])
		require.Equal(t, map[string]any{"costCenter": "CC-1", "badge": float64(1), "tags": []any{"a", "b"}}, out[testUserExt])
		ParseProjection(testUserExt+":costCenter", "").Apply(user, out)
		require.Equal(t, map[string]any{"costCenter": "CC-1"}, out[testUserExt])
		require.NotContains(t, out, "userName")
		out = user.Render(doc, Meta{ID: "u1"}, "https://b", nil)
		ParseProjection("", testUserExt+":badge").Apply(user, out)
		require.Equal(t, map[string]any{"costCenter": "CC-1", "tags": []any{"a", "b"}}, out[testUserExt])
	})
}

func TestKind_DeclaredExtensionFilter(t *testing.T) {
	user, _ := NewSchemas(testDeclarations...).Kinds()
	tests := []struct {
		filter  string
		errText string
	}{
		{filter: testUserExt + `:costCenter eq "CC-1"`},
		{filter: testUserExt + `:costCenter co "C" and ` + testUserExt + `:badge gt 5`},
		{filter: testUserExt + `:hired ge "2026-01-01T00:00:00Z"`},
		{filter: testUserExt + `:score le "2.5"`},
		{filter: testUserExt + `:contractor eq true`},
		{filter: testUserExt + `:tags eq "a"`},
		{filter: testUserExt + `:badge pr`},
		{filter: testUserExt + `:badge co 4`, errText: "supports eq, ne, gt, ge, lt, le and pr"},
		{filter: testUserExt + `:badge eq "many"`, errText: "compares with a number"},
		{filter: testUserExt + `:contractor gt true`, errText: "booleans support only eq and ne"},
		{filter: testUserExt + `:floor eq 1`, errText: "unknown attribute"},
		{filter: `badge eq 1`, errText: "unknown attribute"},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			f, err := user.ParseFilter(tt.filter)
			if tt.errText != "" {
				require.ErrorContains(t, err, tt.errText)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, f)
		})
	}
}
