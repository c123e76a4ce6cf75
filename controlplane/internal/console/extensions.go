package console

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

// extensionsPage lists the tenant's declared extension schemas, with a
// form to declare an attribute and a button to remove each.
func (con *console) extensionsPage(r *request) error {
	return con.renderExtensions(r, "", scimworker.ExtensionAttribute{Type: "string", ResourceType: "User"})
}

func (con *console) renderExtensions(r *request, problem string, form scimworker.ExtensionAttribute) error {
	t, err := r.tenant()
	if err != nil {
		return err
	}
	var out scimworker.Extensions
	if err := r.api.get(r.c.UserContext(), tenantPath(t.ID, "extensions"), nil, &out); err != nil {
		return err
	}
	data := map[string]any{"Extensions": out, "Problem": problem, "Form": form, "Done": r.c.Query("done"),
		"Types": []string{"string", "boolean", "integer", "decimal", "dateTime", "reference"}}
	return con.render(r, "extensions", page{Title: t.Name + ": extension attributes", Nav: "extensions", Tenant: t, Data: data})
}

// declareExtension posts the form; a refusal the admin can fix (400, 409)
// shows on the page with the form as it was filled in.
func (con *console) declareExtension(r *request) error {
	id := r.c.Params("id")
	in := scimworker.ExtensionAttribute{
		Schema: strings.TrimSpace(r.c.FormValue("schema")), ResourceType: r.c.FormValue("resourceType"),
		Name: strings.TrimSpace(r.c.FormValue("name")), Type: r.c.FormValue("type"),
		MultiValued: r.c.FormValue("multiValued") == "on", CaseExact: r.c.FormValue("caseExact") == "on",
		Description: strings.TrimSpace(r.c.FormValue("description")),
	}
	err := r.api.post(r.c.UserContext(), tenantPath(id, "extensions"), in, &scimworker.Extensions{})
	if refusal, ok := fixable(err); ok {
		return con.renderExtensions(r, refusal, in)
	}
	if err != nil {
		return err
	}
	return r.redirect("/tenants/" + url.PathEscape(id) + "/extensions?done=" + url.QueryEscape("declared "+in.Name))
}

// removeExtension removes one declared attribute; while resources hold
// values of it the API refuses (409) and the page says why.
func (con *console) removeExtension(r *request) error {
	id := r.c.Params("id")
	q := url.Values{"schema": {r.c.FormValue("schema")}, "name": {r.c.FormValue("name")}}
	err := r.api.do(r.c.UserContext(), http.MethodDelete, tenantPath(id, "extensions"), q, nil, &scimworker.Extensions{})
	if refusal, ok := fixable(err); ok {
		return con.renderExtensions(r, refusal, scimworker.ExtensionAttribute{Type: "string", ResourceType: "User"})
	}
	if err != nil {
		return err
	}
	return r.redirect("/tenants/" + url.PathEscape(id) + "/extensions?done=" + url.QueryEscape("removed "+r.c.FormValue("name")))
}

// fixable is the message of an API refusal the admin can act on.
func fixable(err error) (string, bool) {
	var ae *apiError
	if errors.As(err, &ae) && (ae.Status == http.StatusBadRequest || ae.Status == http.StatusConflict || ae.Status == http.StatusNotFound) {
		return ae.Message, true
	}
	return "", false
}
