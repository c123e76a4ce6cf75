package app

import (
	"net/url"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFilters_SQL runs the filter grammar against PostgreSQL: each filter
// must return exactly the expected users.
func TestFilters_SQL(t *testing.T) {
	w := newTestWorker(t)
	users := []string{
		`{"userName":"ann@contoso.com","displayName":"Ann Lee","title":"Engineer","active":true,"externalId":"A1",
		  "emails":[{"type":"work","value":"ann@mail.contoso.com","primary":true},{"type":"home","value":"ann@home.example"}],
		  "name":{"givenName":"Ann","familyName":"Lee"},
		  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"R&D","employeeNumber":"100"}}`,
		`{"userName":"bob@contoso.com","displayName":"Bob Ray","title":"Manager","active":"False","externalId":"b2",
		  "emails":[{"type":"work","value":"bob@mail.contoso.com"}],"name":{"givenName":"Bob","familyName":"Ray"},
		  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Sales","employeeNumber":"200"}}`,
		`{"userName":"cy@fabrikam.com","displayName":"Cy","active":true,"phoneNumbers":[{"type":"mobile","value":"+1 555"}],
		  "roles":[{"primary":"True","value":"Reader"}]}`,
		`{"userName":"dee@contoso.com","title":"engineer","emails":[{"type":"other","value":"DEE@old.contoso.com"}]}`,
	}
	for _, u := range users {
		create(t, w, "/Users", u)
	}
	ids := map[string]string{}
	_, all, _ := do(t, w, "GET", "/Users", "", "")
	for _, r := range all["Resources"].([]any) {
		m := r.(map[string]any)
		ids[m["userName"].(string)] = m["id"].(string)
	}
	patch(t, w, "/Users/"+ids["ann@contoso.com"], `[{"op":"add","path":"manager","value":"`+ids["bob@contoso.com"]+`"}]`, 200)

	tests := []struct {
		filter string
		want   []string
	}{
		{`userName eq "ANN@contoso.com"`, []string{"ann"}},
		{`userName ne "ann@contoso.com"`, []string{"bob", "cy", "dee"}},
		{`userName co "CONTOSO"`, []string{"ann", "bob", "dee"}},
		{`userName sw "b"`, []string{"bob"}},
		{`userName ew "fabrikam.com"`, []string{"cy"}},
		{`userName gt "bob@contoso.com"`, []string{"cy", "dee"}},
		{`userName le "bob@contoso.com"`, []string{"ann", "bob"}},
		{`title pr`, []string{"ann", "bob", "dee"}},
		{`not (title pr)`, []string{"cy"}},
		{`title eq "engineer"`, []string{"ann", "dee"}},
		{`externalId eq "a1"`, nil},
		{`externalId eq "A1"`, []string{"ann"}},
		{`active eq false`, []string{"bob"}},
		{`active eq true and title pr`, []string{"ann", "dee"}},
		{`active ne false`, []string{"ann", "cy", "dee"}},
		{`displayName sw "A" or displayName sw "c"`, []string{"ann", "cy"}},
		{`(title eq "Engineer" or title eq "Manager") and not (userName sw "bob")`, []string{"ann", "dee"}},
		{`emails co "old.contoso"`, []string{"dee"}},
		{`emails.value eq "bob@mail.contoso.com"`, []string{"bob"}},
		{`emails[type eq "work" and primary eq true]`, []string{"ann"}},
		{`emails[type eq "work"].value eq "ANN@mail.contoso.com"`, []string{"ann"}},
		{`emails[type eq "home" or type eq "other"]`, []string{"ann", "dee"}},
		{`emails pr`, []string{"ann", "bob", "dee"}},
		{`phoneNumbers[type eq "mobile"]`, []string{"cy"}},
		{`roles[primary eq "True"].value eq "Reader"`, []string{"cy"}},
		{`name.familyName eq "ray"`, []string{"bob"}},
		{`name.givenName pr`, []string{"ann", "bob"}},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "r&d"`, []string{"ann"}},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber ge "150"`, []string{"bob"}},
		{`manager eq "` + ids["bob@contoso.com"] + `"`, []string{"ann"}},
		{`manager.value pr`, []string{"ann"}},
		{`id eq "` + ids["cy@fabrikam.com"] + `" and userName eq "cy@fabrikam.com"`, []string{"cy"}},
		{`meta.created gt "2000-01-01T00:00:00Z"`, []string{"ann", "bob", "cy", "dee"}},
		{`meta.lastModified lt "2000-01-01T00:00:00Z"`, nil},
	}
	short := func(userName string) string {
		for i, c := range userName {
			if c == '@' {
				return userName[:i]
			}
		}
		return userName
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			status, out, reply := do(t, w, "GET", "/Users", "filter="+url.QueryEscape(tt.filter), "")
			require.Equal(t, 200, status, string(reply.Body))
			var got []string
			for _, r := range out["Resources"].([]any) {
				got = append(got, short(r.(map[string]any)["userName"].(string)))
			}
			sort.Strings(got)
			require.Equal(t, tt.want, got)
			require.EqualValues(t, len(tt.want), out["totalResults"])
		})
	}
}
