package resource

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestKind_RenderGroupMembers: members are returned by default (the Group
// schema's members has returned "default"), so a write response can carry
// them; a projection keeps or drops them as on a GET.
func TestKind_RenderGroupMembers(t *testing.T) {
	_, group := NewSchemas().Kinds()
	base := "https://scim.example.net/scim/t/v2"
	at := time.Date(2025, 1, 10, 8, 0, 0, 123456000, time.UTC)
	meta := Meta{ID: "g1", Created: at, LastModified: at, Version: 2}
	members := []Member{{Value: "u1", Display: "Ann"}, {Value: "u2"}}
	tests := []struct {
		name       string
		attributes string
		excluded   string
		members    []Member
		want       string // JSON of members, "" when absent
	}{
		{name: "default", members: members,
			want: `[{"value":"u1","$ref":"` + base + `/Users/u1","type":"User","display":"Ann"},{"value":"u2","$ref":"` + base + `/Users/u2","type":"User"}]`},
		{name: "a group without members", members: []Member{}, want: `[]`},
		{name: "excludedAttributes=members", excluded: "members", members: members},
		{name: "excludedAttributes=Members, any case", excluded: "Members", members: members},
		{name: "attributes=displayName", attributes: "displayName", members: members},
		{name: "attributes=members.value", attributes: "members.value", members: members, want: `[{"value":"u1"},{"value":"u2"}]`},
		{name: "excludedAttributes=members.display", excluded: "members.display", members: members,
			want: `[{"value":"u1","$ref":"` + base + `/Users/u1","type":"User"},{"value":"u2","$ref":"` + base + `/Users/u2","type":"User"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ParseProjection(tt.attributes, tt.excluded)
			require.Equal(t, tt.want != "", p.Returns(group, "members"), "Returns must agree with Apply")
			out := group.Render(Doc{"displayName": "G"}, meta, base, tt.members)
			p.Apply(group, out)
			require.Equal(t, "g1", out["id"])
			if tt.want == "" {
				require.NotContains(t, out, "members")
				return
			}
			got, _ := json.Marshal(out["members"])
			require.JSONEq(t, tt.want, string(got))
		})
	}
}

// TestKind_RenderTimestamps: meta times are spelled with the microseconds
// the store keeps, whatever precision the caller's clock has.
func TestKind_RenderTimestamps(t *testing.T) {
	user, _ := NewSchemas().Kinds()
	tests := []struct {
		at   time.Time
		want string
	}{
		{time.Date(2025, 1, 10, 8, 0, 0, 123456789, time.UTC), "2025-01-10T08:00:00.123456Z"},
		{time.Date(2025, 1, 10, 8, 0, 0, 999999999, time.UTC), "2025-01-10T08:00:00.999999Z"},
		{time.Date(2025, 1, 10, 8, 0, 0, 0, time.UTC), "2025-01-10T08:00:00Z"},
		{time.Date(2025, 1, 10, 10, 0, 0, 500, time.FixedZone("CEST", 2*3600)), "2025-01-10T08:00:00Z"},
	}
	for _, tt := range tests {
		out := user.Render(Doc{"userName": "a"}, Meta{ID: "u", Created: tt.at, LastModified: tt.at}, "https://x", nil)
		m := out["meta"].(map[string]any)
		require.Equal(t, tt.want, m["created"])
		require.Equal(t, tt.want, m["lastModified"])
	}
}
