// Package scimplane is the Go client of scimplane's admin and application
// API (described by docs/openapi.json, served at /api/v1/openapi.json) for
// product engineers: read a tenant's users with their effective
// permissions and its groups with their members, ask why a user has a
// permission, follow the change feed with a cursor, and verify the
// signature of a webhook delivery.
//
//	c, err := scimplane.New("http://127.0.0.1:8080", os.Getenv("SCIMPLANE_KEY"))
//	t := c.Tenant("tnt_...")
//	for u, err := range t.Users(ctx, scimplane.UsersQuery{}) { ... }
//	err = t.Follow(ctx, cursor, func(ctx context.Context, changes []scimplane.Change, next string) error { ... })
//
// A key of role support scoped to the tenant is enough for everything here
// (its reads are audited). The answers are the API's own types, shared
// with the server (plugins/scimworker), so their fields are documented
// there and in the OpenAPI document. Failures the API answers are *Error
// values with its status and message.
package scimplane

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Client calls one scimplane deployment with one API key. It is safe for
// concurrent use.
type Client struct {
	base    *url.URL
	key     string
	http    *http.Client
	minPoll time.Duration
	maxPoll time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sends the requests through hc instead of
// http.DefaultClient (for its timeouts, proxy or TLS settings).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.http = hc }
}

// WithPolling sets how Follow waits when the change feed has nothing new:
// first min, doubling while it stays quiet, up to max. The defaults are 1
// second and 30 seconds.
func WithPolling(minWait, maxWait time.Duration) Option {
	return func(c *Client) { c.minPoll, c.maxPoll = minWait, maxWait }
}

// New returns a client of the deployment at baseURL (its scheme and host,
// e.g. https://scim.example.com) using the admin API key apiKey (spk_...).
func New(baseURL, apiKey string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimSuffix(baseURL, "/"))
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("scimplane: base URL %q must be http(s)://host[:port]", baseURL)
	}
	if apiKey == "" {
		return nil, errors.New("scimplane: an API key is needed")
	}
	c := &Client{base: u, key: apiKey, http: http.DefaultClient, minPoll: time.Second, maxPoll: 30 * time.Second}
	for _, o := range opts {
		o(c)
	}
	if c.minPoll <= 0 || c.maxPoll < c.minPoll {
		return nil, fmt.Errorf("scimplane: polling between %v and %v: want 0 < min <= max", c.minPoll, c.maxPoll)
	}
	return c, nil
}

// Error is an answer of the API outside 2xx.
type Error struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Message is the API's explanation, safe to show.
	Message string
	// RequestID identifies the request in the server's logs.
	RequestID string
	// RetryAfter is how long the API asked to wait before retrying (429
	// and 503), or 0.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = strings.ToLower(http.StatusText(e.StatusCode))
	}
	if e.RequestID != "" {
		return fmt.Sprintf("scimplane: %d %s (request %s)", e.StatusCode, msg, e.RequestID)
	}
	return fmt.Sprintf("scimplane: %d %s", e.StatusCode, msg)
}

// Temporary reports whether the same request may succeed later: the API
// was unavailable or busy, or failed unexpectedly.
func (e *Error) Temporary() bool {
	switch e.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// IsNotFound reports whether err is the API's 404: the tenant, user or
// group does not exist.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.StatusCode == http.StatusNotFound
}

// get sends a GET to path (below /api/v1) with query and decodes the JSON
// answer into out.
func (c *Client) get(ctx context.Context, path string, query url.Values, out any) error {
	u := *c.base
	u.Path = c.base.Path + "/api/v1" + path
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("scimplane: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("scimplane: GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("scimplane: GET %s: %w", path, err)
	}
	if resp.StatusCode/100 != 2 {
		return apiError(resp, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("scimplane: GET %s: decode the answer: %w", path, err)
	}
	return nil
}

// apiError reads an error answer: the API's {"error", "request_id"}, or the
// SCIM error body of a connection refused before its request was read.
func apiError(resp *http.Response, body []byte) *Error {
	e := &Error{StatusCode: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
	var b struct {
		Error     string `json:"error"`
		RequestID string `json:"request_id"`
		Detail    string `json:"detail"`
	}
	if json.Unmarshal(bytes.TrimSpace(body), &b) == nil {
		e.Message = b.Error
		if e.Message == "" {
			e.Message = b.Detail
		}
		if b.RequestID != "" {
			e.RequestID = b.RequestID
		}
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

// values encodes the fields of the request struct v that have a `query`
// tag and are not zero: the API's request types declare their query
// parameters that way.
func values(v any) url.Values {
	q := url.Values{}
	rv := reflect.ValueOf(v)
	for i := range rv.NumField() {
		f := rv.Type().Field(i)
		name := f.Tag.Get("query")
		if name == "" || rv.Field(i).IsZero() {
			continue
		}
		q.Set(name, fmt.Sprint(rv.Field(i).Interface()))
	}
	return q
}
