// Package browser drives the admin console in headless Chromium against a
// real control plane booted in-process (app.Run, a fresh database from
// pgtest, the real worker binary). Each page it visits is saved as a
// 1440x900 screenshot under tests/screenshots/. Under `go test -short` the
// suite is skipped; otherwise Debian's chromium package must be installed.
package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/controlplane/app"
	"github.com/scimplane/scimplane/tests/pgtest"
)

const operatorKey = "spk_browser-test-operator-0123456789abcdef"

// screenshotDir is tests/screenshots, next to this package, emptied of an
// earlier run's pictures.
func screenshotDir(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "screenshots")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	old, err := filepath.Glob(filepath.Join(dir, "*.png"))
	require.NoError(t, err)
	for _, f := range old {
		require.NoError(t, os.Remove(f))
	}
	return dir
}

// boot builds the worker, starts the control plane on a free loopback port
// and returns its base URL.
func boot(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "worker")
	build := exec.Command("go", "build", "-o", bin, "github.com/scimplane/scimplane/worker")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "build worker: %s", out)
	// As root, workers run as nobody, who must be able to run it.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		require.NoError(t, os.Chmod(d, 0o755))
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	vars := map[string]string{
		"DATABASE_URL":            pgtest.NewDatabase(t),
		"SCIMPLANE_ADDR":          addr,
		"SCIMPLANE_BOOTSTRAP_KEY": operatorKey,
		"SCIMPLANE_DATA_DIR":      t.TempDir(),
		"SCIMPLANE_WORKER_BIN":    bin,
		"SCIMPLANE_SECRET":        "browser-test-secret-0123456789abcdef012345",
		"PATH":                    os.Getenv("PATH"),
	}
	cfg, err := app.ConfigFromEnv(func(k string) string { return vars[k] })
	require.NoError(t, err)
	cfg.Listener = l
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	base := "http://" + addr
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond)
	return base
}

// browser starts headless Chromium with a 1440x900 viewport.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	require.NoError(t, err, "the browser tests need Chromium: apt-get install -y chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.WindowSize(1440, 900),
		chromedp.NoSandbox, // CI runs as root
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first action starts the browser, so its context has no deadline.
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1440, 900)))
	return ctx
}

type session struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shot  string
	shots int
}

// stepTimeout bounds one batch of browser steps.
const stepTimeout = 30 * time.Second

func (s *session) run(steps ...chromedp.Action[chromedp.Void]) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		png, _ := chromedp.Run(s.ctx, chromedp.CaptureScreenshot())
		_ = os.WriteFile(filepath.Join(s.shot, "failed.png"), png, 0o644)
		s.t.Fatalf("browser steps failed (see tests/screenshots/failed.png): %v", err)
	}
}

func get[T any](s *session, a chromedp.Action[T]) T {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	require.NoError(s.t, err)
	return v
}

// screenshot saves the viewport as tests/screenshots/<NN>-<name>.png,
// numbered in the order the walk takes them.
func (s *session) screenshot(name string) {
	s.t.Helper()
	png := get(s, chromedp.CaptureScreenshot())
	s.shots++
	require.NoError(s.t, os.WriteFile(filepath.Join(s.shot, fmt.Sprintf("%02d-%s.png", s.shots, name)), png, 0o644))
}

// text returns the rendered text of the first element matching the CSS
// selector, once it is visible. It reads through JavaScript, which cannot
// hold a node of a page that has since been replaced.
func (s *session) text(sel string) string {
	s.t.Helper()
	return s.property(sel, "innerText")
}

// value returns the value of the form field matching the CSS selector.
func (s *session) value(sel string) string {
	s.t.Helper()
	return s.property(sel, "value")
}

func (s *session) property(sel, prop string) string {
	s.t.Helper()
	s.run(chromedp.WaitVisible(chromedp.CSS(sel)))
	quoted, err := json.Marshal(sel)
	require.NoError(s.t, err)
	return get(s, chromedp.Evaluate[string]("document.querySelector("+string(quoted)+")."+prop))
}

