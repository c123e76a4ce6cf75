package policy_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/worker/internal/policy"
)

// withMappingDoc returns the default bundle with mapping as its mapping.
func withMappingDoc(t testing.TB, mapping string) policy.Bundle {
	b := defaultBundle(t)
	b.Mapping = json.RawMessage(mapping)
	return b
}

const customExt = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"

// TestDecider_Reads: what a policy reads of input.user decides when a
// user must be re-evaluated, so it must never miss a read.
func TestDecider_Reads(t *testing.T) {
	const head = "package scimplane.permissions\n\ndecision := {\"permissions\": [], \"sets\": [], \"grants\": []} if "
	tests := []struct {
		name   string
		bundle policy.Bundle
		want   [][]string // nil: anything
	}{
		{
			name:   "default policy: active and the mapping's condition attributes",
			bundle: defaultBundle(t),
			want:   [][]string{{"active"}, {enterprise, "department"}},
		},
		{
			name:   "constant paths, cut at the first computed key",
			bundle: withModule(t, "permissions.rego", head+"{\n\tinput.user.title == \"x\"\n\tinput.user.emails[_].value == \"y\"\n}\n"),
			want:   [][]string{{"title"}, {"emails"}},
		},
		{
			// Declared extension attributes are under their URN, like the
			// enterprise extension's.
			name:   "a declared extension attribute, by reference",
			bundle: withModule(t, "permissions.rego", head+"{\n\tinput.user[\""+customExt+"\"].costCenter == \"CC-9\"\n\tinput.user[\""+customExt+"\"].tags[_] == \"x\"\n}\n"),
			want:   [][]string{{customExt, "costCenter"}, {customExt, "tags"}},
		},
		{
			name: "a declared extension attribute in a mapping condition",
			bundle: withMappingDoc(t, `{"permission_sets":{"v":{"description":"v","permissions":["forms.view"]}},
				"grants":[{"name":"g","group":{"displayName":"G"},"sets":["v"],"when":[{"attribute":"`+customExt+`:costCenter","equals":"CC-9"}]}]}`),
			want: [][]string{{"active"}, {customExt, "costCenter"}},
		},
		{
			name:   "groups only",
			bundle: withModule(t, "permissions.rego", head+"{\n\tcount(input.groups) > 0\n}\n"),
			want:   [][]string{},
		},
		{
			name:   "the user object whole, nothing listed",
			bundle: withModule(t, "permissions.rego", head+"{\n\tcount(input.user) > 3\n}\n"),
			want:   nil,
		},
		{
			name:   "a computed key, nothing listed",
			bundle: withModule(t, "permissions.rego", head+"{\n\tsome k\n\tinput.user[k] == \"x\"\n}\n"),
			want:   nil,
		},
		{
			name:   "input whole",
			bundle: withModule(t, "permissions.rego", head+"{\n\tx := input\n\tx.user.title == \"y\"\n}\n"),
			want:   nil,
		},
		{
			name: "a computed key, listed",
			bundle: withModule(t, "permissions.rego", head+"{\n\tobject.get(input.user, \"title\", null) == \"x\"\n}\n\n"+
				"user_attributes contains [\"title\"]\n"),
			want: [][]string{{"title"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := policy.Compile(context.Background(), tt.bundle, policy.Options{})
			require.NoError(t, err)
			got := d.Reads()
			if tt.want == nil {
				require.Nil(t, got)
				return
			}
			require.NotNil(t, got)
			require.ElementsMatch(t, tt.want, got)
		})
	}
}
