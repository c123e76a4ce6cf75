// Package console is the admin web console at /admin/: server-rendered
// pages over the control plane's own admin API. Every page calls
// /api/v1/... over HTTP with the signed-in user's API key, so the console
// can do exactly what that key may do and nothing more. The key lives in an
// AES-GCM sealed, HttpOnly, SameSite=Strict cookie; every POST carries a
// CSRF token bound to that session. Replicas share nothing but the secret.
package console

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/scimplane/scimplane/controlplane/internal/tenant"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Params configure the console.
type Params struct {
	// APIURL is where the admin API answers, normally the server's own
	// listen address, e.g. "http://127.0.0.1:8080".
	APIURL string
	// Secret is the server secret; the session cookie key derives from it.
	Secret []byte
	Logger *slog.Logger
}

const (
	cookieName = "scimplane_console"
	sessionTTL = 12 * time.Hour
	prefix     = "/admin"
)

type console struct {
	api    string
	http   *http.Client
	sealer *sealer
	log    *slog.Logger
	pages  map[string]*template.Template
	static fs.FS
	now    func() time.Time
}

// Mount adds the console's routes under /admin/ to app.
func Mount(app *fiber.App, p Params) {
	static, _ := fs.Sub(staticFS, "static")
	con := &console{
		api:    strings.TrimRight(p.APIURL, "/"),
		http:   &http.Client{Timeout: 60 * time.Second},
		sealer: newSealer(p.Secret),
		log:    p.Logger,
		pages:  parsePages(),
		static: static,
		now:    time.Now,
	}
	con.routes(app.Group(prefix))
}

func (con *console) routes(r fiber.Router) {
	r.Get("/static/:file", con.serveStatic)
	r.Get("/signin", con.public(con.signInPage))
	r.Post("/signin", con.public(con.signIn))
	r.Post("/signout", con.public(con.signOut))

	r.Get("/", con.page(con.home))
	r.Get("/tenants", con.page(con.tenantsPage))
	r.Post("/tenants", con.page(con.createTenant))
	r.Post("/tenants/:id/enable", con.page(con.setEnabled(true)))
	r.Post("/tenants/:id/disable", con.page(con.setEnabled(false)))
	r.Get("/tenants/:id/delete", con.page(con.deletePage))
	r.Post("/tenants/:id/delete", con.page(con.deleteTenant))

	r.Get("/tenants/:id", con.page(con.setupPage))
	r.Post("/tenants/:id/tokens", con.page(con.createToken))
	r.Post("/tenants/:id/tokens/:token/revoke", con.page(con.revokeToken))
	r.Post("/tenants/:id/check", con.page(con.checkConnection))

	r.Get("/tenants/:id/groups", con.page(con.groupsPage))
	r.Get("/tenants/:id/groups/:gid", con.page(con.groupPage))
	r.Get("/tenants/:id/users", con.page(con.usersPage))
	r.Get("/tenants/:id/users/:uid", con.page(con.userPage))

	r.Get("/tenants/:id/policy", con.page(con.policyPage))
	r.Post("/tenants/:id/policy", con.page(con.policySubmit))
	r.Get("/tenants/:id/policy/:version", con.page(con.versionPage))
	r.Post("/tenants/:id/policy/:version/dry-run", con.page(con.dryRun))
	r.Post("/tenants/:id/policy/:version/activate", con.page(con.activate))

	r.Get("/tenants/:id/extensions", con.page(con.extensionsPage))
	r.Post("/tenants/:id/extensions", con.page(con.declareExtension))
	r.Post("/tenants/:id/extensions/remove", con.page(con.removeExtension))

	r.Get("/tenants/:id/webhooks", con.page(con.webhooksPage))
	r.Post("/tenants/:id/webhooks", con.page(con.createWebhook))
	for _, action := range []string{"rotate-secret", "test", "enable", "disable", "delete"} {
		r.Post("/tenants/:id/webhooks/:wid/"+action, con.page(con.webhookAction(action)))
	}
	r.Post("/tenants/:id/webhooks/:wid/deliveries/:did/replay", con.page(con.webhookAction("replay")))

	r.Get("/tenants/:id/logs", con.page(con.logsPage))
	r.Get("/tenants/:id/logs/rows", con.page(con.logRows))
	r.Get("/tenants/:id/logs/export", con.page(con.logExport))
	r.Get("/tenants/:id/logs/:entry", con.page(con.logEntryPage))
}

// request is one console request: its session and an API client acting
// with the session's key.
type request struct {
	c    *fiber.Ctx
	sess *session
	api  *client
}

// badInput is a request the user can fix; its text is shown as is.
type badInput string

func (e badInput) Error() string { return string(e) }

// page serves a page that needs a signed-in user.
func (con *console) page(h func(*request) error) fiber.Handler { return con.wrap(h, true) }

// public serves a page that works without signing in.
func (con *console) public(h func(*request) error) fiber.Handler { return con.wrap(h, false) }

