// Package apitest keeps the admin API's tests honest about its OpenAPI
// document: Client is the HTTP client they send through, and every answer
// from /api/v1 that docs/openapi.json does not describe (an undeclared
// status, a missing header, a body that does not match its schema) fails
// the test that received it.
package apitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/scimplane/scimplane/docs"
)

// Checker checks answers against an OpenAPI document.
type Checker struct {
	router routers.Router
}

// NewChecker loads and validates document.
func NewChecker(document []byte) (*Checker, error) {
	doc, err := openapi3.NewLoader().LoadFromData(document)
	if err != nil {
		return nil, fmt.Errorf("load the document: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("the document is not valid: %w", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	return &Checker{router: router}, nil
}

// Check returns why resp, the answer to req, does not match the document,
// or nil. body is resp's body; nil checks the status and headers only.
// An answer to a path the document does not know is fine only if it is a
// 404 or 405.
func (c *Checker) Check(req *http.Request, resp *http.Response, body []byte) error {
	route, params, err := c.router.FindRoute(req)
	// The router answers copies of its sentinel errors.
	var re *routers.RouteError
	if errors.As(err, &re) && (re.Reason == routers.ErrPathNotFound.Error() || re.Reason == routers.ErrMethodNotAllowed.Error()) {
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
			return nil
		}
		return fmt.Errorf("the document has no operation %s %s, yet the answer is %d", req.Method, req.URL.Path, resp.StatusCode)
	}
	if err != nil {
		return err
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, ExcludeResponseBody: body == nil},
	}
	in.SetBodyBytes(body)
	return openapi3filter.ValidateResponse(context.Background(), in)
}

// Client returns an HTTP client whose answers from the admin API are
// checked against docs/openapi.json, the document the control plane
// serves. A mismatch fails t (and the test goes on).
func Client(t testing.TB) *http.Client {
	t.Helper()
	c, err := NewChecker(docs.OpenAPI())
	if err != nil {
		t.Fatalf("docs/openapi.json: %v", err)
	}
	return &http.Client{Transport: &transport{t: t, checker: c, base: http.DefaultTransport}}
}

// apiPrefix is where the admin API is mounted (httpapi.APIPrefix).
const apiPrefix = "/api/v1/"

type transport struct {
	t       testing.TB
	checker *Checker
	base    http.RoundTripper
}

// streams are the media types whose bodies are checked once the test has
// read them to the end: the server writes them as they come, and a test
// may stop reading early.
var streams = map[string]bool{"application/x-ndjson": true, "text/csv": true}

func (tr *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := tr.base.RoundTrip(req)
	if err != nil || !strings.HasPrefix(req.URL.Path, apiPrefix) {
		return resp, err
	}
	media, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if streams[media] {
		tr.report(req, resp, tr.checker.Check(req, resp, nil), nil)
		resp.Body = &checkAtEOF{ReadCloser: resp.Body, done: func(body []byte) {
			tr.report(req, resp, tr.checker.Check(req, resp, body), body)
		}}
		return resp, nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	tr.report(req, resp, tr.checker.Check(req, resp, body), body)
	return resp, nil
}

func (tr *transport) report(req *http.Request, resp *http.Response, err error, body []byte) {
	if err != nil {
		tr.t.Errorf("%s %s answered %d, which docs/openapi.json does not describe: %v\nbody: %.1000s",
			req.Method, req.URL.RequestURI(), resp.StatusCode, err, body)
	}
}

// checkAtEOF keeps what is read and hands it to done at the end of the
// body.
type checkAtEOF struct {
	io.ReadCloser
	buf  bytes.Buffer
	done func([]byte)
}

func (c *checkAtEOF) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.buf.Write(p[:n])
	if errors.Is(err, io.EOF) && c.done != nil {
		c.done(c.buf.Bytes())
		c.done = nil
	}
	return n, err
}
