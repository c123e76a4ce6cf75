package provision

import (
	"errors"
	"strconv"
	"strings"

	"github.com/scimplane/scimplane/plugins/scim"
	"github.com/scimplane/scimplane/worker/internal/resource"
)

// TypePreconditionFailed is the scimType of a 412 answer. RFC 7644's table
// of scimType values covers only 400 answers; a keyword still tells a
// client which check failed, and clients ignore keywords they do not know.
const TypePreconditionFailed = "preconditionFailed"

// Preconditions are a request's If-Match and If-None-Match header values
// (RFC 7644 section 3.14, which takes them from RFC 7232).
//
// Every resource version is a weak entity tag, W/"<n>", and all
// comparisons are weak (RFC 7232 section 2.3.2: the opaque tags are equal,
// whether either side is marked weak or not). RFC 7232 asks for the strong
// comparison in If-Match, under which a weak tag never matches; SCIM's own
// examples send the weak tag of meta.version in If-Match, so a strong
// comparison would refuse every write a SCIM client makes. "*" matches any
// existing resource. A tag that is not quoted is read as if it were, for
// clients that strip the quotes.
//
// Preconditions are checked only on a resource that exists: a request for
// an unknown id answers 404 whatever its preconditions (RFC 7232 section 5
// ignores preconditions when the answer without them would not be 2xx).
// They are ignored on list, search and create requests, which address no
// single version.
type Preconditions struct {
	IfMatch     string
	IfNoneMatch string
}

// errNotModified is the outcome of a GET whose If-None-Match matches: 304.
var errNotModified = errors.New("not modified")

// check evaluates the preconditions against the current version of a
// resource. A GET whose If-None-Match matches returns errNotModified; a write
// whose If-None-Match matches, or any request whose If-Match does not, fails
// with 412 (RFC 7232 section 6 evaluates If-Match first).
func (p Preconditions) check(version int64, read bool) error {
	if p.IfMatch != "" && !etagMatches(p.IfMatch, version) {
		return scim.NewError(412, TypePreconditionFailed, "If-Match "+strconv.Quote(p.IfMatch)+" does not match the current version "+etag(version))
	}
	if p.IfNoneMatch != "" && etagMatches(p.IfNoneMatch, version) {
		if read {
			return errNotModified
		}
		return scim.NewError(412, TypePreconditionFailed, "If-None-Match "+strconv.Quote(p.IfNoneMatch)+" matches the current version "+etag(version))
	}
	return nil
}

func etag(version int64) string { return resource.Meta{Version: version}.ETag() }

// etagMatches reports whether a header's list of entity tags, or "*",
// matches version under the weak comparison.
func etagMatches(header string, version int64) bool {
	want := strconv.FormatInt(version, 10)
	for _, tag := range splitTags(header) {
		if tag == "*" {
			return true
		}
		if opaque(tag) == want {
			return true
		}
	}
	return false
}

// splitTags splits a comma-separated list of entity tags; a comma inside
// quotes belongs to the tag (RFC 7232 section 2.3 allows it there).
func splitTags(header string) []string {
	var tags []string
	quoted := false
	start := 0
	for i := 0; i <= len(header); i++ {
		if i < len(header) {
			switch header[i] {
			case '"':
				quoted = !quoted
				continue
			case ',':
				if quoted {
					continue
				}
			default:
				continue
			}
		}
		if t := strings.TrimSpace(header[start:i]); t != "" {
			tags = append(tags, t)
		}
		start = i + 1
	}
	return tags
}

// opaque strips the weakness marker and the quotes from an entity tag.
func opaque(tag string) string {
	if len(tag) >= 2 && (tag[0] == 'W' || tag[0] == 'w') && tag[1] == '/' {
		tag = strings.TrimSpace(tag[2:])
	}
	if len(tag) >= 2 && tag[0] == '"' && tag[len(tag)-1] == '"' {
		tag = tag[1 : len(tag)-1]
	}
	return tag
}