// wrap loads the session, insists on a signed-in one if asked, checks the
// CSRF token of every POST, and turns handler errors into an error page.
func (con *console) wrap(h func(*request) error, signIn bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Set("Cache-Control", "no-store")
		c.Set("X-Frame-Options", "DENY")
		c.Set("Referrer-Policy", "same-origin")
		c.Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
		sess, err := con.sealer.open(c.Cookies(cookieName), con.now())
		if err != nil {
			sess = newSession(con.now(), sessionTTL)
			con.setSession(c, sess)
		}
		r := &request{c: c, sess: sess, api: &client{http: con.http, base: con.api, key: sess.Key, session: sess.ID}}
		if c.Method() == fiber.MethodPost && !sess.validCSRF(c.FormValue("csrf")) {
			return con.fail(r, fiber.StatusForbidden, errors.New("the form expired or did not come from this console; reload the page and try again"))
		}
		if signIn && !sess.SignedIn() {
			if c.Method() != fiber.MethodGet {
				return con.fail(r, fiber.StatusUnauthorized, errors.New("sign in first"))
			}
			return c.Redirect(prefix+"/signin?next="+url.QueryEscape(c.OriginalURL()), fiber.StatusSeeOther)
		}
		if err := h(r); err != nil {
			status := fiber.StatusInternalServerError
			var ae *apiError
			var bad badInput
			if errors.As(err, &bad) {
				status = fiber.StatusBadRequest
			}
			if errors.As(err, &ae) {
				status = ae.Status
				if ae.Status == fiber.StatusUnauthorized {
					// The key was revoked: start over.
					con.setSession(c, newSession(con.now(), sessionTTL))
					return c.Redirect(prefix+"/signin", fiber.StatusSeeOther)
				}
			}
			return con.fail(r, status, err)
		}
		return nil
	}
}

func (con *console) setSession(c *fiber.Ctx, sess *session) {
	c.Cookie(&fiber.Cookie{
		Name:     cookieName,
		Value:    con.sealer.seal(sess),
		Path:     prefix,
		Expires:  sess.Expires,
		Secure:   true,
		HTTPOnly: true,
		SameSite: fiber.CookieSameSiteStrictMode,
	})
}

// fail renders the error page. API errors are shown as the API answered
// (they are meant for the caller); anything else is logged and summarised.
func (con *console) fail(r *request, status int, err error) error {
	var ae *apiError
	msg := err.Error()
	if errors.As(err, &ae) {
		msg = ae.Message
	} else if status >= 500 {
		con.log.ErrorContext(r.c.UserContext(), "console request failed", "path", r.c.Path(), "err", err)
		msg = "internal error; see the control plane's log"
	}
	r.c.Status(status)
	return con.render(r, "error", page{Title: "Error", Data: map[string]any{"Status": status, "Message": msg, "API": ae}})
}

// page is what every template gets.
type page struct {
	Title  string
	Nav    string             // highlighted navigation entry
	Tenant *tenant.TenantView // set on a tenant's pages
	Sess   *session
	Data   any
}

func (con *console) render(r *request, name string, p page) error {
	t, ok := con.pages[name]
	if !ok {
		return errors.New("no template " + name)
	}
	p.Sess = r.sess
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		return err
	}
	r.c.Type("html", "utf-8")
	return r.c.Send(buf.Bytes())
}

// renderFragment executes a named template without the layout.
func (con *console) renderFragment(r *request, name, block string, data any) error {
	var buf bytes.Buffer
	if err := con.pages[name].ExecuteTemplate(&buf, block, data); err != nil {
		return err
	}
	r.c.Type("html", "utf-8")
	return r.c.Send(buf.Bytes())
}

func (con *console) serveStatic(c *fiber.Ctx) error {
	name := c.Params("file")
	b, err := fs.ReadFile(con.static, name)
	if err != nil {
		return fiber.ErrNotFound
	}
	switch {
	case strings.HasSuffix(name, ".css"):
		c.Type("css", "utf-8")
	case strings.HasSuffix(name, ".js"):
		c.Type("js", "utf-8")
	}
	c.Set("Cache-Control", "public, max-age=300")
	return c.Send(b)
}

// home sends operators to the tenant list and scoped keys to their tenant.
func (con *console) home(r *request) error {
	if r.sess.Tenant != "" {
		return r.c.Redirect(prefix+"/tenants/"+url.PathEscape(r.sess.Tenant), fiber.StatusSeeOther)
	}
	return r.c.Redirect(prefix+"/tenants", fiber.StatusSeeOther)
}

// tenant reads the tenant named in the URL, for the page's header.
func (r *request) tenant() (*tenant.TenantView, error) {
	var t tenant.TenantView
	if err := r.api.get(r.c.UserContext(), tenantPath(r.c.Params("id")), nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// redirect answers a POST with a 303 to a console path.
func (r *request) redirect(path string) error {
	return r.c.Redirect(prefix+path, fiber.StatusSeeOther)
}
