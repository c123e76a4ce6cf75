package app_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

// TestRun_DeclaredExtensions declares a custom extension attribute through
// the admin API, provisions users with it over SCIM (POST and each PATCH
// shape), reads it back, filters on it and activates a policy whose grant
// depends on it: control plane, worker process and PostgreSQL together.
func TestRun_DeclaredExtensions(t *testing.T) {
	e := boot(t, nil)
	a := e.createTenant("Contoso")
	const ext = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"
	api := "/api/v1/tenants/" + a.ID + "/extensions"

	for _, body := range []string{
		`{"schema":"` + ext + `","resourceType":"User","name":"costCenter","type":"string","description":"Cost center."}`,
		`{"schema":"` + ext + `","resourceType":"User","name":"level","type":"integer"}`,
	} {
		r := e.do("POST", api, operatorKey, []byte(body))
		require.Equal(t, http.StatusOK, r.status, string(r.body))
	}
	r := e.do("POST", api, operatorKey, []byte(`{"schema":"urn:acme:User","resourceType":"User","name":"x","type":"string"}`))
	require.Equal(t, http.StatusBadRequest, r.status, string(r.body))
	require.Contains(t, string(r.body), "schema must be a URN under")
	r = e.do("POST", api, operatorKey, []byte(`{"schema":"`+ext+`","resourceType":"User","name":"costcenter","type":"string"}`))
	require.Equal(t, http.StatusConflict, r.status, string(r.body))
	var list scimworker.Extensions
	e.do("GET", api, operatorKey, nil).json(t, &list)
	require.Len(t, list.Schemas, 1)
	require.Equal(t, []scimworker.ExtensionAttribute{
		{Schema: ext, ResourceType: "User", Name: "costCenter", Type: "string", Description: "Cost center."},
		{Schema: ext, ResourceType: "User", Name: "level", Type: "integer"},
	}, list.Schemas[0].Attributes)

	// Discovery advertises it.
	r = e.scim(a.ID, a.Token, "GET", "/ResourceTypes/User", nil)
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, string(r.body), `{"required":false,"schema":"`+ext+`"}`)

	r = e.scim(a.ID, a.Token, "POST", "/Users", []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","`+ext+`"],"userName":"ann@contoso.com","`+ext+`":{"costCenter":"CC-1","level":"3"}}`))
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	var user map[string]any
	r.json(t, &user)
	require.Equal(t, map[string]any{"costCenter": "CC-1", "level": float64(3)}, user[ext])
	id := user["id"].(string)
	r = e.scim(a.ID, a.Token, "POST", "/Groups", []byte(`{"displayName":"Finance","members":[{"value":"`+id+`"}]}`))
	require.Equal(t, http.StatusCreated, r.status, string(r.body))

	// A policy whose grant needs costCenter CC-9.
	var active scimworker.ActivePolicy
	e.do("GET", "/api/v1/tenants/"+a.ID+"/policies/active", operatorKey, nil).json(t, &active)
	mapping := `{"permission_sets":{"viewer":{"description":"v","permissions":["forms.view"]}},
		"grants":[{"name":"finance","group":{"displayName":"Finance"},"sets":["viewer"],"when":[{"attribute":"` + ext + `:costCenter","equals":"CC-9"}]}]}`
	body, err := json.Marshal(map[string]any{"modules": active.Modules, "mapping": json.RawMessage(mapping)})
	require.NoError(t, err)
	r = e.do("POST", "/api/v1/tenants/"+a.ID+"/policies", operatorKey, body)
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	r = e.do("POST", "/api/v1/tenants/"+a.ID+"/policies/1/activate", operatorKey, nil)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	permissions := func() []string {
		var u scimworker.UserDetail
		e.do("GET", "/api/v1/tenants/"+a.ID+"/users/"+id, operatorKey, nil).json(t, &u)
		return u.Permissions
	}
	require.Empty(t, permissions())

	for _, step := range []struct {
		ops  string
		want map[string]any
		perm []string
	}{
		{`[{"op":"Replace","path":"` + ext + `:costCenter","value":"CC-9"}]`, map[string]any{"costCenter": "CC-9", "level": float64(3)}, []string{"forms.view"}},
		{`[{"op":"add","path":"` + ext + `","value":{"level":4}}]`, map[string]any{"costCenter": "CC-9", "level": float64(4)}, []string{"forms.view"}},
		{`[{"op":"replace","value":{"` + ext + `:costCenter":"CC-2"}}]`, map[string]any{"costCenter": "CC-2", "level": float64(4)}, nil},
		{`[{"op":"replace","value":{"` + ext + `":{"costCenter":"cc-9"}}}]`, map[string]any{"costCenter": "cc-9", "level": float64(4)}, []string{"forms.view"}},
		{`[{"op":"remove","path":"` + ext + `:costCenter"}]`, map[string]any{"level": float64(4)}, nil},
	} {
		r = e.scim(a.ID, a.Token, "PATCH", "/Users/"+id, []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":`+step.ops+`}`))
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		r = e.scim(a.ID, a.Token, "GET", "/Users/"+id, nil)
		require.Equal(t, http.StatusOK, r.status)
		r.json(t, &user)
		require.Equal(t, step.want, user[ext], step.ops)
		if step.perm == nil {
			require.Empty(t, permissions(), step.ops)
		} else {
			require.Equal(t, step.perm, permissions(), step.ops)
		}
	}
	r = e.scim(a.ID, a.Token, "PATCH", "/Users/"+id, []byte(`{"Operations":[{"op":"replace","path":"`+ext+`:level","value":"high"}]}`))
	requireSCIMError(t, r, http.StatusBadRequest)

	r = e.scim(a.ID, a.Token, "GET", "/Users?filter="+url.QueryEscape(ext+":level ge 4"), nil)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var found struct {
		TotalResults int `json:"totalResults"`
	}
	r.json(t, &found)
	require.Equal(t, 1, found.TotalResults)

	// Removal waits for the values to go; costCenter has none left.
	r = e.do("DELETE", api+"?schema="+url.QueryEscape(ext)+"&name=level", operatorKey, nil)
	require.Equal(t, http.StatusConflict, r.status, string(r.body))
	r = e.do("DELETE", api+"?schema="+url.QueryEscape(ext)+"&name=costCenter", operatorKey, nil)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	r.json(t, &list)
	require.Len(t, list.Schemas[0].Attributes, 1)
}
