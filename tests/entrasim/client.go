package entrasim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Client sends SCIM requests to one Tenant URL with its Secret Token, the way
// Entra's provisioning service does: application/scim+json bodies, a bearer
// token, and retries of 429, 5xx and connection failures that honour
// Retry-After.
type Client struct {
	base     *url.URL
	token    string
	http     *http.Client
	retryFor time.Duration

	requests atomic.Int64
	retries  atomic.Int64
	mu       sync.Mutex
	statuses map[int]int
	first5xx map[int]string // the first response of each 5xx status, for the report
	// OnResponse, if set, is called after every response with the number
	// of responses so far.
	OnResponse func(n int64)
	// RequestIDPrefix, if set, names every exchange: the client sends
	// X-Request-Id: <prefix>-<n>, a new n for each attempt, so that the
	// service's records of each exchange can be found.
	RequestIDPrefix string
	// OnExchange, if set, is called after every exchange (each attempt of
	// a request, answered or not) with what happened.
	OnExchange func(*Exchange)
	ids        atomic.Int64
}

// Exchange is one attempt of a request: what was sent and what came back.
type Exchange struct {
	RequestID   string // the X-Request-Id sent, "" without RequestIDPrefix
	Method, URL string
	Write       bool // POST, PUT, PATCH or DELETE
	Attempt     int  // 0 for the first attempt of a request
	Start, End  time.Time
	// Status is 0 when no response arrived; Err then says why (a
	// transport error, or the context ending).
	Status int
	Header http.Header
	Body   []byte
	Err    error
	// Wanted says the status was one the request counts as success.
	Wanted bool
}

// NewClient returns a client for tenantURL (which may carry a query, such as
// ?aadOptscim062020). Retries of one request stop after retryFor.
func NewClient(tenantURL, token string, retryFor time.Duration) (*Client, error) {
	u, err := url.Parse(strings.TrimSuffix(tenantURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("parse tenant url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("tenant url %q: want http or https", tenantURL)
	}
	return &Client{
		base:  u,
		token: token,
		// Entra answers within 60 s or gives up; keep a connection per
		// request in flight.
		http: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second,
		}},
		retryFor: retryFor,
		statuses: map[int]int{},
		first5xx: map[int]string{},
	}, nil
}

// Response is a SCIM response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Object decodes the body as a JSON object.
func (r *Response) Object() (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		return nil, fmt.Errorf("decode %d response %q: %w", r.Status, truncate(r.Body), err)
	}
	return m, nil
}

// StatusError is a response with a status the request did not expect.
type StatusError struct {
	Method, URL string
	Request     []byte
	Status      int
	Response    []byte
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s %s", e.Method, e.URL)
	if len(e.Request) > 0 {
		s += " " + truncate(e.Request)
	}
	return fmt.Sprintf("%s -> %d %s", s, e.Status, truncate(e.Response))
}

func truncate(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "..."
	}
	return string(b)
}

// URL is the full URL of a request path and query under the Tenant URL.
func (c *Client) URL(path string, query url.Values, flag bool) string {
	u := *c.base
	u.Path += path
	var parts []string
	if u.RawQuery != "" {
		parts = append(parts, u.RawQuery)
	}
	if flag && !strings.Contains(u.RawQuery, FlagParam) {
		parts = append(parts, FlagParam)
	}
	if len(query) > 0 {
		parts = append(parts, query.Encode())
	}
	u.RawQuery = strings.Join(parts, "&")
	return u.String()
}

// Do sends r, retrying as Entra does, and returns the response if its status
// is one r wants, else a *StatusError. flag adds ?aadOptscim062020.
func (c *Client) Do(ctx context.Context, r Request, flag bool) (*Response, error) {
	var body []byte
	if r.Body != nil {
		var err error
		if body, err = json.Marshal(r.Body); err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", r.Method, r.Path, err)
		}
	}
	target := c.URL(r.Path, r.Query, flag)
	deadline := time.Now().Add(c.retryFor)
	for attempt := 0; ; attempt++ {
		id := ""
		if c.RequestIDPrefix != "" {
			id = fmt.Sprintf("%s-%d", c.RequestIDPrefix, c.ids.Add(1))
		}
		start := time.Now()
		resp, err := c.send(ctx, r.Method, target, body, id)
		if c.OnExchange != nil {
			x := &Exchange{RequestID: id, Method: r.Method, URL: target, Attempt: attempt, Start: start, End: time.Now(), Err: err,
				Write: r.Method != http.MethodGet && r.Method != http.MethodHead}
			if resp != nil {
				x.Status, x.Header, x.Body = resp.Status, resp.Header, resp.Body
				x.Wanted = slices.Contains(r.Want, resp.Status)
			}
			c.OnExchange(x)
		}
		wait, retry := retryAfter(resp, err, attempt)
		if !retry || time.Now().Add(wait).After(deadline) {
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", r.Method, target, err)
			}
			if !slices.Contains(r.Want, resp.Status) {
				return resp, &StatusError{Method: r.Method, URL: target, Request: body, Status: resp.Status, Response: resp.Body}
			}
			return resp, nil
		}
		c.retries.Add(1)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

func (c *Client) send(ctx context.Context, method, target string, body []byte, requestID string) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if requestID != "" {
		req.Header.Set("X-Request-Id", requestID)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/scim+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json; charset=utf-8")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.statuses[resp.StatusCode]++
	if _, seen := c.first5xx[resp.StatusCode]; resp.StatusCode >= 500 && !seen {
		c.first5xx[resp.StatusCode] = fmt.Sprintf("%s %s -> %s", method, target, truncate(b))
	}
	c.mu.Unlock()
	n := c.requests.Add(1)
	if c.OnResponse != nil {
		c.OnResponse(n)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// retryAfter says whether to retry and after how long. 429 and 503 are
// retried until the client's deadline, honouring Retry-After (seconds), and so
// are connection failures; other 5xx only a few times, since a steady 500 is
// a bug to report, not an outage to wait out. Without Retry-After the wait
// grows from 100 ms to 2 s, with jitter.
func retryAfter(resp *Response, err error, attempt int) (time.Duration, bool) {
	if err != nil && errors.Is(err, context.Canceled) {
		return 0, false
	}
	if err == nil {
		switch resp.Status {
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		case http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
			if attempt >= 8 {
				return 0, false
			}
		default:
			return 0, false
		}
		if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s >= 0 {
			return time.Duration(s) * time.Second, true
		}
	}
	backoff := min(2*time.Second, 100*time.Millisecond<<min(attempt, 5))
	return backoff/2 + rand.N(backoff/2), true
}

// Stats summarises the traffic so far: responses, retries, counts by status
// and the first response of each 5xx status.
func (c *Client) Stats() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	codes := make([]int, 0, len(c.statuses))
	for code := range c.statuses {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	var b strings.Builder
	fmt.Fprintf(&b, "%d responses, %d retries;", c.requests.Load(), c.retries.Load())
	for _, code := range codes {
		fmt.Fprintf(&b, " %d:%d", code, c.statuses[code])
	}
	for _, code := range codes {
		if first, ok := c.first5xx[code]; ok {
			fmt.Fprintf(&b, "\n  first %d: %s", code, first)
		}
	}
	return b.String()
}
