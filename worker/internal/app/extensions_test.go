package app

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

const (
	costExt   = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"
	regionExt = "urn:ietf:params:scim:schemas:extension:Acme:1.0:Group"
)

// declareTestExtensions declares, through the admin operation, one
// attribute of each type for User and one for Group.
func declareTestExtensions(t *testing.T, w *Worker) {
	t.Helper()
	for _, a := range []scimworker.ExtensionAttribute{
		{Schema: costExt, ResourceType: "User", Name: "costCenter", Type: "string", Description: "Cost center."},
		{Schema: costExt, ResourceType: "User", Name: "badge", Type: "integer"},
		{Schema: costExt, ResourceType: "User", Name: "score", Type: "decimal"},
		{Schema: costExt, ResourceType: "User", Name: "contractor", Type: "boolean"},
		{Schema: costExt, ResourceType: "User", Name: "hired", Type: "dateTime"},
		{Schema: costExt, ResourceType: "User", Name: "tags", Type: "string", MultiValued: true},
		{Schema: regionExt, ResourceType: "Group", Name: "region", Type: "string", CaseExact: true},
	} {
		_, err := w.DeclareExtensionAttribute(bg, &a)
		require.NoError(t, err, a.Name)
	}
}

// userNames lists the userNames a filter selects, sorted.
func userNames(t *testing.T, w *Worker, filter string) []string {
	t.Helper()
	status, out, reply := do(t, w, "GET", "/Users", "filter="+url.QueryEscape(filter), "")
	require.Equal(t, 200, status, string(reply.Body))
	names := []string{}
	for _, r := range out["Resources"].([]any) {
		names = append(names, r.(map[string]any)["userName"].(string))
	}
	sort.Strings(names)
	return names
}

