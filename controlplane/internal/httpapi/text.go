package httpapi

import (
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/scimplane/scimplane/plugins/scim"
)

// checkRequestText refuses a path, query or (on SCIM routes) forwarded
// header that is not valid UTF-8 or holds NUL: the worker contract carries
// them as proto strings, which refuse invalid UTF-8, and PostgreSQL text
// refuses NUL. Percent-encoded bytes are checked once decoded too.
func checkRequestText(c *fiber.Ctx, scimRoute bool) error {
	bad := func(what string) error {
		if scimRoute {
			return &httpError{code: fiber.StatusBadRequest, scimType: scim.TypeInvalidSyntax,
				msg: what + " is not valid UTF-8 text or contains NUL"}
		}
		return &httpError{code: fiber.StatusBadRequest, msg: what + " is not valid UTF-8 text or contains NUL"}
	}
	if !soundText(c.Path()) || !soundText(string(c.Request().URI().Path())) {
		return bad("the path")
	}
	args := c.Request().URI().QueryArgs()
	if !soundText(string(c.Request().URI().QueryString())) {
		return bad("the query")
	}
	var badArg bool
	args.VisitAll(func(k, v []byte) {
		badArg = badArg || !soundText(string(k)) || !soundText(string(v))
	})
	if badArg {
		return bad("a query parameter")
	}
	if scimRoute {
		// The headers forwarded to the worker, as text fields.
		for _, name := range []string{fiber.HeaderContentType, fiber.HeaderIfMatch, fiber.HeaderIfNoneMatch} {
			if !soundText(c.Get(name)) {
				return bad("header " + name)
			}
		}
	}
	return nil
}

func soundText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}
