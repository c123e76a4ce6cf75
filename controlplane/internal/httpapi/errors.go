package httpapi

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/scimplane/scimplane/controlplane/internal/tenant"
	"github.com/scimplane/scimplane/plugins/scim"
)

// httpError is an error with the status and safe message to answer with;
// err is the internal cause, logged but never sent.
type httpError struct {
	code       int
	msg        string
	err        error
	retryAfter time.Duration
}

func (e *httpError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *httpError) Unwrap() error { return e.err }

// toHTTPError maps domain errors to statuses.
func toHTTPError(err error) *httpError {
	var (
		he *httpError
		fe *fiber.Error
		ve *tenant.ValidationError
	)
	switch {
	case errors.As(err, &he):
		return he
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
	}
	return &httpError{code: fiber.StatusInternalServerError, msg: "internal error", err: err}
}

// handleError is the app's only ErrorHandler.
func (s *server) handleError(c *fiber.Ctx, err error) error {
	he := toHTTPError(err)
	ctx := c.UserContext()
	switch {
	case he.code >= 500:
		s.Logger.ErrorContext(ctx, "request failed", "status", he.code, "path", c.Path(), "err", err)
	case he.code != fiber.StatusNotFound:
		s.Logger.InfoContext(ctx, "request refused", "status", he.code, "path", c.Path(), "msg", he.msg)
	}
	if he.retryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(max(1, int((he.retryAfter+time.Second-1)/time.Second))))
	}
	c.Locals(localErrorMsg, he.msg)
	scimRoute := strings.HasPrefix(c.Path(), "/scim/")
	if he.code == fiber.StatusUnauthorized {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="scimplane"`)
	}
	c.Status(he.code)
	if scimRoute {
		c.Set(fiber.HeaderContentType, scim.MediaType)
		return c.Send(scim.NewError(he.code, "", he.msg).Body())
	}
	return c.JSON(fiber.Map{"error": he.msg, "request_id": requestID(c)})
}
