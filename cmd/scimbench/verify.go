package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/scimplane/scimplane/tests/entrasim"
)

// verifyResult is the read-back after a scenario: every object the client
// created compared with what it last wrote.
type verifyResult struct {
	Tenants int `json:"tenants"`
	Users   int `json:"users"`
	Groups  int `json:"groups"`
	// Unverifiable objects had a write fail in a way that may have
	// applied it (5xx, no answer): they are checked to exist, but their
	// state is unknown.
	Unverifiable int            `json:"unverifiable"`
	Mismatches   int            `json:"mismatches"`
	ByTenant     map[string]int `json:"mismatches_by_tenant,omitempty"`
	Samples      []string       `json:"samples,omitempty"`
	Seconds      float64        `json:"seconds"`
}

func (v *verifyResult) merge(tenantID string, problems []string, users, groups, unverifiable int) {
	v.Tenants++
	v.Users += users
	v.Groups += groups
	v.Unverifiable += unverifiable
	if len(problems) == 0 {
		return
	}
	v.Mismatches += len(problems)
	if v.ByTenant == nil {
		v.ByTenant = map[string]int{}
	}
	v.ByTenant[tenantID] += len(problems)
	for _, p := range problems {
		if len(v.Samples) < 20 {
			v.Samples = append(v.Samples, tenantID+": "+p)
		}
	}
}

// verifyTenants reads back every tenant, concurrency at a time. It is not
// timed; requests that meet 429, 503 or a connection failure are retried.
func verifyTenants(ctx context.Context, client *http.Client, tenants []*tenant, concurrency int) verifyResult {
	began := time.Now()
	var (
		mu  sync.Mutex
		res verifyResult
		wg  sync.WaitGroup
	)
	next := make(chan *tenant)
	for range max(1, concurrency) {
		wg.Go(func() {
			r := &reader{http: client}
			for t := range next {
				problems, users, groups, unverifiable := r.verifyTenant(ctx, t)
				mu.Lock()
				res.merge(t.info.ID, problems, users, groups, unverifiable)
				mu.Unlock()
			}
		})
	}
	for _, t := range tenants {
		select {
		case next <- t:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	res.Seconds = time.Since(began).Seconds()
	return res
}

type reader struct {
	http *http.Client
	s    sender
}

// get reads a resource or list, retrying what a busy service answers.
func (r *reader) get(ctx context.Context, t *tenant, req entrasim.Request) (int, map[string]any, error) {
	r.s.http = r.http
	var lastErr error
	for attempt := range 10 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return 0, nil, ctx.Err()
			case <-time.After(time.Duration(min(attempt, 5)) * 400 * time.Millisecond):
			}
		}
		status, err := r.s.do(ctx, t, req.Method, t.url(req), nil)
		if err != nil {
			lastErr = err
			continue
		}
		if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
			lastErr = fmt.Errorf("%s %s: %d", req.Method, req.Path, status)
			continue
		}
		var obj map[string]any
		if status == http.StatusOK {
			if err := json.Unmarshal(r.s.buf.Bytes(), &obj); err != nil {
				return status, nil, fmt.Errorf("%s %s: %w", req.Method, req.Path, err)
			}
		}
		return status, obj, nil
	}
	return 0, nil, lastErr
}

