package scimplane_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/client/scimplane"
	"github.com/scimplane/scimplane/controlplane/app"
	"github.com/scimplane/scimplane/tests/apitest"
	"github.com/scimplane/scimplane/tests/pgtest"
)

var workerBin string

// TestMain builds the real worker once; the tests boot the control plane
// in-process against it, as controlplane/app's tests do.
func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "scimplane-client-test-")
	if err != nil {
		panic(err)
	}
	workerBin = filepath.Join(dir, "worker")
	if out, err := exec.Command("go", "build", "-o", workerBin, "github.com/scimplane/scimplane/worker").CombinedOutput(); err != nil {
		panic(fmt.Sprintf("build worker: %v: %s", err, out))
	}
	// As root, workers run as nobody, who must be able to run it.
	if err := os.Chmod(dir, 0o755); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const operatorKey = "spk_test-operator-key-0123456789abcdef"

// service is a running control plane with one tenant.
type service struct {
	t      *testing.T
	base   string
	tenant string
	token  string // the tenant's SCIM token
	http   *http.Client
}

// start boots the control plane; env are extra NAME=value settings.
func start(t *testing.T, env ...string) *service {
	t.Helper()
	if testing.Short() {
		t.Skip("boots the control plane")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	vars := map[string]string{
		"DATABASE_URL":            pgtest.NewDatabase(t),
		"SCIMPLANE_ADDR":          ln.Addr().String(),
		"SCIMPLANE_BOOTSTRAP_KEY": operatorKey,
		"SCIMPLANE_DATA_DIR":      t.TempDir(),
		"SCIMPLANE_WORKER_BIN":    workerBin,
		"SCIMPLANE_SECRET":        "test-secret-0123456789abcdef0123456789",
		// The webhook receivers of the tests listen on 127.0.0.1.
		"SCIMPLANE_WEBHOOK_ALLOW_PRIVATE": "true",
		"PATH":                            os.Getenv("PATH"),
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	cfg, err := app.ConfigFromEnv(func(k string) string { return vars[k] })
	require.NoError(t, err)
	cfg.Listener = ln
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	s := &service{t: t, base: "http://" + ln.Addr().String(), http: apitest.Client(t)}
	require.Eventually(t, func() bool {
		resp, err := http.Get(s.base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond)
	var created struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	s.call("POST", "/api/v1/tenants", operatorKey, `{"name":"Forms Inc"}`, http.StatusCreated, &created)
	s.tenant, s.token = created.ID, created.Token
	return s
}

// call sends one request and decodes its JSON answer into out.
func (s *service) call(method, path, bearer, body string, want int, out any) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, bytes.NewReader([]byte(body)))
	require.NoError(s.t, err)
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := s.http.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	var raw json.RawMessage
	_ = json.NewDecoder(resp.Body).Decode(&raw)
	require.Equal(s.t, want, resp.StatusCode, "%s %s: %s", method, path, raw)
	if out != nil {
		require.NoError(s.t, json.Unmarshal(raw, out))
	}
}

// scim provisions through the tenant's SCIM endpoint, as Entra does, and
// returns the resource's id.
func (s *service) scim(method, path, body string, want int) string {
	s.t.Helper()
	var res struct {
		ID string `json:"id"`
	}
	var out any
	if want != http.StatusNoContent {
		out = &res
	}
	s.call(method, "/scim/"+s.tenant+"/v2"+path, s.token, body, want, out)
	return res.ID
}

// key issues an API key of role for the tenant, as an operator does for a
// product team.
func (s *service) key(role string) string {
	var k struct {
		Key string `json:"key"`
	}
	s.call("POST", "/api/v1/api-keys", operatorKey, `{"name":"forms app","role":"`+role+`","tenant_id":"`+s.tenant+`"}`, http.StatusCreated, &k)
	return k.Key
}

func user(name string) string {
	return `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + name + `","displayName":"` + name + `","active":true}`
}

func addMember(userID string) string {
	return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":[{"value":"` + userID + `"}]}]}`
}

// The client reads what was provisioned through SCIM: users with their
// effective permissions, groups with their members, one user's permissions
// and why, with a support key scoped to the tenant; the API's refusals
// are typed errors.
func TestClient_ReadsWhatSCIMProvisioned(t *testing.T) {
	s := start(t)
	ada := s.scim("POST", "/Users", user("ada@example.com"), http.StatusCreated)
	bob := s.scim("POST", "/Users", user("bob@example.com"), http.StatusCreated)
	designers := s.scim("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Forms Designers"}`, http.StatusCreated)
	s.scim("PATCH", "/Groups/"+designers, addMember(ada), http.StatusNoContent)

	c, err := scimplane.New(s.base, s.key("support"), scimplane.WithHTTPClient(s.http))
	require.NoError(t, err)
	tn := c.Tenant(s.tenant)
	require.Equal(t, s.tenant, tn.ID())
	ctx := context.Background()

	perms := map[string][]string{}
	for u, err := range tn.Users(ctx, scimplane.UsersQuery{Limit: 1}) { // one per page: the iterator pages
		require.NoError(t, err)
		perms[u.UserName] = u.Permissions
	}
	designer := []string{"forms.design", "forms.submit", "forms.view"}
	require.Equal(t, map[string][]string{"ada@example.com": designer, "bob@example.com": {}}, perms)

	var groups []string
	for g, err := range tn.Groups(ctx, scimplane.GroupsQuery{Q: "design"}) {
		require.NoError(t, err)
		groups = append(groups, g.DisplayName)
		require.Equal(t, int64(1), g.Members)
		require.Equal(t, designer, g.Permissions)
	}
	require.Equal(t, []string{"Forms Designers"}, groups)
	var members []string
	for m, err := range tn.Members(ctx, designers) {
		require.NoError(t, err)
		members = append(members, m.ID)
	}
	require.Equal(t, []string{ada}, members)

	got, err := tn.Permissions(ctx, ada)
	require.NoError(t, err)
	require.Equal(t, designer, got)
	detail, err := tn.User(ctx, ada)
	require.NoError(t, err)
	require.Equal(t, []scimplane.GroupRef{{ID: designers, DisplayName: "Forms Designers"}}, detail.Groups)

	why, err := tn.Explain(ctx, ada, "forms.design")
	require.NoError(t, err)
	require.True(t, why.Granted)
	require.Equal(t, []scimplane.Grant{{Permission: "forms.design", Set: "designer", Group: designers, Rule: "forms-designers"}}, why.Grants)
	whyNot, err := tn.Explain(ctx, bob, "forms.design")
	require.NoError(t, err)
	require.False(t, whyNot.Granted)
	require.NotEmpty(t, whyNot.Reasons)

	_, err = tn.User(ctx, "00000000-0000-0000-0000-000000000000")
	var apiErr *scimplane.Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusNotFound, apiErr.StatusCode)
	require.NotEmpty(t, apiErr.Message)
	require.NotEmpty(t, apiErr.RequestID)
	require.True(t, scimplane.IsNotFound(err))

	other := s.key("support") // scoped to s.tenant: another tenant is off limits
	oc, err := scimplane.New(s.base, other, scimplane.WithHTTPClient(s.http))
	require.NoError(t, err)
	_, err = oc.Tenant("tnt_aaaaaaaaaaaaaaaa").ListUsers(ctx, scimplane.UsersQuery{})
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusForbidden, apiErr.StatusCode)
	bad, err := scimplane.New(s.base, "spk_wrong", scimplane.WithHTTPClient(s.http))
	require.NoError(t, err)
	_, err = bad.Tenant(s.tenant).ListGroups(ctx, scimplane.GroupsQuery{})
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusUnauthorized, apiErr.StatusCode)
}

// Follow hands over every committed change once, in order, with a cursor
// to resume from: what was there before it started, then what SCIM
// changes while it waits; restarted from a stored cursor it misses
// nothing.
func TestTenant_FollowTheChangeFeed(t *testing.T) {
	s := start(t)
	ada := s.scim("POST", "/Users", user("ada@example.com"), http.StatusCreated)
	designers := s.scim("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Forms Designers"}`, http.StatusCreated)
	s.scim("PATCH", "/Groups/"+designers, addMember(ada), http.StatusNoContent)

	c, err := scimplane.New(s.base, s.key("support"), scimplane.WithHTTPClient(s.http),
		scimplane.WithPolling(10*time.Millisecond, 100*time.Millisecond))
	require.NoError(t, err)
	tn := c.Tenant(s.tenant)

	type seen struct {
		kind, user string
		seq        int64
	}
	var (
		mu     sync.Mutex
		log    []seen
		cursor string
	)
	follow := func(ctx context.Context, from string, until func([]seen) bool) error {
		return tn.Follow(ctx, from, func(ctx context.Context, changes []scimplane.Change, next string) error {
			mu.Lock()
			defer mu.Unlock()
			for _, ch := range changes {
				// Membership and permissions only: users and groups
				// created are in the feed too.
				if ch.Kind == "member_added" || ch.Kind == "permissions_changed" {
					log = append(log, seen{ch.Kind, ch.UserID, ch.Seq})
				}
			}
			cursor = next
			if until(log) {
				return errDone
			}
			return nil
		})
	}
	kinds := func(l []seen) []string {
		var out []string
		for _, s := range l {
			out = append(out, s.kind+" "+s.user)
		}
		return out
	}

	// What committed before Follow started.
	err = follow(context.Background(), "", func(l []seen) bool { return len(l) >= 2 })
	require.ErrorIs(t, err, errDone)
	require.Equal(t, []string{"member_added " + ada, "permissions_changed " + ada}, kinds(log))
	stored := cursor

	// What commits while it waits.
	bob := s.scim("POST", "/Users", user("bob@example.com"), http.StatusCreated)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- follow(ctx, stored, func(l []seen) bool { return len(l) >= 4 }) }()
	s.scim("PATCH", "/Groups/"+designers, addMember(bob), http.StatusNoContent)
	require.ErrorIs(t, <-errc, errDone)
	require.Equal(t, []string{"member_added " + ada, "permissions_changed " + ada, "member_added " + bob, "permissions_changed " + bob}, kinds(log))
	for i := 1; i < len(log); i++ {
		require.Greater(t, log[i].seq, log[i-1].seq, "in commit order, each once")
	}

	// Nothing new: Follow waits until its context ends.
	quiet, stop := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer stop()
	require.ErrorIs(t, follow(quiet, cursor, func([]seen) bool { return true }), context.DeadlineExceeded)
	require.Len(t, log, 4)

	// A cursor the API cannot read stops Follow with its 400.
	err = follow(context.Background(), "x:1", func([]seen) bool { return true })
	var apiErr *scimplane.Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusBadRequest, apiErr.StatusCode)
}

var errDone = errors.New("done")
