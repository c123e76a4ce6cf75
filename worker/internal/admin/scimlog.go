package admin

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/scimplane/scimplane/worker/internal/provision"
	"github.com/scimplane/scimplane/worker/internal/store"
)

type logArgs struct {
	From         string `json:"from"`
	To           string `json:"to"`
	Status       string `json:"status"`
	Method       string `json:"method"`
	ResourceType string `json:"resource_type"`
	ResourceID   string `json:"resource_id"`
	User         string `json:"user"`
	RequestID    string `json:"request_id"`
	Q            string `json:"q"`
	After        string `json:"after"`
	Limit        int    `json:"limit"`
	ID           int64  `json:"id"`
	Days         int    `json:"days"`
}

func (a *Server) logQuery(ctx context.Context, args []byte) *reply {
	var la logArgs
	if err := json.Unmarshal(args, &la); err != nil {
		return badRequest("args must be a JSON object: " + err.Error())
	}
	f := store.LogFilter{Method: la.Method, ResourceType: la.ResourceType, ResourceID: la.ResourceID, User: la.User,
		RequestID: la.RequestID, Text: la.Q, After: la.After, Limit: la.Limit}
	var err error
	for _, t := range []struct {
		text string
		dst  *time.Time
	}{{la.From, &f.From}, {la.To, &f.To}} {
		if t.text == "" {
			continue
		}
		if *t.dst, err = time.Parse(time.RFC3339Nano, t.text); err != nil {
			return badRequest("from and to are RFC 3339 times")
		}
	}
	switch s := strings.ToLower(la.Status); {
	case s == "":
	case len(s) == 3 && strings.HasSuffix(s, "xx") && s[0] >= '1' && s[0] <= '5':
		f.StatusClass = int(s[0] - '0')
	default:
		n, err := strconv.Atoi(s)
		if err != nil || n < 100 || n > 599 {
			return badRequest("status is a code like 409 or a class like 4xx")
		}
		f.Status = n
	}
	switch {
	case f.Limit <= 0:
		f.Limit = 50
	case f.Limit > 1000:
		f.Limit = 1000
	}
	entries, next, err := a.st.QueryLog(ctx, f)
	if err != nil {
		return internal(err)
	}
	return ok(map[string]any{"entries": orEmpty(entries), "next": next})
}

func (a *Server) logGet(ctx context.Context, args []byte) *reply {
	var la logArgs
	if err := json.Unmarshal(args, &la); err != nil || la.ID <= 0 {
		return badRequest("args need a numeric \"id\"")
	}
	e, err := a.st.GetLog(ctx, la.ID)
	if errors.Is(err, provision.ErrNotFound) {
		return notFound("log entry not found")
	}
	if err != nil {
		return internal(err)
	}
	return ok(e)
}

// Entra quarantines a provisioning job when nearly every call fails, or,
// from 5,000 failures on, when more than 40% fail or more than 40,000 fail
// (entra-scim.md B36). The warning fires well before those lines.
const (
	warnFailureRate  = 0.30
	warnMinFailures  = 1000
	warnFailureCount = 30000
)

func quarantineWarning(h *store.LogHealth) string {
	d := h.LastDay
	switch {
	case d.Failures >= warnFailureCount:
		return "over " + strconv.Itoa(warnFailureCount) + " failed requests in the last day: Entra quarantines a job past 40,000 failures"
	case d.Failures >= warnMinFailures && d.FailureRate >= warnFailureRate:
		return strconv.Itoa(int(d.FailureRate*100)) + "% of the last day's requests failed: Entra quarantines a job past 40% failures (from 5,000 failures on)"
	case h.LastHour.Requests >= 20 && h.LastHour.FailureRate >= 0.9:
		return "nearly every request in the last hour failed: Entra quarantines a job whose calls all fail (bad credentials, incompatible responses)"
	}
	return ""
}

func (a *Server) logHealth(ctx context.Context) *reply {
	h, err := a.st.Health(ctx, a.now())
	if err != nil {
		return internal(err)
	}
	var warning any
	if w := quarantineWarning(h); w != "" {
		warning = w
	}
	return ok(map[string]any{"last_hour": h.LastHour, "last_day": h.LastDay, "last_success": h.LastSuccess,
		"top_errors": h.TopErrors, "quarantine_warning": warning})
}

func (a *Server) logRetention(ctx context.Context, args []byte) *reply {
	var la logArgs
	if err := json.Unmarshal(args, &la); err != nil {
		return badRequest("args must be a JSON object: " + err.Error())
	}
	days := la.Days
	if days == 0 {
		d, err := a.st.RetentionDays(ctx)
		if err != nil {
			return internal(err)
		}
		days = d
	}
	if days < 1 || days > 3650 {
		return badRequest("days must be between 1 and 3650")
	}
	if err := a.st.SetRetentionDays(ctx, days); err != nil {
		return internal(err)
	}
	dropped, err := a.st.DropExpiredPartitions(ctx, a.now(), days)
	if err != nil {
		return internal(err)
	}
	return ok(map[string]any{"days": days, "dropped": orEmpty(dropped)})
}
