package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/scimplane/scimplane/controlplane/internal/tenant"
	"github.com/scimplane/scimplane/plugins/scim"
	"github.com/scimplane/scimplane/plugins/scimworker"
)

// httpError is an error with the status and safe message to answer with;
// err is the internal cause, logged but never sent.
type httpError struct {
	code       int
	msg        string
	err        error
	retryAfter time.Duration
	scimType   string // on SCIM routes, the RFC 7644 scimType, if any
	// refused is a worker's refusal of an admin operation; its problems
	// and tests go in the answer.
	refused *scimworker.Error
}

func (e *httpError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *httpError) Unwrap() error { return e.err }

// ErrorBody is every admin API error answer.
type ErrorBody struct {
	// Error says what went wrong, in words safe to show.
	Error string `json:"error"`
	// RequestID identifies the request in the logs (X-Request-Id).
	RequestID string `json:"request_id"`
	// Problems are why a policy does not compile (422).
	Problems []scimworker.PolicyProblem `json:"problems,omitempty"`
	// Tests are a policy's test results when some fail (422).
	Tests []scimworker.PolicyTest `json:"tests,omitempty"`
}

// toHTTPError maps domain errors to statuses.
func toHTTPError(err error) *httpError {
	var (
		he *httpError
		fe *fiber.Error
		ve *tenant.ValidationError
		we *scimworker.Error
	)
	switch {
	case errors.As(err, &he):
		return he
	case errors.As(err, &we):
		he := &httpError{code: we.Status, msg: we.Message, refused: we}
		if we.Status == fiber.StatusServiceUnavailable {
			he.retryAfter = dbRetryAfter
		}
		return he
	case errors.Is(err, tenant.ErrWorkerUnavailable):
		return workerUnavailable(err)
	case errors.As(err, &fe):
		return &httpError{code: fe.Code, msg: fe.Message}
	case errors.As(err, &ve):
		return &httpError{code: fiber.StatusBadRequest, msg: ve.Msg}
	case errors.Is(err, tenant.ErrUnauthenticated):
		return &httpError{code: fiber.StatusUnauthorized, msg: "invalid token"}
	case errors.Is(err, tenant.ErrDisabled):
		return &httpError{code: fiber.StatusForbidden, msg: "tenant is disabled"}
	case errors.Is(err, tenant.ErrForbidden):
		return &httpError{code: fiber.StatusForbidden, msg: "forbidden"}
	case errors.Is(err, tenant.ErrNotFound):
		return &httpError{code: fiber.StatusNotFound, msg: "not found"}
	case errors.Is(err, tenant.ErrConflict):
		return &httpError{code: fiber.StatusConflict, msg: "conflict"}
	case errors.Is(err, tenant.ErrUnavailable):
		return &httpError{code: fiber.StatusServiceUnavailable, msg: "database unavailable, retry later", err: err, retryAfter: dbRetryAfter}
	}
	return &httpError{code: fiber.StatusInternalServerError, msg: "internal error", err: err}
}

// dbRetryAfter is the Retry-After of answers refused because the database
// is unavailable.
const dbRetryAfter = 5 * time.Second

// handleError is the app's only ErrorHandler. It also answers errors
// fasthttp meets before any route runs (headers too large, malformed
// request, timeouts): those get a request id here, a fixed message (never
// fasthttp's, which may quote the request) and, unless the path is known
// to be the admin API's or the console's, the SCIM error body, since a
// request line that could not be read may well have been a SCIM one.
func (s *server) handleError(c *fiber.Ctx, err error) error {
	he := toHTTPError(err)
	preRoute := requestID(c) == ""
	if preRoute {
		assignRequestID(c)
		he = &httpError{code: he.code, msg: strings.ToLower(http.StatusText(he.code)), err: err}
		if he.code == fiber.StatusBadRequest {
			he.msg = "malformed request"
		}
	}
	ctx := c.UserContext()
	switch {
	case he.code >= 500:
		s.Logger.ErrorContext(ctx, "request failed", "status", he.code, "path", c.Path(), "err", err)
	case he.code != fiber.StatusNotFound:
		s.Logger.InfoContext(ctx, "request refused", "status", he.code, "path", c.Path(), "msg", he.msg)
	}
	if he.retryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, retryAfterSeconds(he.retryAfter))
	}
	c.Locals(localErrorMsg, he.msg)
	path := c.Path()
	scimRoute := routeKind(path) == "scim" || preRoute && routeKind(path) == "other" && !hasPrefixFold(path, "/admin")
	if he.code == fiber.StatusUnauthorized {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="scimplane"`)
	}
	c.Status(he.code)
	if scimRoute {
		c.Set(fiber.HeaderContentType, scim.MediaType)
		return c.Send(scim.NewError(he.code, he.scimType, he.msg).Body())
	}
	body := ErrorBody{Error: he.msg, RequestID: requestID(c)}
	if he.refused != nil {
		body.Problems, body.Tests = he.refused.Problems, he.refused.Tests
	}
	return c.JSON(body)
}
