package app

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWorker_Sort: sortBy and sortOrder were ignored (and sort.supported
// said false). Every kind of attribute sorts as RFC 7644 section 3.4.2.3
// says: case-insensitive strings lower-cased, case-exact ones as stored
// (the test server's C collation orders them by code point), multi-valued
// attributes by the primary value or else the first, resources without a
// value last in ascending order and first in descending order, ties in
// creation order; descending is exactly ascending reversed.
func TestWorker_Sort(t *testing.T) {
	w := newTestWorker(t)
	ent := "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	ids := map[string]string{}
	for _, u := range []struct{ short, body string }{
		{"ann", `{"userName":"ann@contoso.com","displayName":"ann Lee","externalId":"B7","title":"engineer","name":{"familyName":"Zeta"},
			"emails":[{"value":"z@x","type":"work"},{"value":"a@x","type":"home","primary":true}],"` + ent + `":{"department":"R&D","manager":"m2"}}`},
		{"bob", `{"userName":"Bob@contoso.com","displayName":"Bob","externalId":"a1","title":"Manager","active":false,"name":{"familyName":"alpha"},
			"emails":[{"value":"m@x"}],"` + ent + `":{"department":"sales"}}`},
		{"cy", `{"userName":"cy@contoso.com","externalId":"A2"}`},
		{"dee", `{"userName":"dee@contoso.com","displayName":"Dee","title":"Engineer","name":{"familyName":"Mu"},
			"emails":[{"value":"B@x","type":"work"}],"` + ent + `":{"manager":"m1"}}`},
	} {
		ids[u.short] = create(t, w, "/Users", u.body)
	}
	// ann is modified last.
	patch(t, w, "/Users/"+ids["ann"], `[{"op":"replace","path":"nickName","value":"A"}]`, 200)
	byID := []string{"ann", "bob", "cy", "dee"}
	slices.SortFunc(byID, func(a, b string) int { return strings.Compare(ids[a], ids[b]) })

	tests := []struct {
		sortBy string
		asc    []string
	}{
		{"userName", []string{"ann", "bob", "cy", "dee"}},
		{"USERNAME", []string{"ann", "bob", "cy", "dee"}},
		{"urn:ietf:params:scim:schemas:core:2.0:User:userName", []string{"ann", "bob", "cy", "dee"}},
		{"displayName", []string{"ann", "bob", "dee", "cy"}},
		{"externalId", []string{"cy", "ann", "bob", "dee"}},
		{"id", byID},
		{"title", []string{"ann", "dee", "bob", "cy"}},
		{"name.familyName", []string{"bob", "dee", "ann", "cy"}},
		{"emails", []string{"ann", "dee", "bob", "cy"}},
		{"emails.value", []string{"ann", "dee", "bob", "cy"}},
		{"emails.type", []string{"ann", "dee", "bob", "cy"}},
		{ent + ":department", []string{"ann", "bob", "cy", "dee"}},
		{"manager", []string{"dee", "ann", "bob", "cy"}},
		{"active", []string{"bob", "ann", "cy", "dee"}},
		{"meta.created", []string{"ann", "bob", "cy", "dee"}},
		{"meta.lastModified", []string{"bob", "cy", "dee", "ann"}},
	}
	names := func(t *testing.T, query string) ([]string, map[string]any) {
		t.Helper()
		status, out, reply := do(t, w, "GET", "/Users", query, "")
		require.Equal(t, 200, status, string(reply.Body))
		var got []string
		for _, r := range out["Resources"].([]any) {
			got = append(got, strings.Split(r.(map[string]any)["userName"].(string), "@")[0])
		}
		for i := range got {
			got[i] = strings.ToLower(got[i])
		}
		return got, out
	}
	for _, tt := range tests {
		t.Run(tt.sortBy, func(t *testing.T) {
			got, _ := names(t, "sortBy="+url.QueryEscape(tt.sortBy))
			require.Equal(t, tt.asc, got, "ascending (the default)")
			got, _ = names(t, "sortBy="+url.QueryEscape(tt.sortBy)+"&sortOrder=ascending")
			require.Equal(t, tt.asc, got, "ascending")
			desc := slices.Clone(tt.asc)
			slices.Reverse(desc)
			got, _ = names(t, "sortBy="+url.QueryEscape(tt.sortBy)+"&sortOrder=DESCENDING")
			require.Equal(t, desc, got, "descending")
			// A page of the sorted list, and the same through POST .search.
			got, out := names(t, "sortBy="+url.QueryEscape(tt.sortBy)+"&startIndex=2&count=2")
			require.Equal(t, tt.asc[1:3], got)
			require.EqualValues(t, 4, out["totalResults"])
			status, out, reply := do(t, w, "POST", "/Users/.search", "", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
				"sortBy":`+jsonString(tt.sortBy)+`,"sortOrder":"descending","startIndex":3,"count":5,"attributes":["userName"]}`)
			require.Equal(t, 200, status, string(reply.Body))
			got = nil
			for _, r := range out["Resources"].([]any) {
				got = append(got, strings.ToLower(strings.Split(r.(map[string]any)["userName"].(string), "@")[0]))
			}
			require.Equal(t, desc[2:], got)
		})
	}
	t.Run("with a filter", func(t *testing.T) {
		got, out := names(t, "filter="+url.QueryEscape("active eq true")+"&sortBy=title&sortOrder=descending")
		require.Equal(t, []string{"cy", "dee", "ann"}, got)
		require.EqualValues(t, 3, out["totalResults"])
	})
	t.Run("sortOrder alone is ignored", func(t *testing.T) {
		got, _ := names(t, "sortOrder=descending")
		require.Equal(t, []string{"ann", "bob", "cy", "dee"}, got)
	})

	// Groups.
	for _, g := range []string{`{"displayName":"beta","externalId":"2"}`, `{"displayName":"Alpha"}`, `{"displayName":"gamma","externalId":"1"}`} {
		create(t, w, "/Groups", g)
	}
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"sortBy=displayName", []string{"Alpha", "beta", "gamma"}},
		{"sortBy=displayName&sortOrder=descending", []string{"gamma", "beta", "Alpha"}},
		{"sortBy=externalId", []string{"gamma", "beta", "Alpha"}},
		{"sortBy=meta.created&sortOrder=descending", []string{"gamma", "Alpha", "beta"}},
	} {
		t.Run("groups "+tt.query, func(t *testing.T) {
			status, out, reply := do(t, w, "GET", "/Groups", tt.query, "")
			require.Equal(t, 200, status, string(reply.Body))
			var got []string
			for _, r := range out["Resources"].([]any) {
				got = append(got, r.(map[string]any)["displayName"].(string))
			}
			require.Equal(t, tt.want, got)
		})
	}

	for _, tt := range []struct {
		name, path, query, scimType string
	}{
		{"complex attribute without value", "/Users", "sortBy=name", "invalidPath"},
		{"unknown attribute", "/Users", "sortBy=shoeSize", "invalidPath"},
		{"value filter", "/Users", "sortBy=" + url.QueryEscape(`emails[type eq "work"].value`), "invalidPath"},
		{"meta.version", "/Users", "sortBy=meta.version", "invalidPath"},
		{"group members", "/Groups", "sortBy=members", "invalidPath"},
		{"group attribute of users", "/Groups", "sortBy=userName", "invalidPath"},
		{"bad sortOrder", "/Users", "sortBy=userName&sortOrder=up", "invalidValue"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, out, reply := do(t, w, "GET", tt.path, tt.query, "")
			require.Equal(t, 400, status, string(reply.Body))
			require.Equal(t, tt.scimType, out["scimType"])
		})
	}

	status, spc, _ := do(t, w, "GET", "/ServiceProviderConfig", "", "")
	require.Equal(t, 200, status)
	require.Equal(t, map[string]any{"supported": true}, spc["sort"])
	require.Equal(t, map[string]any{"supported": true}, spc["etag"])
}

// TestWorker_SortBound: an order no index serves reads at most
// store.MaxSorted matching users; past it the answer is 400 tooMany, and
// orders an index serves have no bound.
func TestWorker_SortBound(t *testing.T) {
	w := newTestWorker(t)
	seedUsers(t, w, 10_001)
	status, out, reply := do(t, w, "GET", "/Users", "sortBy=title", "")
	require.Equal(t, 400, status, string(reply.Body))
	require.Equal(t, "tooMany", out["scimType"])
	status, out, reply = do(t, w, "POST", "/.search", "", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"sortBy":"displayName"}`)
	require.Equal(t, 400, status, string(reply.Body))
	require.Equal(t, "tooMany", out["scimType"])

	status, out, reply = do(t, w, "GET", "/Users", "filter="+url.QueryEscape(`userName sw "user1000"`)+"&sortBy=emails&sortOrder=descending", "")
	require.Equal(t, 200, status, string(reply.Body))
	require.EqualValues(t, 2, out["totalResults"])
	res := out["Resources"].([]any)
	// "user1000@" sorts after "user10000" (0x40 > 0x30).
	require.Equal(t, "user1000@contoso.com", res[0].(map[string]any)["userName"])

	status, out, reply = do(t, w, "GET", "/Users", "sortBy=userName&sortOrder=descending&count=2&startIndex=3", "")
	require.Equal(t, 200, status, string(reply.Body))
	require.EqualValues(t, 10_001, out["totalResults"])
	res = out["Resources"].([]any)
	// Descending byte order: user9@, user99@, user999@, user9999@, ...
	require.Equal(t, "user999@contoso.com", res[0].(map[string]any)["userName"])
	require.Equal(t, "user9999@contoso.com", res[1].(map[string]any)["userName"])
	// count=0 only counts: nothing is sorted.
	status, out, _ = do(t, w, "GET", "/Users", "sortBy=title&count=0", "")
	require.Equal(t, 200, status)
	require.EqualValues(t, 10_001, out["totalResults"])
}
