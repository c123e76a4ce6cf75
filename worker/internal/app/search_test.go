package app

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

const searchURN = `"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]`

// TestWorker_SearchWithPOST: POST /Users/.search, /Groups/.search and
// /.search answered 404/405 (RFC 7644 section 3.4.3). A search answers as
// the GET with the same parameters does, on each resource type and on the
// server root.
func TestWorker_SearchWithPOST(t *testing.T) {
	w := newTestWorker(t)
	ann := create(t, w, "/Users", `{"userName":"ann@contoso.com","displayName":"Ann","title":"Engineer"}`)
	bob := create(t, w, "/Users", `{"userName":"bob@contoso.com","displayName":"Bob","active":false}`)
	cy := create(t, w, "/Users", `{"userName":"cy@contoso.com","title":"engineer"}`)
	sales := create(t, w, "/Groups", `{"displayName":"Sales","members":[{"value":"`+ann+`"},{"value":"`+bob+`"}]}`)
	eng := create(t, w, "/Groups", `{"displayName":"Eng","externalId":"e-1"}`)

	// Every GET and the search carrying the same parameters answer alike.
	same := []struct {
		path, get, search string
	}{
		{"/Users", "", `{` + searchURN + `}`},
		{"/Users", "filter=" + url.QueryEscape(`title eq "engineer"`) + "&attributes=userName,title",
			`{` + searchURN + `,"filter":"title eq \"engineer\"","attributes":["userName","title"]}`},
		{"/Users", "excludedAttributes=meta,emails&sortBy=displayName&sortOrder=descending&startIndex=2&count=1",
			`{` + searchURN + `,"excludedAttributes":["meta","emails"],"sortBy":"displayName","sortOrder":"descending","startIndex":2,"count":1}`},
		{"/Users", "count=0", `{` + searchURN + `,"count":0}`},
		{"/Groups", "excludedAttributes=members&filter=" + url.QueryEscape(`displayName eq "sales"`),
			`{` + searchURN + `,"excludedAttributes":["members"],"filter":"displayName eq \"sales\""}`},
		{"/Groups", "filter=" + url.QueryEscape(`members eq "`+bob+`"`), `{` + searchURN + `,"filter":"members eq \"` + bob + `\""}`},
		{"/", "", `{` + searchURN + `}`},
		{"/", "filter=" + url.QueryEscape(`displayName sw "s" or userName sw "c"`) + "&sortBy=displayName",
			`{` + searchURN + `,"filter":"displayName sw \"s\" or userName sw \"c\"","sortBy":"displayName"}`},
	}
	for _, tt := range same {
		t.Run("same as GET "+tt.path+"?"+tt.get, func(t *testing.T) {
			status, viaGet, reply := do(t, w, "GET", tt.path, tt.get, "")
			require.Equal(t, 200, status, string(reply.Body))
			searchPath := tt.path + "/.search"
			if tt.path == "/" {
				searchPath = "/.search"
			}
			status, viaPost, reply := do(t, w, "POST", searchPath, "", tt.search)
			require.Equal(t, 200, status, string(reply.Body))
			require.Equal(t, viaGet, viaPost)
			require.Equal(t, []any{"urn:ietf:params:scim:api:messages:2.0:ListResponse"}, viaPost["schemas"])
		})
	}

	ids := func(out map[string]any) []string {
		got := []string{}
		for _, r := range out["Resources"].([]any) {
			got = append(got, r.(map[string]any)["id"].(string))
		}
		return got
	}
	// The server root: users first, then groups, each in creation order;
	// sorted, merged; a filter attribute one type lacks has no value there.
	root := []struct {
		name, body string
		total      int
		want       []string
	}{
		{"everything", `{` + searchURN + `}`, 5, []string{ann, bob, cy, sales, eng}},
		{"a page across the types", `{` + searchURN + `,"startIndex":3,"count":2}`, 5, []string{cy, sales}},
		{"a page of groups", `{` + searchURN + `,"startIndex":4,"count":5}`, 5, []string{sales, eng}},
		{"past the end", `{` + searchURN + `,"startIndex":6}`, 5, []string{}},
		{"only the count", `{` + searchURN + `,"count":0}`, 5, []string{}},
		{"an attribute only users have", `{` + searchURN + `,"filter":"userName pr"}`, 3, []string{ann, bob, cy}},
		{"its negation", `{` + searchURN + `,"filter":"not (userName pr)"}`, 2, []string{sales, eng}},
		{"ne on a missing attribute", `{` + searchURN + `,"filter":"userName ne \"ann@contoso.com\""}`, 4, []string{bob, cy, sales, eng}},
		{"an attribute only groups have", `{` + searchURN + `,"filter":"members eq \"` + ann + `\""}`, 1, []string{sales}},
		{"the resource type", `{` + searchURN + `,"filter":"meta.resourceType eq \"Group\""}`, 2, []string{sales, eng}},
		{"shared attribute", `{` + searchURN + `,"filter":"displayName pr"}`, 4, []string{ann, bob, sales, eng}},
		{"sorted across types", `{` + searchURN + `,"sortBy":"displayName"}`, 5, []string{ann, bob, eng, sales, cy}},
		{"sorted descending, paged", `{` + searchURN + `,"sortBy":"displayName","sortOrder":"descending","startIndex":2,"count":2}`, 5, []string{sales, eng}},
		{"sorted by a user attribute", `{` + searchURN + `,"sortBy":"title"}`, 5, []string{ann, cy, bob, sales, eng}},
		{"sorted by a group attribute, filtered", `{` + searchURN + `,"sortBy":"externalId","filter":"displayName pr"}`, 4, []string{eng, ann, bob, sales}},
	}
	for _, tt := range root {
		t.Run("root "+tt.name, func(t *testing.T) {
			status, out, reply := do(t, w, "POST", "/.search", "", tt.body)
			require.Equal(t, 200, status, string(reply.Body))
			require.EqualValues(t, tt.total, out["totalResults"])
			require.Equal(t, tt.want, ids(out))
			require.EqualValues(t, len(tt.want), out["itemsPerPage"])
		})
	}

	t.Run("root results name their type", func(t *testing.T) {
		status, out, reply := do(t, w, "POST", "/.search", "", `{`+searchURN+`,"attributes":["userName","members"],"filter":"id eq \"`+ann+`\" or id eq \"`+sales+`\""}`)
		require.Equal(t, 200, status, string(reply.Body))
		require.Equal(t, []any{
			map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "id": ann, "userName": "ann@contoso.com"},
			map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "id": sales, "members": []any{
				map[string]any{"value": ann, "display": "Ann", "type": "User", "$ref": testBase + "/Users/" + ann},
				map[string]any{"value": bob, "display": "Bob", "type": "User", "$ref": testBase + "/Users/" + bob},
			}},
		}, out["Resources"])
	})

	t.Run("the log records the filter of a search", func(t *testing.T) {
		status, _, _ := doEx(t, w, &scimworker.Exchange{RequestID: "search-log", Method: "POST", Path: "/Users/.search",
			Body: []byte(`{` + searchURN + `,"filter":"userName eq \"ann@contoso.com\""}`)})
		require.Equal(t, 200, status)
		var filter, resourceType string
		require.NoError(t, w.pool.Load().QueryRow(context.Background(),
			`SELECT filter, resource_type FROM scim_requests WHERE request_id = 'search-log'`).Scan(&filter, &resourceType))
		require.Equal(t, `userName eq "ann@contoso.com"`, filter)
		require.Equal(t, "User", resourceType)
	})

	bad := []struct {
		name, method, path, body string
		status                   int
		scimType                 string
	}{
		{"GET on .search", "GET", "/Users/.search", "", 405, ""},
		{"PUT on .search", "PUT", "/Groups/.search", `{` + searchURN + `}`, 405, ""},
		{"GET on root .search", "GET", "/.search", "", 405, ""},
		{"POST on the root", "POST", "/", `{` + searchURN + `}`, 405, ""},
		{"no body", "POST", "/Users/.search", "", 400, "invalidSyntax"},
		{"not JSON", "POST", "/.search", "filter=userName+pr", 400, "invalidSyntax"},
		{"no SearchRequest schema", "POST", "/Users/.search", `{"filter":"userName pr"}`, 400, "invalidSyntax"},
		{"filter of the wrong type", "POST", "/Groups/.search", `{` + searchURN + `,"filter":["a"]}`, 400, "invalidSyntax"},
		{"count of the wrong type", "POST", "/Users/.search", `{` + searchURN + `,"count":"ten"}`, 400, "invalidSyntax"},
		{"count not an integer", "POST", "/Users/.search", `{` + searchURN + `,"count":2.5}`, 400, "invalidValue"},
		{"bad filter", "POST", "/Users/.search", `{` + searchURN + `,"filter":"userName eq"}`, 400, "invalidFilter"},
		{"attribute no type has", "POST", "/.search", `{` + searchURN + `,"filter":"shoeSize eq \"42\""}`, 400, "invalidFilter"},
		{"group attribute on users", "POST", "/Users/.search", `{` + searchURN + `,"filter":"members pr"}`, 400, "invalidFilter"},
		{"bad sortOrder", "POST", "/.search", `{` + searchURN + `,"sortBy":"id","sortOrder":"sideways"}`, 400, "invalidValue"},
		{"sortBy no type has", "POST", "/.search", `{` + searchURN + `,"sortBy":"shoeSize"}`, 400, "invalidPath"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			status, out, reply := do(t, w, tt.method, tt.path, "", tt.body)
			require.Equal(t, tt.status, status, string(reply.Body))
			require.Equal(t, "application/scim+json", header(reply).Get("Content-Type"))
			require.Equal(t, []any{"urn:ietf:params:scim:api:messages:2.0:Error"}, out["schemas"])
			if tt.scimType != "" {
				require.Equal(t, tt.scimType, out["scimType"], "%v", out)
			}
		})
	}
	// Nothing was created by a search.
	_, out, _ := do(t, w, "GET", "/", "count=0", "")
	require.EqualValues(t, 5, out["totalResults"])
	b, _ := json.Marshal(out)
	require.NotContains(t, string(b), "Resources\":[{")
}
