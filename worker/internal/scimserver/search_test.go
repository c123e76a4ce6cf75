package scimserver

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scim"
)

func TestSearchQuery(t *testing.T) {
	const urn = `"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]`
	tests := []struct {
		name, body string
		want       query
		scimType   string
	}{
		{name: "everything", body: `{` + urn + `,"attributes":["userName","emails.value"],"excludedAttributes":["meta"],
			"filter":"userName sw \"a\"","sortBy":"userName","sortOrder":"descending","startIndex":2,"count":10}`,
			want: query{"attributes": "userName,emails.value", "excludedattributes": "meta", "filter": `userName sw "a"`,
				"sortby": "userName", "sortorder": "descending", "startindex": "2", "count": "10"}},
		{name: "only schemas", body: `{` + urn + `}`, want: query{}},
		{name: "member names in any case, URN in any case", body: `{"Schemas":["URN:ietf:params:scim:api:messages:2.0:searchrequest"],"FILTER":"x pr","StartIndex":1}`,
			want: query{"filter": "x pr", "startindex": "1"}},
		{name: "nulls are absent", body: `{` + urn + `,"filter":null,"count":null,"attributes":null}`, want: query{}},
		{name: "unknown members ignored", body: `{` + urn + `,"cursor":"abc","nested":{"a":1}}`, want: query{}},
		{name: "attributes as one string", body: `{` + urn + `,"attributes":"userName,title"}`, want: query{"attributes": "userName,title"}},
		{name: "number as a string", body: `{` + urn + `,"count":"5"}`, want: query{"count": "5"}},
		{name: "fraction passed on for the GET rules", body: `{` + urn + `,"count":1.5}`, want: query{"count": "1.5"}},
		{name: "empty body", body: ``, scimType: scim.TypeInvalidSyntax},
		{name: "not JSON", body: `filter=userName`, scimType: scim.TypeInvalidSyntax},
		{name: "array", body: `[{` + urn + `}]`, scimType: scim.TypeInvalidSyntax},
		{name: "null", body: `null`, scimType: scim.TypeInvalidSyntax},
		{name: "trailing data", body: `{` + urn + `} {}`, scimType: scim.TypeInvalidSyntax},
		{name: "no schemas", body: `{"filter":"userName pr"}`, scimType: scim.TypeInvalidSyntax},
		{name: "other schema", body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}`, scimType: scim.TypeInvalidSyntax},
		{name: "schemas not a list", body: `{"schemas":"urn:ietf:params:scim:api:messages:2.0:SearchRequest"}`, scimType: scim.TypeInvalidSyntax},
		{name: "filter not a string", body: `{` + urn + `,"filter":{"userName":"a"}}`, scimType: scim.TypeInvalidSyntax},
		{name: "attributes of numbers", body: `{` + urn + `,"attributes":[1,2]}`, scimType: scim.TypeInvalidSyntax},
		{name: "count not a number", body: `{` + urn + `,"count":"ten"}`, scimType: scim.TypeInvalidSyntax},
		{name: "startIndex a boolean", body: `{` + urn + `,"startIndex":true}`, scimType: scim.TypeInvalidSyntax},
		{name: "NUL in a filter", body: `{` + urn + `,"filter":"a\u0000"}`, scimType: scim.TypeInvalidSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := searchQuery([]byte(tt.body))
			if tt.scimType != "" {
				var se *scim.Error
				require.True(t, errors.As(err, &se), "got %v", err)
				require.Equal(t, 400, se.Status)
				require.Equal(t, tt.scimType, se.ScimType)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, q)
		})
	}
}
