package console

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/scimplane/scimplane/controlplane/internal/tenant"
)

func (con *console) signInPage(r *request) error {
	return con.render(r, "signin", page{Title: "Sign in", Data: map[string]any{"Next": safeNext(r.c.Query("next"))}})
}

func (con *console) signIn(r *request) error {
	key := strings.TrimSpace(r.c.FormValue("key"))
	next := safeNext(r.c.FormValue("next"))
	api := &client{http: con.http, base: con.api, key: key}
	me, err := identify(r.c.UserContext(), api)
	if err != nil {
		var ae *apiError
		msg := "That key was not accepted."
		if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
			msg = "Could not check the key: " + err.Error()
		}
		r.c.Status(http.StatusUnauthorized)
		return con.render(r, "signin", page{Title: "Sign in", Data: map[string]any{"Next": next, "Error": msg}})
	}
	// A fresh session (and CSRF token) on every sign-in.
	sess := newSession(con.now(), sessionTTL)
	sess.Key, sess.Role, sess.Tenant = key, me.Role, me.TenantID
	con.setSession(r.c, sess)
	if next == "" {
		next = prefix + "/"
	}
	return r.c.Redirect(next, http.StatusSeeOther)
}

// signOut ends the session on the server first, so a copy of the cookie
// stops working on every replica; if that fails the cookie is kept and the
// user can try again. An API answer of 401 (session already ended, key
// revoked) starts over like any other (see wrap).
func (con *console) signOut(r *request) error {
	if r.sess.SignedIn() {
		in := map[string]any{"expires_at": r.sess.Expires}
		if err := r.api.do(r.c.UserContext(), http.MethodDelete, "/api/v1/console-session", nil, in, nil); err != nil {
			return err
		}
	}
	con.setSession(r.c, newSession(con.now(), sessionTTL))
	return r.redirect("/signin")
}

// safeNext keeps a post-sign-in destination only if it is a console path.
func safeNext(next string) string {
	if strings.HasPrefix(next, prefix+"/") && !strings.HasPrefix(next, "//") && !strings.ContainsAny(next, "\\\r\n") {
		return next
	}
	return ""
}

// identify asks the API who the key is: its role and tenant scope.
func identify(ctx context.Context, api *client) (tenant.Principal, error) {
	var me tenant.Principal
	err := api.get(ctx, "/api/v1/me", nil, &me)
	return me, err
}
