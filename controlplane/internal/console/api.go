package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/scimplane/scimplane/controlplane/internal/httpapi"
)

// client calls the control plane's admin API as the signed-in user.
type client struct {
	http    *http.Client
	base    string // e.g. http://127.0.0.1:8080
	key     string
	session string // the console session's ID, checked by the API
}

// apiError is an answer outside 2xx. Message is the API's "error" field, or
// the start of the body when there is none; Body is kept for callers that
// read more (policy problems).
type apiError struct {
	Method  string
	Path    string
	Status  int
	Message string
	Body    []byte
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, e.Message)
}

// do sends a request to the API and decodes a 2xx JSON answer into out
// (when out is not nil).
func (c *client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	resp, err := c.send(ctx, method, path, query, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return newAPIError(method, path, resp.StatusCode, body)
	}
	if out == nil || len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// send returns the raw answer; the caller closes its body.
func (c *client) send(ctx context.Context, method, path string, query url.Values, in any) (*http.Response, error) {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encode: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if c.session != "" {
		req.Header.Set(httpapi.ConsoleSessionHeader, c.session)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return resp, nil
}

func newAPIError(method, path string, status int, body []byte) *apiError {
	e := &apiError{Method: method, Path: path, Status: status, Body: body}
	var envelope struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &envelope) == nil && envelope.Error != "" {
		e.Message = envelope.Error
	} else {
		e.Message = strings.TrimSpace(string(body))
		if len(e.Message) > 300 {
			e.Message = e.Message[:300] + "…"
		}
		if e.Message == "" {
			e.Message = http.StatusText(status)
		}
	}
	return e
}

func (c *client) get(ctx context.Context, path string, query url.Values, out any) error {
	return c.do(ctx, http.MethodGet, path, query, nil, out)
}

func (c *client) post(ctx context.Context, path string, in, out any) error {
	return c.do(ctx, http.MethodPost, path, nil, in, out)
}

func tenantPath(id string, parts ...string) string {
	p := "/api/v1/tenants/" + url.PathEscape(id)
	for _, s := range parts {
		p += "/" + url.PathEscape(s)
	}
	return p
}

// API shapes the console reads. Fields it does not show are left out.

type tenantInfo struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	SCIMURL   string    `json:"scim_url"`
}

type createdTenant struct {
	tenantInfo
	Token string `json:"token"`
}

type tokenInfo struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

type createdToken struct {
	tokenInfo
	Token string `json:"token"`
}

type workerInfo struct {
	TenantID  string    `json:"tenant_id"`
	PID       int       `json:"pid"`
	StartedAt time.Time `json:"started_at"`
	LastUsed  time.Time `json:"last_used"`
}

type groupRow struct {
	ID          string   `json:"id"`
	DisplayName string   `json:"displayName"`
	ExternalID  string   `json:"externalId"`
	Members     int64    `json:"members"`
	Sets        []string `json:"sets"`
	Permissions []string `json:"permissions"`
	Error       string   `json:"error"`
}

type userRow struct {
	ID          string   `json:"id"`
	UserName    string   `json:"userName"`
	DisplayName string   `json:"displayName"`
	Active      bool     `json:"active"`
	Permissions []string `json:"permissions"`
	Sets        []string `json:"sets"`
	Error       string   `json:"error"`
}

type grant struct {
	Permission string `json:"permission"`
	Set        string `json:"set"`
	Group      string `json:"group"`
	Rule       string `json:"rule"`
}

type groupRef struct {
	ID          string `json:"id"`
	ExternalID  string `json:"externalId"`
	DisplayName string `json:"displayName"`
}

type userDetail struct {
	User          map[string]any `json:"user"`
	Groups        []groupRef     `json:"groups"`
	Permissions   []string       `json:"permissions"`
	Sets          []string       `json:"sets"`
	Grants        []grant        `json:"grants"`
	Error         string         `json:"error"`
	PolicyVersion int64          `json:"policy_version"`
}

type explanation struct {
	Permission string   `json:"permission"`
	Granted    bool     `json:"granted"`
	Grants     []grant  `json:"grants"`
	Reasons    []string `json:"reasons"`
}

type policyVersion struct {
	Version   int64             `json:"version"`
	Author    string            `json:"author"`
	Comment   string            `json:"comment"`
	CreatedAt time.Time         `json:"created_at"`
	Active    bool              `json:"active"`
	Modules   map[string]string `json:"modules"`
	Mapping   json.RawMessage   `json:"mapping"`
}

type policyProblem struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

type policyTest struct {
	Package string `json:"package"`
	Name    string `json:"name"`
	Outcome string `json:"outcome"`
	Message string `json:"message"`
	File    string `json:"file"`
	Line    int    `json:"line"`
}

// policyCheck is the answer of validate and save, success or 422.
type policyCheck struct {
	Version  int64           `json:"version"`
	Error    string          `json:"error"`
	Problems []policyProblem `json:"problems"`
	Tests    []policyTest    `json:"tests"`
}

type dryRun struct {
	Users   int `json:"users"`
	Changed int `json:"changed"`
	Changes []struct {
		UserID   string   `json:"user_id"`
		UserName string   `json:"user_name"`
		Gained   []string `json:"gained"`
		Lost     []string `json:"lost"`
	} `json:"changes"`
	Errors []struct {
		UserID string `json:"user_id"`
		Error  string `json:"error"`
	} `json:"errors"`
}

type logEntry struct {
	ID           int64     `json:"id"`
	At           time.Time `json:"at"`
	RequestID    string    `json:"request_id"`
	Method       string    `json:"method"`
	Path         string    `json:"path"`
	Query        string    `json:"query"`
	Status       int       `json:"status"`
	ScimType     string    `json:"scim_type"`
	Detail       string    `json:"detail"`
	Summary      string    `json:"summary"`
	ResourceType string    `json:"resource_type"`
	ResourceID   string    `json:"resource_id"`
	UserName     string    `json:"user_name"`
	ExternalID   string    `json:"external_id"`
	LatencyUS    int64     `json:"latency_us"`
	Source       string    `json:"source"`
	RequestBody  *string   `json:"request_body"`
	ResponseBody *string   `json:"response_body"`
}

type logWindow struct {
	Requests    int64   `json:"requests"`
	Failures    int64   `json:"failures"`
	FailureRate float64 `json:"failure_rate"`
}

type logHealth struct {
	LastHour    logWindow  `json:"last_hour"`
	LastDay     logWindow  `json:"last_day"`
	LastSuccess *time.Time `json:"last_success"`
	TopErrors   []struct {
		Status   int    `json:"status"`
		ScimType string `json:"scim_type"`
		Detail   string `json:"detail"`
		Count    int64  `json:"count"`
	} `json:"top_errors"`
	QuarantineWarning string `json:"quarantine_warning"`
}

// rejection is a SCIM request the control plane refused before it reached
// the tenant's worker (bad token, rate limit, worker down).
type rejection struct {
	At        time.Time `json:"at"`
	RequestID string    `json:"request_id"`
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	Status    int       `json:"status"`
	Reason    string    `json:"reason"`
}