func (r *reader) verifyTenant(ctx context.Context, t *tenant) (problems []string, users, groups, unverifiable int) {
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	var created, maybeUsers, createdGroups, maybeGroups int
	for _, sh := range t.shares {
		sh.mu.Lock() // the load is over; this only orders memory
		us, gs := sh.users, sh.groups
		sh.mu.Unlock()
		for _, u := range us {
			if u.id == "" {
				if u.createUnknown {
					maybeUsers++
				}
				continue
			}
			created++
			status, obj, err := r.get(ctx, t, entrasim.GetUser(u.id))
			if err != nil || status != http.StatusOK {
				report("GET /Users/%s (%s): status %d %v: a user created with 201 is lost", u.id, u.src.UPN, status, err)
				continue
			}
			if u.uncertain { // it exists; its attributes are unknown
				unverifiable++
				continue
			}
			users++
			_, got, err := entrasim.ParseUser(obj)
			if err != nil {
				report("GET /Users/%s: %v", u.id, err)
				continue
			}
			for _, d := range diffUser(u.sent, got) {
				report("user %s (%s): %s", u.id, u.src.UPN, d)
			}
		}
		for _, g := range gs {
			if g.id == "" {
				if g.createUnknown {
					maybeGroups++
				}
				continue
			}
			createdGroups++
			req := entrasim.Request{Method: http.MethodGet, Path: "/Groups/" + g.id}
			status, obj, err := r.get(ctx, t, req)
			if err != nil || status != http.StatusOK {
				report("GET /Groups/%s (%s): status %d %v: a group created with 201 is lost", g.id, g.name, status, err)
				continue
			}
			if g.uncertain { // it exists; its members are unknown
				unverifiable++
				continue
			}
			groups++
			if name, _ := obj["displayName"].(string); name != g.name {
				report("group %s: displayName %q, want %q", g.id, name, g.name)
			}
			want := make([]string, len(g.members))
			for k, m := range g.members {
				want[k] = sh.users[m].id
			}
			for _, d := range diffMembers(want, memberValues(obj)) {
				report("group %s (%s): %s", g.id, g.name, d)
			}
		}
	}
	// Totals: every accepted create is there, and nothing else is.
	for _, c := range []struct {
		path       string
		have, mayb int
	}{{"/Users", created, maybeUsers}, {"/Groups", createdGroups, maybeGroups}} {
		status, obj, err := r.get(ctx, t, entrasim.Request{Method: http.MethodGet, Path: c.path,
			Query: url.Values{"startIndex": {"1"}, "count": {"1"}, "attributes": {"id"}}})
		if err != nil || status != http.StatusOK {
			report("GET %s: status %d %v", c.path, status, err)
			continue
		}
		total, _ := obj["totalResults"].(float64)
		if d := checkTotal(int(total), c.have, c.mayb); d != "" {
			report("%s %s", c.path, d)
		}
	}
	return problems, users, groups, unverifiable
}

// diffUser lists the attributes where got differs from want.
func diffUser(want, got entrasim.UserView) []string {
	var out []string
	cmp := func(name, w, g string) {
		if w != g {
			out = append(out, fmt.Sprintf("%s is %q, want %q", name, g, w))
		}
	}
	cmp("userName", want.UserName, got.UserName)
	cmp("displayName", want.DisplayName, got.DisplayName)
	cmp("name.givenName", want.GivenName, got.GivenName)
	cmp("name.familyName", want.FamilyName, got.FamilyName)
	cmp("title", want.Title, got.Title)
	cmp("emails[work]", want.Mail, got.Mail)
	cmp("phoneNumbers[work]", want.WorkPhone, got.WorkPhone)
	cmp("department", want.Department, got.Department)
	cmp("employeeNumber", want.EmployeeNumber, got.EmployeeNumber)
	cmp("manager", want.ManagerID, got.ManagerID)
	cmp("active", strconv.FormatBool(want.Active), strconv.FormatBool(got.Active))
	return out
}

// memberValues is the member ids of a group resource.
func memberValues(obj map[string]any) []string {
	items, _ := obj["members"].([]any)
	out := make([]string, 0, len(items))
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			v, _ := m["value"].(string)
			out = append(out, v)
		}
	}
	return out
}

// diffMembers reports members that are missing (an accepted add lost, or a
// removal applied that was refused) and extra (a removal lost).
func diffMembers(want, got []string) []string {
	var out []string
	var missing, extra []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			extra = append(extra, g)
		}
	}
	seen := map[string]bool{}
	for _, g := range got {
		if seen[g] {
			out = append(out, fmt.Sprintf("member %s listed twice", g))
		}
		seen[g] = true
	}
	if len(missing) > 0 {
		out = append(out, fmt.Sprintf("%d of %d members missing: %v", len(missing), len(want), missing))
	}
	if len(extra) > 0 {
		out = append(out, fmt.Sprintf("%d members not written: %v", len(extra), extra))
	}
	return out
}

// checkTotal says what is wrong with a resource count: have objects were
// created with 201, maybe more may exist (creates without an answer).
func checkTotal(total, have, maybe int) string {
	switch {
	case total < have:
		return fmt.Sprintf("totalResults %d: %d created with 201, %d lost", total, have, have-total)
	case total > have+maybe:
		return fmt.Sprintf("totalResults %d: only %d created (%d more unanswered)", total, have, maybe)
	}
	return ""
}
