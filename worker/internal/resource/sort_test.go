package resource

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scim"
)

func TestKind_ParseSort(t *testing.T) {
	user, group := NewSchemas().Kinds()
	ent := EnterpriseSchema().ID
	tests := []struct {
		name, sortBy, order string
		kind                *Kind
		attr, sub           string // resolved attribute and sub-attribute
		desc                bool
		scimType            string // error expected
	}{
		{name: "none", kind: user, sortBy: "", order: "bogus"},
		{name: "singular", kind: user, sortBy: "userName", attr: "userName"},
		{name: "any case, descending", kind: user, sortBy: "DisplayName", order: "Descending", attr: "displayName", desc: true},
		{name: "sub-attribute", kind: user, sortBy: "name.givenName", attr: "name", sub: "givenName"},
		{name: "multi-valued reads value", kind: user, sortBy: "emails", attr: "emails", sub: "value"},
		{name: "multi-valued sub-attribute", kind: user, sortBy: "phoneNumbers.type", attr: "phoneNumbers", sub: "type"},
		{name: "extension URN", kind: user, sortBy: ent + ":department", attr: "department"},
		{name: "bare extension attribute", kind: user, sortBy: "employeeNumber", attr: "employeeNumber"},
		{name: "manager reads value", kind: user, sortBy: "manager", attr: "manager", sub: "value"},
		{name: "meta dates", kind: group, sortBy: "meta.lastModified", attr: "meta", sub: "lastModified"},
		{name: "id", kind: group, sortBy: "id", attr: "id"},
		{name: "externalId", kind: group, sortBy: "externalId", attr: "externalId"},
		{name: "complex without value", kind: user, sortBy: "name", scimType: scim.TypeInvalidPath},
		{name: "addresses", kind: user, sortBy: "addresses", scimType: scim.TypeInvalidPath},
		{name: "unknown", kind: user, sortBy: "shoeSize", scimType: scim.TypeInvalidPath},
		{name: "unknown sub-attribute", kind: user, sortBy: "name.nickname", scimType: scim.TypeInvalidPath},
		{name: "a filter", kind: user, sortBy: `emails[type eq "work"]`, scimType: scim.TypeInvalidPath},
		{name: "meta.version", kind: user, sortBy: "meta.version", scimType: scim.TypeInvalidPath},
		{name: "members", kind: group, sortBy: "members", scimType: scim.TypeInvalidPath},
		{name: "members.value", kind: group, sortBy: "members.value", scimType: scim.TypeInvalidPath},
		{name: "user attribute on groups", kind: group, sortBy: "userName", scimType: scim.TypeInvalidPath},
		{name: "bad order", kind: user, sortBy: "userName", order: "up", scimType: scim.TypeInvalidValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.kind.ParseSort(tt.sortBy, tt.order)
			if tt.scimType != "" {
				var se *scim.Error
				require.True(t, errors.As(err, &se), "got %v", err)
				require.Equal(t, 400, se.Status)
				require.Equal(t, tt.scimType, se.ScimType)
				return
			}
			require.NoError(t, err)
			if tt.attr == "" {
				require.Nil(t, s)
				return
			}
			require.Equal(t, tt.attr, s.Ref.Attr.Name)
			if tt.sub == "" {
				require.Nil(t, s.Ref.Sub)
			} else {
				require.Equal(t, tt.sub, s.Ref.Sub.Name)
			}
			require.Equal(t, tt.desc, s.Descending)
		})
	}
}

// TestParseRootFilter: in a query over Users and Groups, an attribute one
// type lacks compares as having no value there (RFC 7644 section 3.4.2.1);
// an attribute neither has is an error.
func TestParseRootFilter(t *testing.T) {
	user, group := NewSchemas().Kinds()
	tests := []struct {
		filter        string
		users, groups string // "compare", "valuePath", "true", "false", "and", "or", "not"
		err           bool
	}{
		{filter: ``, users: "nil", groups: "nil"},
		{filter: `displayName eq "x"`, users: "compare", groups: "compare"},
		{filter: `userName eq "x"`, users: "compare", groups: "false"},
		{filter: `userName ne "x"`, users: "compare", groups: "true"},
		{filter: `userName eq null`, users: "compare", groups: "true"},
		{filter: `userName ne null`, users: "compare", groups: "false"},
		{filter: `userName pr`, users: "compare", groups: "false"},
		{filter: `userName sw "a"`, users: "compare", groups: "false"},
		{filter: `members eq "u"`, users: "false", groups: "compare"},
		{filter: `emails[type eq "work"]`, users: "valuePath", groups: "false"},
		{filter: `not (userName pr)`, users: "not", groups: "not"},
		{filter: `userName eq "x" or displayName eq "y"`, users: "or", groups: "or"},
		{filter: `meta.resourceType eq "Group"`, users: "compare", groups: "compare"},
		{filter: `shoeSize eq "42"`, err: true},
		{filter: `userName eq "x" and shoeSize eq "42"`, err: true},
		{filter: `active eq "maybe"`, err: true},
		{filter: `userName eq`, err: true},
	}
	shape := func(f Filter) string {
		switch t := f.(type) {
		case nil:
			return "nil"
		case Compare:
			return "compare"
		case ValuePath:
			return "valuePath"
		case Const:
			if t.Value {
				return "true"
			}
			return "false"
		case And:
			return "and"
		case Or:
			return "or"
		case Not:
			return "not"
		}
		return "?"
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			fs, err := ParseRootFilter(tt.filter, user, group)
			if tt.err {
				var se *scim.Error
				require.True(t, errors.As(err, &se), "got %v", err)
				require.Equal(t, scim.TypeInvalidFilter, se.ScimType)
				return
			}
			require.NoError(t, err)
			require.Equal(t, []string{tt.users, tt.groups}, []string{shape(fs[0]), shape(fs[1])})
		})
	}
	// Within a single type, an unknown attribute stays an error.
	_, err := group.ParseFilter(`userName eq "x"`)
	require.Error(t, err)
}
