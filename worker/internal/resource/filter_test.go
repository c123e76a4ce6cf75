package resource

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestKind_ParseFilter(t *testing.T) {
	user, group := NewSchemas().Kinds()
	tests := []struct {
		name    string
		kind    *Kind
		filter  string
		wantErr bool
		check   func(t *testing.T, f Filter)
	}{
		{name: "eq", kind: user, filter: `userName eq "a@b"`, check: func(t *testing.T, f Filter) {
			c := f.(Compare)
			require.Equal(t, "userName", c.Ref.Attr.Name)
			require.Equal(t, "eq", c.Op)
			require.Equal(t, "a@b", c.Value)
		}},
		{name: "keywords in any case", kind: user, filter: `USERNAME Eq "x" AND active EQ true`, check: func(t *testing.T, f Filter) {
			a := f.(And)
			require.Equal(t, true, a.Right.(Compare).Value)
		}},
		{name: "every comparison operator", kind: user, filter: `title ne "a" or title co "b" or title sw "c" or title ew "d" or title gt "e" or title ge "f" or title lt "g" or title le "h" or title pr`},
		{name: "not and grouping", kind: user, filter: `not (title pr) and (userName eq "a" or userName eq "b")`, check: func(t *testing.T, f Filter) {
			a := f.(And)
			_, isNot := a.Left.(Not)
			require.True(t, isNot)
			_, isOr := a.Right.(Or)
			require.True(t, isOr)
		}},
		{name: "value path", kind: user, filter: `emails[type eq "work" and value co "@x"]`, check: func(t *testing.T, f Filter) {
			require.Equal(t, "emails", f.(ValuePath).Top.Attr.Name)
		}},
		{name: "Entra value path with sub-attribute", kind: user, filter: `emails[type eq "work"].value eq "a@b"`, check: func(t *testing.T, f Filter) {
			vp := f.(ValuePath)
			inner := vp.Filter.(And)
			require.Equal(t, "value", inner.Right.(Compare).Ref.Sub.Name)
		}},
		{name: "unquoted value (old docs)", kind: user, filter: `externalId eq jyoung`, check: func(t *testing.T, f Filter) {
			require.Equal(t, "jyoung", f.(Compare).Value)
		}},
		{name: "string booleans", kind: user, filter: `active eq "False"`, check: func(t *testing.T, f Filter) {
			require.Equal(t, false, f.(Compare).Value)
		}},
		{name: "bare manager compares its value", kind: user, filter: `manager eq "m1"`, check: func(t *testing.T, f Filter) {
			c := f.(Compare)
			require.Equal(t, EnterpriseSchema().ID, c.Ref.Schema.ID)
			require.Equal(t, "value", c.Ref.Sub.Name)
		}},
		{name: "URN-qualified extension attribute", kind: user, filter: `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "R&D"`},
		{name: "core URN prefix", kind: user, filter: `urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a"`},
		{name: "meta dates", kind: user, filter: `meta.lastModified gt "2024-01-01T00:00:00Z"`},
		{name: "group membership", kind: group, filter: `id eq "g" and members eq "u"`},
		{name: "group member value path", kind: group, filter: `members[value eq "u"]`},
		{name: "unknown attribute", kind: user, filter: `shoeSize eq "42"`, wantErr: true},
		{name: "unknown sub-attribute", kind: user, filter: `name.nick eq "x"`, wantErr: true},
		{name: "missing value", kind: user, filter: `userName eq`, wantErr: true},
		{name: "unterminated string", kind: user, filter: `userName eq "abc`, wantErr: true},
		{name: "boolean on string", kind: user, filter: `userName eq true`, wantErr: true},
		{name: "gt on boolean", kind: user, filter: `active gt true`, wantErr: true},
		{name: "gt on boolean spelled as Entra's string", kind: user, filter: `active gt "True"`, wantErr: true},
		{name: "co on boolean spelled as a string", kind: user, filter: `emails[primary co "true"]`, wantErr: true},
		{name: "too deep", kind: user, filter: deepFilter(40), wantErr: true},
		{name: "unknown schema URN", kind: user, filter: `urn:example:x:foo eq "1"`, wantErr: true},
		{name: "members on users", kind: user, filter: `members eq "x"`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := tt.kind.ParseFilter(tt.filter)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, f)
			if tt.check != nil {
				tt.check(t, f)
			}
		})
	}
}

func deepFilter(n int) string {
	s := `userName eq "x"`
	for range n {
		s = "(" + s + ")"
	}
	return s
}

func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		`userName eq "a"`, `emails[type eq "work"].value eq "x"`, `not (title pr) or active eq "True"`,
		`members[value eq "u"] and id eq "g"`, `externalId eq bare`, `meta.created ge "2020-01-01T00:00:00Z"`,
	} {
		f.Add(s)
	}
	user, group := NewSchemas().Kinds()
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = user.ParseFilter(s)
		_, _ = group.ParseFilter(s)
		_, _ = ParseRootFilter(s, user, group)
		_, _ = user.ParseSort(s, "descending")
		_, _ = group.ParseSort(s, "")
	})
}
