package httpapi

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// Request bodies are streamed (fasthttp's StreamRequestBody): before a
// handler runs, fasthttp has read at most the first 8 KiB of a body, and
// nothing of one declared over the limit (headerReceived). Handlers read
// the rest through body, after authentication, bounded by the limit, the
// in-flight budget and the read timeout.

// oversizeHeader marks, for the handlers, a request whose declared body is
// over the limit; headerReceived sets it (and drops any the client sent).
const oversizeHeader = "X-Scimplane-Oversize-Body"

// prefetchMax is the most of a body fasthttp reads before the handler
// (readBodyWithStreaming); an unread body no longer than this is drained
// rather than costing the connection.
const prefetchMax = 8 << 10

const (
	localBody     = "body"     // []byte: the request body, once read
	localInflight = "inflight" // int64: in-flight budget held by this request
)

// headerReceived runs once a request's head is read, before fasthttp reads
// any of its body. A body declared over the limit is not read at all: the
// request goes on with an empty body and a mark, and is answered 413 (or
// 401 first) on a connection that is then closed.
func (s *server) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	h.Del(oversizeHeader)
	if n := h.ContentLength(); n > s.MaxBodyBytes {
		h.Set(oversizeHeader, strconv.Itoa(n))
		h.SetContentLength(0)
	}
	return fasthttp.RequestConfig{}
}

// hasBody reports whether the request came with a body, read or not.
func hasBody(c *fiber.Ctx) bool {
	n := c.Request().Header.ContentLength()
	return n > 0 || n == -1 || c.Get(oversizeHeader) != ""
}

// body reads the request body, at most MaxBodyBytes, once; later calls
// return the same bytes. It answers 413 for a larger body, 415 for an
// encoded one, 503 when the in-flight budget is spent and 408 when the
// client sends too slowly.
func (s *server) body(c *fiber.Ctx) ([]byte, error) {
	if b, ok := c.Locals(localBody).([]byte); ok {
		return b, nil
	}
	if !hasBody(c) {
		c.Locals(localBody, []byte{})
		return []byte{}, nil
	}
	if c.Get(oversizeHeader) != "" {
		return nil, tooLarge(c)
	}
	// fiber's Body() would decode gzip and friends without a bound; the
	// SCIM and admin APIs take identity bodies only.
	if enc := c.Get(fiber.HeaderContentEncoding); enc != "" && !strings.EqualFold(enc, "identity") {
		lingerOnClose(c)
		return nil, &httpError{code: fiber.StatusUnsupportedMediaType, msg: "Content-Encoding " + enc + " is not supported; send the body unencoded"}
	}
	req := c.Request()
	stream := req.BodyStream()
	if stream == nil { // not streamed: fasthttp read it whole, within BodyLimit
		b := req.Body()
		if len(b) > s.MaxBodyBytes {
			return nil, tooLarge(c)
		}
		c.Locals(localBody, b)
		return b, nil
	}
	declared := req.Header.ContentLength() // -1: chunked, length unknown
	hold := int64(s.MaxBodyBytes) + 1
	if declared >= 0 {
		hold = int64(declared)
	}
	if !s.inflight.TryAcquire(hold) {
		lingerOnClose(c)
		return nil, &httpError{code: fiber.StatusServiceUnavailable, msg: "server busy reading other requests, retry later", retryAfter: time.Second}
	}
	held, _ := c.Locals(localInflight).(int64)
	c.Locals(localInflight, held+hold)

	if conn := c.Context().Conn(); conn != nil {
		_ = conn.SetReadDeadline(time.Now().Add(s.Ingress.ReadTimeout))
	}
	buf := bytes.NewBuffer(make([]byte, 0, min(hold, int64(s.MaxBodyBytes))))
	_, err := buf.ReadFrom(io.LimitReader(stream, int64(s.MaxBodyBytes)+1))
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		lingerOnClose(c)
		return nil, &httpError{code: fiber.StatusRequestTimeout, msg: "request body not received in time", err: err}
	case err != nil:
		lingerOnClose(c)
		return nil, &httpError{code: fiber.StatusBadRequest, msg: "could not read the request body", err: err}
	case buf.Len() > s.MaxBodyBytes:
		return nil, tooLarge(c)
	}
	if declared < 0 { // give back what the chunked body did not use
		s.inflight.Release(hold - int64(buf.Len()))
		c.Locals(localInflight, held+int64(buf.Len()))
	}
	b := buf.Bytes()
	req.SetBodyRaw(b) // ends the stream; fiber's form parsing reads this
	c.Locals(localBody, b)
	return b, nil
}

// tooLarge answers 413 without reading further; the connection is closed
// after the answer.
func tooLarge(c *fiber.Ctx) error {
	lingerOnClose(c)
	return fiber.ErrRequestEntityTooLarge
}

// settleBody runs after the handler: it returns the request's in-flight
// budget and, if the handler left the body unread, drains a small one so
// the connection can serve the next request, or closes the connection
// after the answer.
func (s *server) settleBody(c *fiber.Ctx) {
	if n, _ := c.Locals(localInflight).(int64); n > 0 {
		s.inflight.Release(n)
		c.Locals(localInflight, int64(0))
	}
	if _, read := c.Locals(localBody).([]byte); read || !hasBody(c) {
		return
	}
	stream := c.Request().BodyStream()
	n := c.Request().Header.ContentLength()
	if stream == nil || n < 0 || n > prefetchMax || c.Get(oversizeHeader) != "" {
		lingerOnClose(c)
		return
	}
	if conn := c.Context().Conn(); conn != nil {
		_ = conn.SetReadDeadline(time.Now().Add(s.Ingress.ReadTimeout))
	}
	if _, err := io.Copy(io.Discard, stream); err != nil {
		lingerOnClose(c)
	}
}