// scim sends a SCIM request to the tenant's endpoint the way Entra does.
func scim(t *testing.T, tenantURL, token, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, tenantURL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestConsole(t *testing.T) {
	if testing.Short() {
		t.Skip("browser suite: runs without -short")
	}
	start := time.Now()
	base := boot(t)
	s := &session{t: t, ctx: browser(t), base: base, shot: screenshotDir(t)}
	t.Logf("control plane and browser up in %s", time.Since(start).Round(time.Millisecond))

	// Sign in: the console sends an anonymous visitor to the sign-in form.
	s.run(chromedp.Navigate(base+"/admin/"), chromedp.WaitVisible(chromedp.CSS("#key")))
	s.screenshot("signin")
	s.run(
		chromedp.SetValue(chromedp.CSS("#key"), "spk_not-a-key"),
		chromedp.Submit(chromedp.CSS("#key")),
		chromedp.WaitVisible(chromedp.CSS(".alert.bad")),
	)
	require.Contains(t, s.text(".alert.bad"), "not accepted")
	s.run(
		chromedp.SetValue(chromedp.CSS("#key"), operatorKey),
		chromedp.Submit(chromedp.CSS("#key")),
		chromedp.WaitVisible(chromedp.CSS("#name")),
	)
	require.Contains(t, s.text(".who"), "operator")

	// Create a tenant: the setup page shows its first token once.
	s.run(
		chromedp.SetValue(chromedp.CSS("#name"), "Acme Corp"),
		chromedp.Submit(chromedp.CSS("#name")),
		chromedp.WaitVisible(chromedp.CSS("#new-token")),
	)
	firstToken, tenantURL := s.value("#new-token"), s.value("#tenant-url")
	require.True(t, strings.HasPrefix(firstToken, "scimtok_"), firstToken)
	tenantPath := strings.TrimPrefix(tenantURL, base+"/scim/")
	tenantID := strings.TrimSuffix(tenantPath, "/v2")
	console := base + "/admin/tenants/" + tenantID

	// Rotate: generate a second token, then check the connection with it.
	s.run(
		chromedp.SetValue(chromedp.CSS("#token-name"), "Entra production"),
		chromedp.Submit(chromedp.CSS("#token-name")),
		chromedp.WaitVisible(chromedp.Search(`//td[contains(., "Entra production")]`)),
	)
	token := s.value("#new-token")
	require.NotEqual(t, firstToken, token)
	s.screenshot("setup-new-token")
	s.run(
		chromedp.SetValue(chromedp.CSS("#check-token"), token),
		chromedp.Submit(chromedp.CSS("#check-token")),
		chromedp.WaitVisible(chromedp.CSS(".probes")),
	)
	require.Equal(t, 2, strings.Count(s.text(".probes"), "passed"), s.text(".probes"))
	s.run(chromedp.ScrollIntoView(chromedp.CSS(".probes")))
	s.screenshot("setup-check-connection")
	// Revoke the first token: the new one keeps working, the old one stops.
	s.run(
		chromedp.Click(chromedp.Search(`//tr[contains(., "initial")]//button[text()="Revoke"]`)),
		chromedp.WaitVisible(chromedp.Search(`//tr[contains(., "initial")]//span[text()="revoked"]`)),
	)
	status, body := scim(t, tenantURL, firstToken, "GET", "/Users?count=1", "")
	require.Equal(t, http.StatusUnauthorized, status, body)

	// Provision users and groups the way Entra does.
	userIDs := map[string]string{}
	for _, u := range []struct{ name, given, dept string }{
		{"alice@acme.example", "Alice", "Design"},
		{"bob@acme.example", "Bob", "Sales"},
		{"carol@acme.example", "Carol", "Human Resources"},
	} {
		status, body := scim(t, tenantURL, token, "POST", "/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			"userName":%q,"externalId":"ext-%s","active":true,"displayName":"%s Example","name":{"givenName":%q,"familyName":"Example"},
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":%q}}`, u.name, u.given, u.given, u.given, u.dept))
		require.Equal(t, http.StatusCreated, status, body)
		userIDs[u.given] = jsonField(t, body, "id")
	}
	for _, g := range []struct {
		name    string
		members []string
	}{
		{"Forms Designers", []string{"Alice"}},
		{"Forms Viewers", []string{"Bob", "Carol"}},
		{"HR", []string{"Carol"}},
	} {
		var members []string
		for _, m := range g.members {
			members = append(members, fmt.Sprintf(`{"value":%q}`, userIDs[m]))
		}
		status, body := scim(t, tenantURL, token, "POST", "/Groups", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],
			"displayName":%q,"externalId":"ext-%s","members":[%s]}`, g.name, strings.ReplaceAll(g.name, " ", "-"), strings.Join(members, ",")))
		require.Equal(t, http.StatusCreated, status, body)
	}
	// A failed request for the log viewer to find: a duplicate userName.
	status, body = scim(t, tenantURL, token, "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"alice@acme.example","active":true}`)
	require.Equal(t, http.StatusConflict, status, body)
	// And one the control plane refuses before the worker: a wrong token.
	status, body = scim(t, tenantURL, "scimtok_wrong", "GET", "/Users", "")
	require.Equal(t, http.StatusUnauthorized, status, body)

	// Groups page: every group with its member count and permission sets.
	s.run(chromedp.Navigate(console+"/groups"), chromedp.WaitVisible(chromedp.CSS("table.grid")))
	groups := s.text("table.grid tbody")
	for _, want := range []string{"Forms Designers", "Forms Viewers", "HR", "designer", "viewer"} {
		require.Contains(t, groups, want)
	}
	s.screenshot("groups")
	s.run(chromedp.Click(chromedp.Search(`//a[text()="Forms Viewers"]`)), chromedp.WaitVisible(chromedp.Search(`//h1[text()="Forms Viewers"]`)))
	members := s.text("table.grid tbody")
	require.Contains(t, members, "bob@acme.example")
	require.Contains(t, members, "carol@acme.example")
	s.screenshot("group-members")

	// Enough users for a second page of the users list (50 a page).
	for i := range 52 {
		status, body := scim(t, tenantURL, token, "POST", "/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"user%02d@acme.example","active":true}`, i))
		require.Equal(t, http.StatusCreated, status, body)
	}
	rows := func() int {
		return get(s, chromedp.Evaluate[int](`document.querySelectorAll("table.grid tbody tr").length`))
	}
	s.run(chromedp.Navigate(console+"/users"), chromedp.WaitVisible(chromedp.CSS("table.grid")))
	require.Equal(t, 50, rows())
	s.screenshot("users")
	s.run(
		chromedp.Click(chromedp.CSS("a[data-next]")),
		chromedp.WaitVisible(chromedp.Search(`//a[contains(., "First page")]`)),
	)
	require.Equal(t, 5, rows())

	// Bob's permissions under the default mapping: viewer only.
	bob := console + "/users/" + userIDs["Bob"]
	s.run(chromedp.Navigate(bob), chromedp.WaitVisible(chromedp.CSS("#permissions")))
	require.Contains(t, s.text("#permissions"), "forms.view")
	require.NotContains(t, s.text("#permissions"), "forms.design")

	// Policy editor: a broken Rego module is reported at its file and line.
	s.run(chromedp.Navigate(console+"/policy"), chromedp.WaitVisible(chromedp.CSS("#file-mapping")))
	s.screenshot("policy-editor")
	s.run(
		chromedp.Click(chromedp.CSS(".newfile summary")),
		chromedp.SetValue(chromedp.CSS("#new-name"), "extra.rego"),
		chromedp.SetValue(chromedp.CSS("#new-src"), "package scimplane.extra\n\nbroken if {\n  input.user.active ==\n}\n"),
		chromedp.Click(chromedp.CSS(`button[value="validate"]`)),
		chromedp.WaitVisible(chromedp.CSS(".problems")),
	)
	require.Contains(t, s.text(".problems"), "extra.rego:")
	s.run(chromedp.ScrollIntoView(chromedp.CSS(".has-problems")))
	s.screenshot("policy-problems")

	// Change the mapping: Forms Viewers now get the designer set.
	s.run(chromedp.Navigate(console+"/policy"), chromedp.WaitVisible(chromedp.CSS("#file-mapping")))
	mapping := s.value("#file-mapping")
	changed := regrant(t, mapping, "forms-viewers", "designer")
	s.run(
		chromedp.SetValue(chromedp.CSS("#file-mapping"), changed),
		chromedp.SetValue(chromedp.CSS("#comment"), "Viewers design forms too"),
		chromedp.Click(chromedp.CSS(`button[value="validate"]`)),
		chromedp.WaitVisible(chromedp.CSS(".alert.good")),
		chromedp.Click(chromedp.CSS(`button[value="save"]`)),
		chromedp.WaitVisible(chromedp.CSS("details.diff")),
	)
	require.Contains(t, s.text(".alert.good"), "Saved as version")
	s.run(
		chromedp.Click(chromedp.Search(`//button[text()="Dry run"]`)),
		chromedp.WaitVisible(chromedp.CSS("#dry-run")),
	)
	dry := s.text("#dry-run")
	require.Contains(t, dry, "bob@acme.example")
	require.Contains(t, dry, "+ forms.design")
	s.screenshot("policy-dry-run")
	// Each wait names something only the next page has, so that it never
	// matches the page the click leaves.
	activate := func(label, version string) {
		s.run(
			chromedp.Click(chromedp.Search(`//button[text()="`+label+`"]`)),
			chromedp.WaitVisible(chromedp.Search(`//*[contains(@class,"alert") and contains(., "Version `+version+` is active")]`)),
		)
	}
	activate("Activate", "1")

	// Version 2 takes it back; its page diffs it against the active one.
	// Then roll back to version 1.
	s.run(
		chromedp.Click(chromedp.Search(`//a[text()="Edit a copy"]`)),
		chromedp.WaitVisible(chromedp.CSS("#file-mapping")),
	)
	s.run(
		chromedp.SetValue(chromedp.CSS("#file-mapping"), regrant(t, s.value("#file-mapping"), "forms-viewers", "viewer")),
		chromedp.SetValue(chromedp.CSS("#comment"), "Viewers only view again"),
		chromedp.Click(chromedp.CSS(`button[value="save"]`)),
		chromedp.WaitVisible(chromedp.CSS("tr.add")),
	)
	require.Contains(t, s.text("h1"), "Version 2")
	require.Contains(t, s.text("tr.add"), `"viewer"`)
	require.Contains(t, s.text("tr.del"), `"designer"`)
	s.screenshot("policy-version-diff")
	activate("Activate", "2")
	s.run(
		chromedp.Click(chromedp.Search(`//ol[@class="versions"]//a[.="v1"]`)),
		chromedp.WaitVisible(chromedp.Search(`//button[text()="Roll back to this version"]`)),
	)
	activate("Roll back to this version", "1")
	require.Contains(t, s.text(".versions .current"), "active")

	// Bob gained forms.design, and the console says why.
	s.run(chromedp.Navigate(bob+"?permission=forms.design"), chromedp.WaitVisible(chromedp.CSS(".explain")))
	require.Contains(t, s.text("#permissions"), "forms.design")
	require.Contains(t, s.text(".explain"), "granted")
	s.screenshot("user-permissions")

	// The log viewer finds the duplicate userName.
	s.run(chromedp.Navigate(console+"/logs"), chromedp.WaitVisible(chromedp.CSS("#log-rows")))
	require.Contains(t, s.text(".rejections"), "401")
	s.run(
		chromedp.Click(chromedp.CSS("#live-tail")),
		chromedp.WaitVisible(chromedp.Search(`//*[@id="tail-status" and starts-with(., "Updated")]`)),
	)
	s.screenshot("logs")
	s.run(
		chromedp.SetValue(chromedp.CSS("#f-status"), "409"),
		chromedp.Submit(chromedp.CSS("#f-status")),
		chromedp.WaitVisible(chromedp.Search(`//input[@id="f-status" and @value="409"]`)),
	)
	require.Contains(t, s.text("#log-rows"), "POST")
	csv := get(s, chromedp.Evaluate[string](`fetch(document.querySelector('a[href*="format=csv"]').href).then(r => r.text())`, chromedp.EvalAwaitPromise))
	require.Len(t, strings.Split(strings.TrimSpace(csv), "\n"), 2, "CSV export of the 409 filter: %s", csv)
	require.Contains(t, csv, "uniqueness")
	s.run(chromedp.Click(chromedp.CSS("#log-rows a")), chromedp.WaitVisible(chromedp.CSS("#resp-body")))
	require.Contains(t, s.text("#resp-body"), "uniqueness")
	require.Contains(t, s.text("#req-body"), "alice@acme.example")
	s.screenshot("log-entry")

	// Tenants list with health at a glance, then a typed-confirmation delete.
	s.run(chromedp.Navigate(base+"/admin/tenants"), chromedp.WaitVisible(chromedp.CSS("table.grid")))
	require.Contains(t, s.text("table.grid tbody"), "running")
	s.screenshot("tenants")
	s.run(
		chromedp.SetValue(chromedp.CSS("#name"), "Short-lived Ltd"),
		chromedp.Submit(chromedp.CSS("#name")),
		chromedp.WaitVisible(chromedp.CSS("#new-token")),
		chromedp.Navigate(base+"/admin/tenants"),
		chromedp.Click(chromedp.Search(`//tr[contains(., "Short-lived Ltd")]//a[text()="Delete"]`)),
		chromedp.WaitVisible(chromedp.CSS("#confirm")),
		chromedp.SetValue(chromedp.CSS("#confirm"), "wrong"),
		chromedp.Submit(chromedp.CSS("#confirm")),
		chromedp.WaitVisible(chromedp.CSS(".alert.bad")),
	)
	s.screenshot("delete-confirm")
	doomed := s.text(".danger-zone label .mono")
	s.run(
		chromedp.SetValue(chromedp.CSS("#confirm"), doomed),
		chromedp.Submit(chromedp.CSS("#confirm")),
		chromedp.WaitVisible(chromedp.CSS("table.grid")),
	)
	require.NotContains(t, s.text("table.grid tbody"), "Short-lived Ltd")

	// A support key scoped to the tenant sees its pages but no controls.
	supportKey := createAPIKey(t, base, `{"name":"helpdesk","role":"support","tenant_id":"`+tenantID+`"}`)
	s.run(
		chromedp.Click(chromedp.Search(`//button[text()="Sign out"]`)),
		chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SetValue(chromedp.CSS("#key"), supportKey),
		chromedp.Submit(chromedp.CSS("#key")),
		chromedp.WaitVisible(chromedp.CSS("#tenant-url")),
	)
	require.Contains(t, s.text(".who"), "support")
	require.NotContains(t, s.text("main"), "Generate token")
	require.NotContains(t, s.text("nav.side"), "Tenants")
	s.run(chromedp.Navigate(console+"/policy"), chromedp.WaitVisible(chromedp.CSS("#file-mapping")))
	require.Contains(t, s.text("main"), "may read this policy but not change it")

	// A tenant admin of the same tenant may manage its tokens and policy.
	adminKey := createAPIKey(t, base, `{"name":"acme admin","role":"tenant_admin","tenant_id":"`+tenantID+`"}`)
	s.run(
		chromedp.Click(chromedp.Search(`//button[text()="Sign out"]`)),
		chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SetValue(chromedp.CSS("#key"), adminKey),
		chromedp.Submit(chromedp.CSS("#key")),
		chromedp.WaitVisible(chromedp.CSS("#token-name")),
	)
	require.Contains(t, s.text(".who"), "tenant_admin")

	// A POST without the session's CSRF token is refused.
	resp, err := http.Post(base+"/admin/tenants", "application/x-www-form-urlencoded", bytes.NewReader([]byte("name=evil")))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	t.Logf("browser walk done in %s", time.Since(start).Round(time.Millisecond))
}

// createAPIKey creates an admin API key with the operator key and returns it.
func createAPIKey(t *testing.T, base, body string) string {
	t.Helper()
	req, err := http.NewRequest("POST", base+"/api/v1/api-keys", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+operatorKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(b))
	return jsonField(t, string(b), "key")
}

// jsonField pulls a top-level string field out of a JSON document.
func jsonField(t *testing.T, doc, field string) string {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(doc), &m), doc)
	v, _ := m[field].(string)
	require.NotEmpty(t, v, doc)
	return v
}

// regrant changes the sets of the mapping document's grant named name.
func regrant(t *testing.T, mapping, name string, sets ...string) string {
	t.Helper()
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(mapping), &doc), mapping)
	grants, _ := doc["grants"].([]any)
	for _, g := range grants {
		if g := g.(map[string]any); g["name"] == name {
			g["sets"] = sets
			out, err := json.MarshalIndent(doc, "", "  ")
			require.NoError(t, err)
			return string(out)
		}
	}
	t.Fatalf("no grant %q in the mapping: %s", name, mapping)
	return ""
}
