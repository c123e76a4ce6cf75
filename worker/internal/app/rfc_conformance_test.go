package app

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWorker_RFCConformance checks the MUSTs of RFC 7644 (sections 3 and 4)
// and RFC 7643 that docs/rfc-conformance.md lists, one request per row,
// through the SCIM handler on a real PostgreSQL. Rows run in order and share
// one tenant; each names the section it checks.
func TestWorker_RFCConformance(t *testing.T) {
	w := newTestWorker(t)
	const (
		core   = "urn:ietf:params:scim:schemas:core:2.0:User"
		patchS = `"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]`
	)
	ann := create(t, w, "/Users", `{"userName":"ann@contoso.com","externalId":"Ann-1","displayName":"Ann",
		"emails":[{"type":"work","value":"ann@work.example"},{"type":"home","value":"ann@home.example"}]}`)
	_, annDoc, _ := do(t, w, "GET", "/Users/"+ann, "", "")
	annMeta := annDoc["meta"].(map[string]any)
	created, err := time.Parse(time.RFC3339Nano, annMeta["created"].(string))
	require.NoError(t, err)
	// The same instant less a second, spelt with another offset.
	before := created.Add(-time.Second).In(time.FixedZone("", 2*3600)).Format(time.RFC3339Nano)
	gone := create(t, w, "/Users", `{"userName":"gone@contoso.com"}`)
	dup := create(t, w, "/Groups", `{"displayName":"Dup"}`)
	filter := func(f string) string { return "filter=" + url.QueryEscape(f) }
	ids := func(out map[string]any) []string {
		var got []string
		for _, r := range out["Resources"].([]any) {
			got = append(got, r.(map[string]any)["id"].(string))
		}
		return got
	}
	annVersion := func(t *testing.T) (any, any) {
		_, out, _ := do(t, w, "GET", "/Users/"+ann, "", "")
		m := out["meta"].(map[string]any)
		return m["version"], m["lastModified"]
	}
	v0, lm0 := annVersion(t)

	tests := []struct {
		name, method, path, query, body string
		status                          int
		scimType                        string
		check                           func(t *testing.T, out map[string]any, h http.Header)
	}{
		// RFC 7644 section 3.3: creation.
		{name: "3.3 POST is 201 with Location equal to meta.location, and ETag", method: "POST", path: "/Users",
			body: `{"schemas":["` + core + `"],"userName":"new@contoso.com","id":"client-id","meta":{"created":"2000-01-01T00:00:00Z"}}`, status: 201,
			check: func(t *testing.T, out map[string]any, h http.Header) {
				m := out["meta"].(map[string]any)
				require.Equal(t, testBase+"/Users/"+out["id"].(string), h.Get("Location"))
				require.Equal(t, m["location"], h.Get("Location"))
				require.Equal(t, m["version"], h.Get("ETag"))
				require.Equal(t, "User", m["resourceType"])
				// RFC 7643 section 3.1: never modified, lastModified is created.
				require.Equal(t, m["created"], m["lastModified"])
				// id and meta are readOnly: ignored in a request body.
				require.NotEqual(t, "client-id", out["id"])
				require.NotEqual(t, "2000-01-01T00:00:00Z", m["created"])
			}},
		{name: "3.3 duplicate userName in another case is 409 uniqueness", method: "POST", path: "/Users",
			body: `{"userName":"ANN@contoso.com"}`, status: 409, scimType: "uniqueness"},
		{name: "3.3 duplicate group displayName in another case is 409 uniqueness", method: "POST", path: "/Groups",
			body: `{"displayName":"dup"}`, status: 409, scimType: "uniqueness"},
		{name: "7643 4.1.1 password is never returned", method: "POST", path: "/Users",
			body: `{"userName":"pw@contoso.com","password":"s3cret!"}`, status: 201,
			check: func(t *testing.T, out map[string]any, _ http.Header) {
				require.NotContains(t, out, "password")
			}},
		{name: "7643 2.5 an empty array and null are unassigned", method: "POST", path: "/Users",
			body: `{"userName":"empty@contoso.com","emails":[],"name":null}`, status: 201,
			check: func(t *testing.T, out map[string]any, _ http.Header) {
				require.NotContains(t, out, "emails")
				require.NotContains(t, out, "name")
			}},

		// RFC 7644 section 3.4.2: queries.
		{name: "3.4.2 no match is 200 with an empty ListResponse", method: "GET", path: "/Users",
			query: filter(`userName eq "nobody"`), status: 200,
			check: func(t *testing.T, out map[string]any, _ http.Header) {
				require.Equal(t, []any{"urn:ietf:params:scim:api:messages:2.0:ListResponse"}, out["schemas"])
				require.EqualValues(t, 0, out["totalResults"])
				require.EqualValues(t, 0, out["itemsPerPage"])
				require.EqualValues(t, 1, out["startIndex"])
				require.Equal(t, []any{}, out["Resources"])
			}},
		{name: "3.4.2.2 attribute names and operators in any case", method: "GET", path: "/Users",
			query: filter(`USERNAME EQ "Ann@Contoso.com" AND emails.VALUE Co "WORK"`), status: 200,
			check: func(t *testing.T, out map[string]any, _ http.Header) { require.Equal(t, []string{ann}, ids(out)) }},
		{name: "3.4.2.2 caseExact attributes compare exactly", method: "GET", path: "/Users",
			query: filter(`externalId eq "ann-1"`), status: 200,
			check: func(t *testing.T, out map[string]any, _ http.Header) { require.EqualValues(t, 0, out["totalResults"]) }},
		{name: "3.4.2.2 and binds tighter than or", method: "GET", path: "/Users",
			query: filter(`userName eq "nobody" or userName eq "ann@contoso.com" and displayName eq "Bob"`), status: 200,
			check: func(t *testing.T, out map[string]any, _ http.Header) { require.EqualValues(t, 0, out["totalResults"]) }},
		{name: "3.4.2.2 a value filter applies to one value", method: "GET", path: "/Users",
			query: filter(`emails[type eq "work" and value eq "ann@home.example"]`), status: 200,
			check: func(t *testing.T, out map[string]any, _ http.Header) { require.EqualValues(t, 0, out["totalResults"]) }},
		{name: "3.4.2.2 dateTimes compare as instants", method: "GET", path: "/Users",
			query: filter(`meta.created gt "` + before + `" and userName eq "ann@contoso.com"`), status: 200,
			check: func(t *testing.T, out map[string]any, _ http.Header) { require.Equal(t, []string{ann}, ids(out)) }},
		{name: "3.4.2.2 gt on a boolean is 400 invalidFilter", method: "GET", path: "/Users",
			query: filter(`active gt true`), status: 400, scimType: "invalidFilter"},
		{name: "3.4.2.2 an unknown attribute is 400 invalidFilter", method: "GET", path: "/Users",
			query: filter(`schemas eq "` + core + `"`), status: 400, scimType: "invalidFilter"},
		{name: "3.4.2.4 startIndex below 1 is 1, negative count is 0", method: "GET", path: "/Users",
			query: "startIndex=-4&count=-3", status: 200,
			check: func(t *testing.T, out map[string]any, _ http.Header) {
				require.EqualValues(t, 1, out["startIndex"])
				require.EqualValues(t, 0, out["itemsPerPage"])
				require.Equal(t, []any{}, out["Resources"])
				require.Greater(t, out["totalResults"], float64(0))
			}},
		{name: "3.4.2.4 count is never exceeded", method: "GET", path: "/Users", query: "count=1", status: 200,
			check: func(t *testing.T, out map[string]any, _ http.Header) {
				require.Len(t, out["Resources"], 1)
				require.EqualValues(t, 1, out["itemsPerPage"])
			}},
		{name: "3.4.2.5 attributes keep id and schemas", method: "GET", path: "/Users/" + ann, query: "attributes=displayName", status: 200,
			check: func(t *testing.T, out map[string]any, _ http.Header) {
				require.ElementsMatch(t, []string{"id", "schemas", "displayName"}, keys(out))
			}},
		{name: "3.4.2.5 excludedAttributes cannot remove id or schemas", method: "GET", path: "/Users/" + ann,
			query: "excludedAttributes=id,schemas,meta,emails", status: 200,
			check: func(t *testing.T, out map[string]any, _ http.Header) {
				require.Equal(t, ann, out["id"])
				require.Contains(t, out, "schemas")
				require.NotContains(t, out, "meta")
				require.NotContains(t, out, "emails")
			}},
		{name: "3.10 core attributes may carry the schema URN", method: "GET", path: "/Users",
			query: filter(core+`:userName eq "ann@contoso.com"`) + "&attributes=" + core + ":displayName&sortBy=" + core + ":userName", status: 200,
			check: func(t *testing.T, out map[string]any, _ http.Header) {
				require.Equal(t, []string{ann}, ids(out))
				require.Equal(t, "Ann", out["Resources"].([]any)[0].(map[string]any)["displayName"])
			}},

		// RFC 7644 section 3.5.1: PUT.
		{name: "3.5.1 PUT ignores readOnly id and meta", method: "PUT", path: "/Users/" + gone,
			body: `{"id":"other","userName":"gone@contoso.com","meta":{"created":"2000-01-01T00:00:00Z"}}`, status: 200,
			check: func(t *testing.T, out map[string]any, h http.Header) {
				require.Equal(t, gone, out["id"])
				require.NotEqual(t, "2000-01-01T00:00:00Z", out["meta"].(map[string]any)["created"])
				require.Equal(t, out["meta"].(map[string]any)["version"], h.Get("ETag"))
			}},
		{name: "3.5.1 PUT without the required userName is 400 invalidValue", method: "PUT", path: "/Users/" + gone,
			body: `{"displayName":"No name"}`, status: 400, scimType: "invalidValue"},
		{name: "3.5.1 PUT onto a taken userName is 409 uniqueness", method: "PUT", path: "/Users/" + gone,
			body: `{"userName":"ann@contoso.com"}`, status: 409, scimType: "uniqueness"},

		// RFC 7644 section 3.5.2: PATCH.
		{name: "3.5.2 PATCH with no operations is 400 invalidSyntax", method: "PATCH", path: "/Users/" + ann,
			body: `{` + patchS + `,"Operations":[]}`, status: 400, scimType: "invalidSyntax"},
		{name: "3.5.2 PATCH with an unknown op is 400 invalidSyntax", method: "PATCH", path: "/Users/" + ann,
			body: `{` + patchS + `,"Operations":[{"op":"move","path":"title","value":"x"}]}`, status: 400, scimType: "invalidSyntax"},
		{name: "3.5.2 a malformed path is 400 invalidPath", method: "PATCH", path: "/Users/" + ann,
			body: `{` + patchS + `,"Operations":[{"op":"replace","path":"emails[type eq \"work\"","value":"x"}]}`, status: 400, scimType: "invalidPath"},
		{name: "3.5.2 PATCH of id is 400 mutability", method: "PATCH", path: "/Users/" + ann,
			body: `{` + patchS + `,"Operations":[{"op":"replace","path":"id","value":"x"}]}`, status: 400, scimType: "mutability"},
		{name: "3.5.2 PATCH of meta is 400 mutability", method: "PATCH", path: "/Users/" + ann,
			body: `{` + patchS + `,"Operations":[{"op":"replace","path":"meta","value":{"created":"2000-01-01T00:00:00Z"}}]}`, status: 400, scimType: "mutability"},
		{name: "3.5.2 PATCH of a meta sub-attribute is 400 mutability", method: "PATCH", path: "/Users/" + ann,
			body: `{` + patchS + `,"Operations":[{"op":"replace","path":"meta.lastModified","value":"2000-01-01T00:00:00Z"}]}`, status: 400, scimType: "mutability"},
		{name: "3.5.2 PATCH of meta through the core URN is 400 mutability", method: "PATCH", path: "/Users/" + ann,
			body: `{` + patchS + `,"Operations":[{"op":"remove","path":"` + core + `:meta.version"}]}`, status: 400, scimType: "mutability"},
		{name: "3.5.2 PATCH of a group's meta is 400 mutability", method: "PATCH", path: "/Groups/" + dup,
			body: `{` + patchS + `,"Operations":[{"op":"replace","path":"meta.resourceType","value":"User"}]}`, status: 400, scimType: "mutability"},
		{name: "3.5.2 PATCH failing in its second operation changes nothing", method: "PATCH", path: "/Users/" + ann,
			body:   `{` + patchS + `,"Operations":[{"op":"replace","path":"title","value":"Boss"},{"op":"remove","path":"userName"}]}`,
			status: 400, scimType: "mutability",
			check: func(t *testing.T, _ map[string]any, _ http.Header) {
				_, out, _ := do(t, w, "GET", "/Users/"+ann, "", "")
				require.NotContains(t, out, "title")
			}},
		{name: "3.5.2.1 add needs a value: 400 invalidValue", method: "PATCH", path: "/Users/" + ann,
			body: `{` + patchS + `,"Operations":[{"op":"add","path":"title"}]}`, status: 400, scimType: "invalidValue"},
		{name: "3.5.2.1 adding a value already there changes neither version nor lastModified", method: "PATCH", path: "/Users/" + ann,
			body: `{` + patchS + `,"Operations":[{"op":"add","path":"emails","value":[{"type":"work","value":"ann@work.example"}]}]}`, status: 200,
			check: func(t *testing.T, out map[string]any, h http.Header) {
				m := out["meta"].(map[string]any)
				require.Equal(t, v0, m["version"])
				require.Equal(t, lm0, m["lastModified"])
				require.Equal(t, v0, h.Get("ETag"))
			}},
		{name: "3.5.2.2 remove without a path is 400 noTarget", method: "PATCH", path: "/Users/" + ann,
			body: `{` + patchS + `,"Operations":[{"op":"remove"}]}`, status: 400, scimType: "noTarget"},
		{name: "3.5.2.2 removing a required attribute is 400 mutability", method: "PATCH", path: "/Users/" + ann,
			body: `{` + patchS + `,"Operations":[{"op":"remove","path":"userName"}]}`, status: 400, scimType: "mutability"},
		{name: "3.5.2.3 replacing a complex attribute keeps the sub-attributes not named", method: "PATCH", path: "/Users/" + ann,
			body: `{` + patchS + `,"Operations":[{"op":"add","path":"name","value":{"givenName":"Ann","familyName":"Ng"}},
				{"op":"replace","path":"name","value":{"familyName":"Li"}}]}`, status: 200,
			check: func(t *testing.T, out map[string]any, _ http.Header) {
				require.Equal(t, map[string]any{"givenName": "Ann", "familyName": "Li"}, out["name"])
			}},
		{name: "3.5.2 a path-less value's meta is ignored, as in a PUT", method: "PATCH", path: "/Users/" + ann,
			body: `{` + patchS + `,"Operations":[{"op":"replace","value":{"meta":{"created":"2000-01-01T00:00:00Z"},"meta.version":"x","nickName":"Annie"}}]}`, status: 200,
			check: func(t *testing.T, out map[string]any, _ http.Header) {
				require.Equal(t, "Annie", out["nickName"])
				require.Equal(t, annMeta["created"], out["meta"].(map[string]any)["created"])
			}},

		// RFC 7644 section 3.6: DELETE.
		{name: "3.6 DELETE is 204", method: "DELETE", path: "/Users/" + gone, status: 204},
		{name: "3.6 a deleted resource is 404 to GET", method: "GET", path: "/Users/" + gone, status: 404},
		{name: "3.6 a deleted resource is 404 to PUT", method: "PUT", path: "/Users/" + gone, body: `{"userName":"gone@contoso.com"}`, status: 404},
		{name: "3.6 a deleted resource is 404 to PATCH", method: "PATCH", path: "/Users/" + gone,
			body: `{` + patchS + `,"Operations":[{"op":"add","path":"title","value":"x"}]}`, status: 404},
		{name: "3.6 a deleted resource is 404 to DELETE", method: "DELETE", path: "/Users/" + gone, status: 404},
		{name: "3.6 a deleted resource is in no query", method: "GET", path: "/Users", query: filter(`id eq "` + gone + `"`), status: 200,
			check: func(t *testing.T, out map[string]any, _ http.Header) { require.EqualValues(t, 0, out["totalResults"]) }},

		// RFC 7644 sections 3.7 and 3.11: features not offered.
		{name: "3.7 POST /Bulk is 501 (bulk.supported is false)", method: "POST", path: "/Bulk",
			body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[]}`, status: 501},
		{name: "3.7 GET /Bulk stays the 404 of an unknown endpoint", method: "GET", path: "/Bulk", status: 404},
		{name: "3.11 GET /Me is 501", method: "GET", path: "/Me", status: 501},
		{name: "3.11 PATCH /Me is 501", method: "PATCH", path: "/me",
			body: `{` + patchS + `,"Operations":[{"op":"add","path":"title","value":"x"}]}`, status: 501},

		// RFC 7644 section 4: discovery.
		{name: "4 a filter on /Schemas is 403", method: "GET", path: "/Schemas", query: filter(`id eq "` + core + `"`), status: 403},
		{name: "4 a filter on /Schemas/{id} is 403", method: "GET", path: "/Schemas/" + core, query: filter(`name eq "x"`), status: 403},
		{name: "4 a filter on /ResourceTypes is 403", method: "GET", path: "/ResourceTypes", query: filter(`name eq "User"`), status: 403},
		{name: "4 a filter on /ServiceProviderConfig is 403", method: "GET", path: "/ServiceProviderConfig", query: filter(`x eq "y"`), status: 403},
		{name: "4 paging and sorting on /Schemas are ignored", method: "GET", path: "/Schemas", query: "startIndex=2&count=1&sortBy=name", status: 200,
			check: func(t *testing.T, out map[string]any, _ http.Header) {
				require.EqualValues(t, 3, out["totalResults"])
				require.Len(t, out["Resources"], 3)
				require.EqualValues(t, 1, out["startIndex"])
			}},
		{name: "4 /ServiceProviderConfig advertises bulk and changePassword unsupported", method: "GET", path: "/ServiceProviderConfig", status: 200,
			check: func(t *testing.T, out map[string]any, _ http.Header) {
				require.Equal(t, false, out["bulk"].(map[string]any)["supported"])
				require.Equal(t, false, out["changePassword"].(map[string]any)["supported"])
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out, reply := do(t, w, tt.method, tt.path, tt.query, tt.body)
			require.Equal(t, tt.status, status, string(reply.Body))
			h := header(reply)
			if len(reply.Body) > 0 {
				// RFC 7644 section 3.1 and 8.1: every body is SCIM JSON.
				require.Equal(t, "application/scim+json", h.Get("Content-Type"))
			}
			if status >= 400 {
				// RFC 7644 section 3.12: the error envelope, status as a string.
				require.Equal(t, []any{"urn:ietf:params:scim:api:messages:2.0:Error"}, out["schemas"])
				require.Equal(t, strconv.Itoa(status), out["status"])
				if tt.scimType != "" {
					require.Equal(t, tt.scimType, out["scimType"])
				}
				require.NotEmpty(t, out["detail"])
			}
			if tt.check != nil {
				tt.check(t, out, h)
			}
		})
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