// TestExtensions_SCIM drives declared extension attributes through the
// SCIM handler: POST, every PATCH shape, reads with projections, filters,
// sorting, type errors, discovery and the log of ignored extensions.
func TestExtensions_SCIM(t *testing.T) {
	w := newTestWorker(t)
	// Before any declaration the extension is accepted and ignored, as
	// it always was.
	status, out, _ := do(t, w, "POST", "/Users", "", `{"userName":"early@contoso.com","`+costExt+`":{"costCenter":"CC-0"}}`)
	require.Equal(t, 201, status)
	require.NotContains(t, out, costExt)

	declareTestExtensions(t, w)
	list, err := w.Extensions(bg, &scimworker.ExtensionsRequest{})
	require.NoError(t, err)
	require.Len(t, list.Schemas, 2)
	require.Equal(t, regionExt, list.Schemas[0].Schema, "schemas in URN order")
	require.Equal(t, costExt, list.Schemas[1].Schema)
	require.Len(t, list.Schemas[1].Attributes, 6)

	ann := create(t, w, "/Users", `{"userName":"ann@contoso.com","`+costExt+`":{"costCenter":"CC-1","badge":42,"score":"1.50","contractor":"True","hired":"2026-01-31T09:00:00Z","tags":["red","blue"]}}`)
	bob := create(t, w, "/Users", `{"userName":"bob@contoso.com","`+costExt+`":{"costCenter":"cc-2","badge":9,"score":0.5,"contractor":false,"hired":"2025-06-01T00:00:00+02:00","tags":"green"}}`)
	create(t, w, "/Users", `{"userName":"cid@contoso.com","`+costExt+`:badge":10}`)

	steps := []struct {
		name, method, path, query, body string
		status                          int
		scimType                        string
		ext                             string // the extension object answered, JSON; "" not checked; "null" absent
	}{
		{name: "read back", method: "GET", path: "/Users/" + ann, status: 200,
			ext: `{"costCenter":"CC-1","badge":42,"score":1.5,"contractor":true,"hired":"2026-01-31T09:00:00Z","tags":["red","blue"]}`},
		{name: "attributes selects one extension attribute", method: "GET", path: "/Users/" + ann, query: "attributes=" + costExt + ":badge", status: 200, ext: `{"badge":42}`},
		{name: "excludedAttributes drops one", method: "GET", path: "/Users/" + ann, query: "excludedAttributes=" + costExt + ":tags," + costExt + ":hired," + costExt + ":score", status: 200,
			ext: `{"costCenter":"CC-1","badge":42,"contractor":true}`},
		{name: "PATCH path with the URN prefix, as Entra sends it", method: "PATCH", path: "/Users/" + ann,
			body: `{"Operations":[{"op":"Replace","path":"` + costExt + `:costCenter","value":"CC-3"}]}`, status: 200,
			ext: `{"costCenter":"CC-3","badge":42,"score":1.5,"contractor":true,"hired":"2026-01-31T09:00:00Z","tags":["red","blue"]}`},
		{name: "PATCH path is the URN, value an object", method: "PATCH", path: "/Users/" + ann,
			body: `{"Operations":[{"op":"add","path":"` + costExt + `","value":{"badge":"43","tags":["red","Green"]}}]}`, status: 200,
			ext: `{"costCenter":"CC-3","badge":43,"score":1.5,"contractor":true,"hired":"2026-01-31T09:00:00Z","tags":["red","blue","Green"]}`},
		{name: "PATCH without path, URN-qualified key", method: "PATCH", path: "/Users/" + ann,
			body: `{"Operations":[{"op":"replace","value":{"` + costExt + `:contractor":"False"}}]}`, status: 200,
			ext: `{"costCenter":"CC-3","badge":43,"score":1.5,"contractor":false,"hired":"2026-01-31T09:00:00Z","tags":["red","blue","Green"]}`},
		{name: "PATCH without path, URN object", method: "PATCH", path: "/Users/" + ann,
			body: `{"Operations":[{"op":"replace","value":{"` + costExt + `":{"score":2.25}}}]}`, status: 200,
			ext: `{"costCenter":"CC-3","badge":43,"score":2.25,"contractor":false,"hired":"2026-01-31T09:00:00Z","tags":["red","blue","Green"]}`},
		{name: "PATCH remove one value, then an attribute", method: "PATCH", path: "/Users/" + ann,
			body: `{"Operations":[{"op":"remove","path":"` + costExt + `:tags","value":["BLUE"]},{"op":"remove","path":"` + costExt + `:hired"}]}`, status: 200,
			ext: `{"costCenter":"CC-3","badge":43,"score":2.25,"contractor":false,"tags":["red","Green"]}`},
		{name: "PATCH with a value of the wrong type", method: "PATCH", path: "/Users/" + ann,
			body: `{"Operations":[{"op":"replace","path":"` + costExt + `:badge","value":"many"}]}`, status: 400, scimType: "invalidValue"},
		{name: "POST with a value of the wrong type", method: "POST", path: "/Users",
			body: `{"userName":"bad@contoso.com","` + costExt + `":{"hired":"last week"}}`, status: 400, scimType: "invalidValue"},
		{name: "PUT replaces the extension", method: "PUT", path: "/Users/" + bob,
			body: `{"userName":"bob@contoso.com","` + costExt + `":{"costCenter":"cc-2","badge":9,"score":0.5,"contractor":false,"hired":"2025-06-01T00:00:00+02:00","tags":["green"]}}`, status: 200,
			ext: `{"costCenter":"cc-2","badge":9,"score":0.5,"contractor":false,"hired":"2025-06-01T00:00:00+02:00","tags":["green"]}`},
		{name: "filter on an integer with a string", method: "GET", path: "/Users", query: "filter=" + url.QueryEscape(costExt+`:badge eq "x"`), status: 400, scimType: "invalidFilter"},
		{name: "co on an integer", method: "GET", path: "/Users", query: "filter=" + url.QueryEscape(costExt+`:badge co 4`), status: 400, scimType: "invalidFilter"},
		{name: "filter on an undeclared attribute", method: "GET", path: "/Users", query: "filter=" + url.QueryEscape(costExt+`:floor eq 4`), status: 400, scimType: "invalidFilter"},
	}
	for _, st := range steps {
		status, out, reply := do(t, w, st.method, st.path, st.query, st.body)
		require.Equal(t, st.status, status, "%s: %s", st.name, reply.Body)
		if st.scimType != "" {
			require.Equal(t, st.scimType, out["scimType"], st.name)
		}
		if st.ext != "" {
			got := "null"
			if v, ok := out[costExt]; ok {
				got = jsonOf(t, v)
			}
			require.JSONEq(t, st.ext, got, st.name)
			if st.ext != "null" {
				require.Contains(t, out["schemas"], costExt, st.name)
			}
		}
	}

	filters := []struct {
		filter string
		want   []string
	}{
		{costExt + `:costCenter eq "cc-3"`, []string{"ann@contoso.com"}},
		{costExt + `:costCenter ne "CC-3"`, []string{"bob@contoso.com", "cid@contoso.com", "early@contoso.com"}},
		{costExt + `:costCenter co "C-"`, []string{"ann@contoso.com", "bob@contoso.com"}},
		{costExt + `:costCenter sw "cc"`, []string{"ann@contoso.com", "bob@contoso.com"}},
		{costExt + `:costCenter ew "2"`, []string{"bob@contoso.com"}},
		{costExt + `:costCenter pr`, []string{"ann@contoso.com", "bob@contoso.com"}},
		{costExt + `:badge gt 9`, []string{"ann@contoso.com", "cid@contoso.com"}},
		{costExt + `:badge ge 9 and ` + costExt + `:badge lt 43`, []string{"bob@contoso.com", "cid@contoso.com"}},
		{costExt + `:badge le 10`, []string{"bob@contoso.com", "cid@contoso.com"}},
		{costExt + `:badge eq 43`, []string{"ann@contoso.com"}},
		{costExt + `:score gt 1`, []string{"ann@contoso.com"}},
		{costExt + `:contractor eq false`, []string{"ann@contoso.com", "bob@contoso.com"}},
		{costExt + `:hired lt "2025-06-01T00:00:00Z"`, []string{"bob@contoso.com"}},
		{costExt + `:hired pr`, []string{"bob@contoso.com"}},
		{costExt + `:tags eq "GREEN"`, []string{"ann@contoso.com", "bob@contoso.com"}},
		{costExt + `:tags sw "r"`, []string{"ann@contoso.com"}},
		{costExt + `:tags pr`, []string{"ann@contoso.com", "bob@contoso.com"}},
		{`not (` + costExt + `:badge pr)`, []string{"early@contoso.com"}},
	}
	for _, f := range filters {
		require.Equal(t, f.want, userNames(t, w, f.filter), f.filter)
	}
	// Numbers sort as numbers (10 after 9), missing values last.
	status, out, reply := do(t, w, "GET", "/Users", "sortBy="+costExt+":badge", "")
	require.Equal(t, 200, status, string(reply.Body))
	var order []string
	for _, r := range out["Resources"].([]any) {
		order = append(order, r.(map[string]any)["userName"].(string))
	}
	require.Equal(t, []string{"bob@contoso.com", "cid@contoso.com", "ann@contoso.com", "early@contoso.com"}, order)

	// Group extensions: case-exact, filterable, returned.
	status, out, reply = do(t, w, "POST", "/Groups", "", `{"displayName":"Finance","`+regionExt+`":{"region":"EMEA"}}`)
	require.Equal(t, 201, status, string(reply.Body))
	require.Equal(t, map[string]any{"region": "EMEA"}, out[regionExt])
	finance := out["id"].(string)
	for filter, n := range map[string]float64{regionExt + `:region eq "EMEA"`: 1, regionExt + `:region eq "emea"`: 0} {
		status, out, reply = do(t, w, "GET", "/Groups", "filter="+url.QueryEscape(filter), "")
		require.Equal(t, 200, status, string(reply.Body))
		require.Equal(t, n, out["totalResults"], filter)
	}

	status, _, reply = do(t, w, "PATCH", "/Groups/"+finance, "", `{"Operations":[{"op":"replace","path":"`+regionExt+`:region","value":"APAC"}]}`)
	require.Equal(t, 204, status, string(reply.Body))
	status, out, _ = do(t, w, "GET", "/Groups/"+finance, "", "")
	require.Equal(t, 200, status)
	require.Equal(t, map[string]any{"region": "APAC"}, out[regionExt])

	// A root query resolves a User extension attribute for Users; Groups
	// have no value of it.
	status, out, reply = do(t, w, "POST", "/.search", "", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"`+costExt+`:badge ge 10"}`)
	require.Equal(t, 200, status, string(reply.Body))
	require.Equal(t, float64(2), out["totalResults"])
	status, out, reply = do(t, w, "GET", "/", "filter="+url.QueryEscape(`not (`+costExt+`:badge pr)`), "")
	require.Equal(t, 200, status, string(reply.Body))
	require.Equal(t, float64(2), out["totalResults"], "early@ and the group")

	// Discovery lists what was declared.
	status, out, _ = do(t, w, "GET", "/Schemas/"+costExt, "", "")
	require.Equal(t, 200, status)
	require.Len(t, out["attributes"], 6)
	status, out, _ = do(t, w, "GET", "/ResourceTypes/Group", "", "")
	require.Equal(t, 200, status)
	require.Equal(t, []any{map[string]any{"schema": regionExt, "required": false}}, out["schemaExtensions"])

	// Undeclared extensions are still accepted and ignored, and the log
	// says which.
	status, out, _ = do(t, w, "POST", "/Users", "", `{"userName":"dan@contoso.com","urn:ietf:params:scim:schemas:extension:Other:1.0:User":{"x":"1"},"`+costExt+`":{"floor":3}}`)
	require.Equal(t, 201, status)
	require.NotContains(t, out, costExt)
	page, err := w.QueryLog(bg, &scimworker.LogQuery{Limit: 1})
	require.NoError(t, err)
	require.Contains(t, page.Entries[0].Summary, "ignored unknown attributes")
	require.Contains(t, page.Entries[0].Summary, "urn:ietf:params:scim:schemas:extension:Other:1.0:User")
	require.Contains(t, page.Entries[0].Summary, costExt+":floor")
}

// TestExtensions_Remove: a declaration is removed only once no resource
// holds a value of it; then the attribute is gone from discovery and
// ignored on writes.
func TestExtensions_Remove(t *testing.T) {
	var cfg Config
	w, _ := newTestWorkerWithAdmin(t, func(c *Config) { cfg = *c })
	declareTestExtensions(t, w)
	ann := create(t, w, "/Users", `{"userName":"ann@contoso.com","`+costExt+`":{"costCenter":"CC-1","badge":1}}`)

	_, err := w.RemoveExtensionAttribute(bg, &scimworker.RemoveExtensionAttributeRequest{Schema: costExt, Name: "COSTCENTER"})
	e := refused(t, err)
	require.Equal(t, 409, e.Status)
	require.Contains(t, e.Message, "1 resources hold a value")
	_, err = w.RemoveExtensionAttribute(bg, &scimworker.RemoveExtensionAttributeRequest{Schema: costExt, Name: "nothing"})
	require.Equal(t, 404, refused(t, err).Status)
	_, err = w.DeclareExtensionAttribute(bg, &scimworker.ExtensionAttribute{Schema: costExt, ResourceType: "User", Name: "costcenter", Type: "string"})
	require.Equal(t, 409, refused(t, err).Status)
	_, err = w.DeclareExtensionAttribute(bg, &scimworker.ExtensionAttribute{Schema: costExt, ResourceType: "User", Name: "userName", Type: "string"})
	require.Equal(t, 400, refused(t, err).Status)

	patch(t, w, "/Users/"+ann, `[{"op":"remove","path":"`+costExt+`:costCenter"}]`, 200)
	list, err := w.RemoveExtensionAttribute(bg, &scimworker.RemoveExtensionAttributeRequest{Schema: costExt, Name: "costCenter"})
	require.NoError(t, err)
	require.Len(t, list.Schemas[1].Attributes, 5)

	status, out, _ := do(t, w, "GET", "/Schemas/"+costExt, "", "")
	require.Equal(t, 200, status)
	require.NotContains(t, jsonOf(t, out), `"costCenter"`)
	status, out, _ = do(t, w, "POST", "/Users", "", `{"userName":"bob@contoso.com","`+costExt+`":{"costCenter":"CC-2","badge":2}}`)
	require.Equal(t, 201, status)
	require.Equal(t, map[string]any{"badge": float64(2)}, out[costExt])
	status, out, _ = do(t, w, "GET", "/Users", "filter="+url.QueryEscape(costExt+`:costCenter pr`), "")
	require.Equal(t, 400, status)
	require.Equal(t, "invalidFilter", out["scimType"])

	// The whole Group schema goes with its last attribute.
	_, err = w.RemoveExtensionAttribute(bg, &scimworker.RemoveExtensionAttributeRequest{Schema: regionExt, Name: "region"})
	require.NoError(t, err)
	status, _, _ = do(t, w, "GET", "/Schemas/"+regionExt, "", "")
	require.Equal(t, 404, status)

	// Another worker bound to the tenant loads the declarations.
	other, err := Open(bg, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	t.Cleanup(other.Close)
	require.Equal(t, []string{"badge", "score", "contractor", "hired", "tags"}, declaredNames(t, other))
	status, out, _ = do(t, other, "GET", "/Users/"+ann, "", "")
	require.Equal(t, 200, status)
	require.Equal(t, map[string]any{"badge": float64(1)}, out[costExt])

	// A declaration made through the other worker (another replica)
	// reaches this one at its next check.
	_, err = other.DeclareExtensionAttribute(bg, &scimworker.ExtensionAttribute{Schema: costExt, ResourceType: "User", Name: "floor", Type: "integer"})
	require.NoError(t, err)
	status, out, _ = do(t, w, "POST", "/Users", "", `{"userName":"cid@contoso.com","`+costExt+`":{"floor":3}}`)
	require.Equal(t, 201, status)
	require.NotContains(t, out, costExt, "not yet known here")
	require.NoError(t, w.bound.Load().admin.ReloadExtensions(bg))
	status, out, _ = do(t, w, "POST", "/Users", "", `{"userName":"dan@contoso.com","`+costExt+`":{"floor":3}}`)
	require.Equal(t, 201, status)
	require.Equal(t, map[string]any{"floor": float64(3)}, out[costExt])
	require.Equal(t, declaredNames(t, other), declaredNames(t, w))
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func declaredNames(t *testing.T, w *Worker) []string {
	t.Helper()
	list, err := w.Extensions(bg, &scimworker.ExtensionsRequest{})
	require.NoError(t, err)
	var names []string
	for _, s := range list.Schemas {
		for _, a := range s.Attributes {
			names = append(names, a.Name)
		}
	}
	return names
}

// TestExtensions_Policy: a grant conditioned on a declared extension
// attribute follows the attribute's changes (the policy's reads include
// it, so a PATCH of it re-evaluates the user).
func TestExtensions_Policy(t *testing.T) {
	w := newTestWorker(t)
	declareTestExtensions(t, w)
	mapping := `{"permission_sets":{"viewer":{"description":"v","permissions":["forms.view"]},"admin":{"description":"a","permissions":["admin"]}},
		"grants":[
			{"name":"finance","group":{"displayName":"Finance"},"sets":["viewer"],"when":[{"attribute":"` + costExt + `:costCenter","equals":"CC-9"}]},
			{"name":"badge","group":{"displayName":"Finance"},"sets":["admin"],"when":[{"attribute":"` + costExt + `:badge","in":[1,2]}]}]}`
	_, err := activate(t, w, 1, defaultBundle(t, mapping))
	require.NoError(t, err)
	reads := w.bound.Load().admin.Provision.Policy().Reads
	require.Contains(t, reads, []string{costExt, "costCenter"})

	ann := create(t, w, "/Users", `{"userName":"ann@contoso.com","`+costExt+`":{"costCenter":"CC-1"}}`)
	create(t, w, "/Groups", `{"displayName":"Finance","members":[{"value":"`+ann+`"}]}`)
	require.Empty(t, userPermissions(t, w, ann))

	patch(t, w, "/Users/"+ann, `[{"op":"Replace","path":"`+costExt+`:costCenter","value":"cc-9"}]`, 200)
	require.Equal(t, []string{"forms.view"}, userPermissions(t, w, ann))
	patch(t, w, "/Users/"+ann, `[{"op":"add","path":"`+costExt+`","value":{"badge":"2"}}]`, 200)
	require.Equal(t, []string{"admin", "forms.view"}, userPermissions(t, w, ann))
	patch(t, w, "/Users/"+ann, `[{"op":"replace","value":{"`+costExt+`:costCenter":"CC-1"}}]`, 200)
	require.Equal(t, []string{"admin"}, userPermissions(t, w, ann))
	patch(t, w, "/Users/"+ann, `[{"op":"remove","path":"`+costExt+`:badge"}]`, 200)
	require.Empty(t, userPermissions(t, w, ann))

	// The admin API shows the attribute under its URN, as the policy reads it.
	u, err := w.GetUser(bg, &scimworker.UserRequest{ID: ann})
	require.NoError(t, err)
	require.True(t, strings.Contains(jsonOf(t, u), costExt))
}
