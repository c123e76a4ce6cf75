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

// screenshotDir is tests/screenshots, next to this package.
func screenshotDir(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "screenshots")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// boot builds the worker, starts the control plane on a free loopback port
// and returns its base URL.
func boot(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "worker")
	build := exec.Command("go", "build", "-o", bin, "github.com/scimplane/scimplane/worker")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "build worker: %s", out)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
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

// browser starts headless Chromium with a 1440x900 window.
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
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel)
	require.NoError(t, chromedp.Run(ctx, chromedp.EmulateViewport(1440, 900)))
	return ctx
}

type session struct {
	t    *testing.T
	ctx  context.Context
	base string
	shot string
}

func (s *session) run(actions ...chromedp.Action) {
	s.t.Helper()
	require.NoError(s.t, chromedp.Run(s.ctx, actions...))
}

// screenshot saves the viewport as tests/screenshots/<name>.png.
func (s *session) screenshot(name string) {
	s.t.Helper()
	var png []byte
	s.run(chromedp.CaptureScreenshot(&png))
	require.NoError(s.t, os.WriteFile(filepath.Join(s.shot, name+".png"), png, 0o644))
}

// text returns the text of the first element matching sel.
func (s *session) text(sel string) string {
	s.t.Helper()
	var out string
	s.run(chromedp.Text(sel, &out, chromedp.ByQuery))
	return out
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
	s.run(chromedp.Navigate(base+"/admin/"), chromedp.WaitVisible("#key", chromedp.ByQuery))
	s.screenshot("01-signin")
	s.run(
		chromedp.SetValue("#key", "spk_not-a-key", chromedp.ByQuery),
		chromedp.Submit("#key", chromedp.ByQuery),
		chromedp.WaitVisible(".alert.bad", chromedp.ByQuery),
	)
	require.Contains(t, s.text(".alert.bad"), "not accepted")
	s.run(
		chromedp.SetValue("#key", operatorKey, chromedp.ByQuery),
		chromedp.Submit("#key", chromedp.ByQuery),
		chromedp.WaitVisible("#name", chromedp.ByQuery),
	)
	require.Contains(t, s.text(".who"), "operator")

	// Create a tenant: the setup page shows its first token once.
	s.run(
		chromedp.SetValue("#name", "Acme Corp", chromedp.ByQuery),
		chromedp.Submit("#name", chromedp.ByQuery),
		chromedp.WaitVisible("#new-token", chromedp.ByQuery),
	)
	var firstToken, tenantURL string
	s.run(chromedp.Value("#new-token", &firstToken, chromedp.ByQuery), chromedp.Value("#tenant-url", &tenantURL, chromedp.ByQuery))
	require.True(t, strings.HasPrefix(firstToken, "scimtok_"), firstToken)
	tenantPath := strings.TrimPrefix(tenantURL, base+"/scim/")
	tenantID := strings.TrimSuffix(tenantPath, "/v2")
	console := base + "/admin/tenants/" + tenantID

	// Rotate: generate a second token, then check the connection with it.
	s.run(
		chromedp.SetValue("#token-name", "Entra production", chromedp.ByQuery),
		chromedp.Submit("#token-name", chromedp.ByQuery),
		chromedp.WaitVisible("#new-token", chromedp.ByQuery),
	)
	var token string
	s.run(chromedp.Value("#new-token", &token, chromedp.ByQuery))
	require.NotEqual(t, firstToken, token)
	s.screenshot("02-setup-new-token")
	s.run(
		chromedp.SetValue("#check-token", token, chromedp.ByQuery),
		chromedp.Submit("#check-token", chromedp.ByQuery),
		chromedp.WaitVisible(".probes", chromedp.ByQuery),
	)
	require.Equal(t, 2, strings.Count(s.text(".probes"), "passed"), s.text(".probes"))
	s.run(chromedp.ScrollIntoView(".probes", chromedp.ByQuery))
	s.screenshot("03-setup-check-connection")

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
	status, body := scim(t, tenantURL, token, "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"alice@acme.example","active":true}`)
	require.Equal(t, http.StatusConflict, status, body)

	// Groups page: every group with its member count and permission sets.
	s.run(chromedp.Navigate(console+"/groups"), chromedp.WaitVisible("table.grid", chromedp.ByQuery))
	groups := s.text("table.grid tbody")
	for _, want := range []string{"Forms Designers", "Forms Viewers", "HR", "designer", "viewer", "user_admin"} {
		require.Contains(t, groups, want)
	}
	s.screenshot("04-groups")
	s.run(chromedp.Click(`//a[text()="Forms Viewers"]`, chromedp.BySearch), chromedp.WaitVisible(`//h1[text()="Forms Viewers"]`, chromedp.BySearch))
	members := s.text("table.grid tbody")
	require.Contains(t, members, "bob@acme.example")
	require.Contains(t, members, "carol@acme.example")
	s.screenshot("05-group-members")

	// Bob's permissions under the default mapping: viewer only.
	bob := console + "/users/" + userIDs["Bob"]
	s.run(chromedp.Navigate(bob), chromedp.WaitVisible("#permissions", chromedp.ByQuery))
	require.Contains(t, s.text("#permissions"), "forms.view")
	require.NotContains(t, s.text("#permissions"), "forms.design")

	// Policy editor: a broken Rego module is reported at its file and line.
	s.run(chromedp.Navigate(console+"/policy"), chromedp.WaitVisible("#file-mapping", chromedp.ByQuery))
	s.screenshot("06-policy-editor")
	s.run(
		chromedp.Click(".newfile summary", chromedp.ByQuery),
		chromedp.SetValue("#new-name", "extra.rego", chromedp.ByQuery),
		chromedp.SetValue("#new-src", "package scimplane.extra\n\nbroken if {\n  input.user.active ==\n}\n", chromedp.ByQuery),
		chromedp.Click(`button[value="validate"]`, chromedp.ByQuery),
		chromedp.WaitVisible(".problems", chromedp.ByQuery),
	)
	require.Contains(t, s.text(".problems"), "extra.rego:")
	s.run(chromedp.ScrollIntoView(".has-problems", chromedp.ByQuery))
	s.screenshot("07-policy-problems")

	// Change the mapping: Forms Viewers now get the designer set.
	var mapping string
	s.run(chromedp.Navigate(console+"/policy"), chromedp.WaitVisible("#file-mapping", chromedp.ByQuery), chromedp.Value("#file-mapping", &mapping, chromedp.ByQuery))
	changed := regrant(t, mapping, "forms-viewers", "designer")
	s.run(
		chromedp.SetValue("#file-mapping", changed, chromedp.ByQuery),
		chromedp.SetValue("#comment", "Viewers design forms too", chromedp.ByQuery),
		chromedp.Click(`button[value="validate"]`, chromedp.ByQuery),
		chromedp.WaitVisible(".alert.good", chromedp.ByQuery),
		chromedp.Click(`button[value="save"]`, chromedp.ByQuery),
		chromedp.WaitVisible("details.diff", chromedp.ByQuery),
	)
	require.Contains(t, s.text(".alert.good"), "Saved as version")
	s.run(
		chromedp.Click(`//button[text()="Dry run"]`, chromedp.BySearch),
		chromedp.WaitVisible("#dry-run", chromedp.ByQuery),
	)
	dry := s.text("#dry-run")
	require.Contains(t, dry, "bob@acme.example")
	require.Contains(t, dry, "+ forms.design")
	s.screenshot("08-policy-dry-run")
	s.run(
		chromedp.Click(`//button[text()="Activate"]`, chromedp.BySearch),
		chromedp.WaitVisible(`//*[contains(@class,"alert") and contains(., "is active")]`, chromedp.BySearch),
	)
	s.screenshot("09-policy-version")

	// Bob gained forms.design, and the console says why.
	s.run(chromedp.Navigate(bob+"?permission=forms.design"), chromedp.WaitVisible(".explain", chromedp.ByQuery))
	require.Contains(t, s.text("#permissions"), "forms.design")
	require.Contains(t, s.text(".explain"), "granted")
	s.screenshot("10-user-permissions")

	// The log viewer finds the duplicate userName.
	s.run(chromedp.Navigate(console+"/logs"), chromedp.WaitVisible("#log-rows", chromedp.ByQuery))
	s.screenshot("11-logs")
	s.run(
		chromedp.SetValue("#f-status", "409", chromedp.ByQuery),
		chromedp.Submit("#f-status", chromedp.ByQuery),
		chromedp.WaitVisible(`//tbody[@id="log-rows"]//span[text()="409"]`, chromedp.BySearch),
	)
	require.Contains(t, s.text("#log-rows"), "POST")
	s.run(chromedp.Click("#log-rows a", chromedp.ByQuery), chromedp.WaitVisible("#resp-body", chromedp.ByQuery))
	require.Contains(t, s.text("#resp-body"), "uniqueness")
	require.Contains(t, s.text("#req-body"), "alice@acme.example")
	s.screenshot("12-log-entry")

	// Tenants list with health at a glance, then a typed-confirmation delete.
	s.run(chromedp.Navigate(base+"/admin/tenants"), chromedp.WaitVisible("table.grid", chromedp.ByQuery))
	require.Contains(t, s.text("table.grid tbody"), "running")
	s.screenshot("13-tenants")
	s.run(
		chromedp.SetValue("#name", "Short-lived Ltd", chromedp.ByQuery),
		chromedp.Submit("#name", chromedp.ByQuery),
		chromedp.WaitVisible("#new-token", chromedp.ByQuery),
		chromedp.Navigate(base+"/admin/tenants"),
		chromedp.Click(`//tr[contains(., "Short-lived Ltd")]//a[text()="Delete"]`, chromedp.BySearch),
		chromedp.WaitVisible("#confirm", chromedp.ByQuery),
		chromedp.SetValue("#confirm", "wrong", chromedp.ByQuery),
		chromedp.Submit("#confirm", chromedp.ByQuery),
		chromedp.WaitVisible(".alert.bad", chromedp.ByQuery),
	)
	s.screenshot("14-delete-confirm")
	var doomed string
	s.run(chromedp.Text(".danger-zone label .mono", &doomed, chromedp.ByQuery))
	s.run(
		chromedp.SetValue("#confirm", doomed, chromedp.ByQuery),
		chromedp.Submit("#confirm", chromedp.ByQuery),
		chromedp.WaitVisible("table.grid", chromedp.ByQuery),
	)
	require.NotContains(t, s.text("table.grid tbody"), "Short-lived Ltd")

	// A POST without the session's CSRF token is refused.
	resp, err := http.Post(base+"/admin/tenants", "application/x-www-form-urlencoded", bytes.NewReader([]byte("name=evil")))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	t.Logf("browser walk done in %s", time.Since(start).Round(time.Millisecond))
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
