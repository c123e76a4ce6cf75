package console

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/scimplane/scimplane/controlplane/internal/httpapi"
	"github.com/scimplane/scimplane/controlplane/internal/tenant"
)

func (con *console) setupPage(r *request) error {
	t, err := r.tenant()
	if err != nil {
		return err
	}
	return con.renderSetup(r, t, nil, nil)
}

// renderSetup renders the Entra setup page, with a token just issued (shown
// this once) or the results of a connection check.
func (con *console) renderSetup(r *request, t *tenant.TenantView, issued *tenant.CreatedToken, check []probeResult) error {
	var tokens httpapi.TokenList
	if err := r.api.get(r.c.UserContext(), tenantPath(t.ID, "tokens"), nil, &tokens); err != nil {
		return err
	}
	data := map[string]any{"Tokens": tokens.Tokens, "Issued": issued, "Check": check, "Manage": r.sess.CanManage(t.ID)}
	return con.render(r, "setup", page{Title: t.Name + ": Entra setup", Nav: "setup", Tenant: t, Data: data})
}

func (con *console) createToken(r *request) error {
	t, err := r.tenant()
	if err != nil {
		return err
	}
	in := map[string]any{"name": strings.TrimSpace(r.c.FormValue("name"))}
	if days := r.c.FormValue("expires_days"); days != "" && days != "0" {
		var n int
		if _, err := fmt.Sscan(days, &n); err != nil || n < 1 {
			return badInput("expiry must be a number of days")
		}
		in["expires_at"] = con.now().UTC().AddDate(0, 0, n).Format(time.RFC3339)
	}
	var tok tenant.CreatedToken
	if err := r.api.post(r.c.UserContext(), tenantPath(t.ID, "tokens"), in, &tok); err != nil {
		return err
	}
	return con.renderSetup(r, t, &tok, nil)
}

func (con *console) revokeToken(r *request) error {
	id := r.c.Params("id")
	if err := r.api.do(r.c.UserContext(), http.MethodDelete, tenantPath(id, "tokens", r.c.Params("token")), nil, nil, nil); err != nil {
		return err
	}
	return r.redirect("/tenants/" + url.PathEscape(id))
}

// probeResult is one request of the connection check.
type probeResult struct {
	Method  string
	Shown   string // the URL, unescaped for reading
	Status  int
	Body    string
	Error   string
	Elapsed time.Duration
	OK      bool
}

// checkConnection sends what Entra's "Test Connection" sends: a filter on a
// random userName and a members-less filter on a random group name, with
// the token the admin pasted. Both must answer 200 with an empty list.
func (con *console) checkConnection(r *request) error {
	t, err := r.tenant()
	if err != nil {
		return err
	}
	token := strings.TrimSpace(r.c.FormValue("token"))
	guid := newGUID()
	probes := []string{
		"/Users?" + url.Values{"filter": {`userName eq "` + guid + `"`}}.Encode(),
		"/Groups?" + url.Values{"excludedAttributes": {"members"}, "filter": {`displayName eq "` + guid + `"`}}.Encode(),
	}
	results := make([]probeResult, len(probes))
	for i, p := range probes {
		results[i] = con.probe(r.c.UserContext(), strings.TrimRight(t.SCIMURL, "/")+p, token)
	}
	return con.renderSetup(r, t, nil, results)
}

func (con *console) probe(ctx context.Context, target, token string) probeResult {
	res := probeResult{Method: http.MethodGet, Shown: target}
	if shown, err := url.QueryUnescape(target); err == nil {
		res.Shown = shown
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/scim+json")
	req.Header.Set("User-Agent", "scimplane-console (connection check)")
	began := time.Now()
	resp, err := con.http.Do(req)
	res.Elapsed = time.Since(began).Round(time.Millisecond)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<10))
	res.Status, res.Body = resp.StatusCode, prettyJSON(string(body))
	res.OK = resp.StatusCode == http.StatusOK
	return res
}

// newGUID returns a random RFC 4122 version 4 id, as Entra's probe uses.
func newGUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
