// Package scimserver serves one SCIM exchange: it routes the HTTP-shaped
// request to a use case, writes RFC 7644 responses and errors, and makes
// sure every exchange, failures included, lands in the SCIM log.
package scimserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/scimplane/scimplane/plugins/scim"
	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/worker/internal/provision"
	"github.com/scimplane/scimplane/worker/internal/resource"
	"github.com/scimplane/scimplane/worker/internal/scimlog"
)

// searchSegment ends the path of a search with POST (RFC 7644 section 3.4.3).
const searchSegment = ".search"

// DefaultCount is a list's page size when the request gives none.
const DefaultCount = 100

// Server handles SCIM exchanges for one tenant.
type Server struct {
	svc *provision.Service
	rec *scimlog.Recorder
	log *slog.Logger
	// base is the tenant's public SCIM base, without a trailing slash.
	base string
	// maxBody is the largest body the control plane forwards.
	maxBody       int
	users, groups endpoints
}

// New returns a Server for the tenant whose SCIM base is base, recording
// its exchanges with rec; bodies over maxBody bytes are refused.
func New(svc *provision.Service, rec *scimlog.Recorder, log *slog.Logger, base string, maxBody int) *Server {
	return &Server{svc: svc, rec: rec, log: log, base: strings.TrimRight(base, "/"), maxBody: maxBody,
		users:  endpoints{svc.CreateUser, svc.GetUser, svc.ListUsers, svc.ReplaceUser, svc.PatchUser, svc.DeleteUser},
		groups: endpoints{svc.CreateGroup, svc.GetGroup, svc.ListGroups, svc.ReplaceGroup, svc.PatchGroup, svc.DeleteGroup},
	}
}

// Handle serves one exchange. It never returns an error for a SCIM failure:
// those are replies. Panics are turned into 500 replies.
func (s *Server) Handle(ctx context.Context, ex *scimworker.Exchange) (reply *scimworker.Reply) {
	call := &provision.Call{Base: s.base, Log: s.rec.Begin(scimlog.Entry{
		At:          time.Now(),
		RequestID:   ex.RequestID,
		Method:      ex.Method,
		Path:        ex.Path,
		Query:       ex.RawQuery,
		RequestBody: ex.Body,
	})}
	defer func() {
		if p := recover(); p != nil {
			s.log.ErrorContext(ctx, "panic serving scim exchange", "panic", fmt.Sprint(p), "request_id", ex.RequestID)
			reply = errorReply(scim.NewError(500, "", "internal error"))
		}
		s.rec.Finish(ctx, call.Log, reply.Status, reply.Body)
	}()
	res, err := s.route(ctx, call, ex)
	if err != nil {
		var se *scim.Error
		ok := errors.As(err, &se)
		if !ok && errors.Is(err, provision.ErrUnavailable) {
			// Entra retries a 503 with Retry-After soon; a 500 only in its
			// next cycle, some 40 minutes later.
			s.log.WarnContext(ctx, "database unavailable", "err", err, "request_id", ex.RequestID)
			reply := errorReply(scim.NewError(503, "", "the tenant's database is unavailable, retry later"))
			reply.RetryAfter = 5 * time.Second
			return reply
		}
		if !ok && errors.Is(err, provision.ErrDecisionUnavailable) {
			// Nothing was stored: the previous decision stands and the
			// change feed is untouched.
			s.log.WarnContext(ctx, "permission decision unavailable", "err", err, "request_id", ex.RequestID)
			reply := errorReply(scim.NewError(503, "", "the permission policy did not decide in time, retry later"))
			reply.RetryAfter = 5 * time.Second
			return reply
		}
		if !ok {
			s.log.ErrorContext(ctx, "scim exchange failed", "err", err, "request_id", ex.RequestID, "method", ex.Method, "path", ex.Path)
			se = scim.NewError(500, "", "internal error")
		}
		return errorReply(se)
	}
	return resultReply(res)
}

func errorReply(e *scim.Error) *scimworker.Reply {
	return &scimworker.Reply{Status: e.Status, Body: e.Body()}
}

func resultReply(r *provision.Result) *scimworker.Reply {
	reply := &scimworker.Reply{Status: r.Status, Body: r.Body, ETag: r.ETag}
	if r.Status == 201 {
		reply.Location = r.Location
	}
	return reply
}

func (s *Server) route(ctx context.Context, call *provision.Call, ex *scimworker.Exchange) (*provision.Result, error) {
	if len(ex.Body) > s.maxBody {
		return nil, scim.NewError(413, "", fmt.Sprintf("request body exceeds %d bytes", s.maxBody))
	}
	segs := strings.Split(strings.Trim(ex.Path, "/"), "/")
	if len(segs) > 2 {
		return nil, scim.NewError(404, "", "no SCIM endpoint at "+ex.Path)
	}
	id := ""
	if len(segs) == 2 {
		var err error
		if id, err = url.PathUnescape(segs[1]); err != nil || id == "" || !printable(id) {
			return nil, scim.NewError(404, "", "no SCIM endpoint at "+ex.Path)
		}
	}
	q, err := parseQuery(ex.RawQuery)
	if err != nil {
		return nil, err
	}
	call.Pre = provision.Preconditions{IfMatch: strings.TrimSpace(ex.IfMatch), IfNoneMatch: strings.TrimSpace(ex.IfNoneMatch)}
	method := strings.ToUpper(ex.Method)
	switch strings.ToLower(segs[0]) {
	case "", searchSegment:
		// The server root: GET / and POST /.search query every type.
		if id != "" {
			return nil, scim.NewError(404, "", "no SCIM endpoint at "+ex.Path)
		}
		return s.root(ctx, call, method, segs[0] != "", q, ex.Body)
	case "users":
		return s.resource(ctx, call, method, id, q, ex.Body, s.svc.UserKind(), s.users)
	case "groups":
		return s.resource(ctx, call, method, id, q, ex.Body, s.svc.GroupKind(), s.groups)
	case "serviceproviderconfig":
		if id != "" {
			return nil, scim.NewError(404, "", "no SCIM endpoint at "+ex.Path)
		}
		if err := noDiscoveryFilter(q); err != nil {
			return nil, err
		}
		return s.discovery(method, resource.ServiceProviderConfig(call.Base))
	case "resourcetypes":
		if err := noDiscoveryFilter(q); err != nil {
			return nil, err
		}
		return s.discoveryList(method, id, s.svc.Schemas().ResourceTypes(call.Base))
	case "schemas":
		if err := noDiscoveryFilter(q); err != nil {
			return nil, err
		}
		return s.discoveryList(method, id, s.svc.Schemas().SchemaDocs(call.Base))
	case "me":
		// RFC 7644 section 3.11: a service provider without the /Me alias
		// answers 501. The bearer token is a tenant's, not a user's.
		return nil, scim.NewError(501, "", "the /Me alias is not supported: the token authenticates a provisioning client, not a user")
	case "bulk":
		// RFC 7644 section 3.7 defines only POST /Bulk; bulk.supported is
		// false, so it is an operation this service does not implement.
		// Other methods stay the 404 of any unknown endpoint.
		if id == "" && method == http.MethodPost {
			return nil, scim.NewError(501, "", "bulk operations are not supported (bulk.supported is false in /ServiceProviderConfig); send one request per resource")
		}
	}
	return nil, scim.NewError(404, "", "no SCIM endpoint at "+ex.Path)
}

// endpoints are the use cases of one resource type.
type endpoints struct {
	create  func(ctx context.Context, c *provision.Call, body []byte) (*provision.Result, error)
	get     func(ctx context.Context, c *provision.Call, id string) (*provision.Result, error)
	list    func(ctx context.Context, c *provision.Call, q provision.Query) (*provision.Result, error)
	replace func(ctx context.Context, c *provision.Call, id string, body []byte) (*provision.Result, error)
	patch   func(ctx context.Context, c *provision.Call, id string, body []byte) (*provision.Result, error)
	remove  func(ctx context.Context, c *provision.Call, id string) (*provision.Result, error)
}

func (s *Server) resource(ctx context.Context, call *provision.Call, method, id string, q query, body []byte, kind *resource.Kind, o endpoints) (*provision.Result, error) {
	call.Log.ResourceType = kind.Name
	if strings.EqualFold(id, searchSegment) {
		if method != http.MethodPost {
			return nil, scim.NewError(405, "", method+" is not supported on "+kind.Endpoint+"/.search; search with POST")
		}
		var err error
		if q, err = searchQuery(body); err != nil {
			return nil, err
		}
		id = ""
		method = http.MethodGet
	}
	call.Log.ResourceID = id
	call.Projection = resource.ParseProjection(q.get("attributes"), q.get("excludedattributes"))
	switch {
	case method == http.MethodGet && id == "":
		lq, err := listQuery(kind, q)
		if err != nil {
			return nil, err
		}
		call.Log.Filter = q.get("filter")
		return o.list(ctx, call, lq)
	case method == http.MethodGet:
		return o.get(ctx, call, id)
	case method == http.MethodPost && id == "":
		return o.create(ctx, call, body)
	case method == http.MethodPut && id != "":
		return o.replace(ctx, call, id, body)
	case method == http.MethodPatch && id != "":
		return o.patch(ctx, call, id, body)
	case method == http.MethodDelete && id != "":
		return o.remove(ctx, call, id)
	}
	return nil, scim.NewError(405, "", method+" is not supported on "+kind.Endpoint+pathSuffix(id))
}

func pathSuffix(id string) string {
	if id == "" {
		return ""
	}
	return "/{id}"
}

// listQuery reads a list request's filter, sort and page for kind.
func listQuery(kind *resource.Kind, q query) (provision.Query, error) {
	lq, err := pageQuery(q)
	if err != nil {
		return lq, err
	}
	if lq.Sort, err = kind.ParseSort(q.get("sortby"), q.get("sortorder")); err != nil {
		return lq, err
	}
	if lq.Filter, err = kind.ParseFilter(q.get("filter")); err != nil {
		return lq, err
	}
	return lq, nil
}

// pageQuery reads startIndex and count (RFC 7644 section 3.4.2.4: below 1
// is 1, below 0 is 0; above resource.MaxResults is resource.MaxResults).
func pageQuery(q query) (provision.Query, error) {
	lq := provision.Query{Start: 1, Count: DefaultCount}
	if v := q.get("startindex"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return lq, scim.NewError(400, scim.TypeInvalidValue, "startIndex must be an integer")
		}
		if n > 1 {
			lq.Start = n
		}
	}
	if v := q.get("count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return lq, scim.NewError(400, scim.TypeInvalidValue, "count must be an integer")
		}
		lq.Count = min(max(n, 0), resource.MaxResults)
	}
	return lq, nil
}

// root serves a query over every resource type: GET / or POST /.search.
// The filter and sortBy are resolved for each type; an attribute a type
// lacks has no value in its resources.
func (s *Server) root(ctx context.Context, call *provision.Call, method string, search bool, q query, body []byte) (*provision.Result, error) {
	switch {
	case search && method != http.MethodPost:
		return nil, scim.NewError(405, "", method+" is not supported on /.search; search with POST")
	case !search && method != http.MethodGet:
		return nil, scim.NewError(405, "", method+" is not supported on the server root")
	case search:
		var err error
		if q, err = searchQuery(body); err != nil {
			return nil, err
		}
	}
	call.Projection = resource.ParseProjection(q.get("attributes"), q.get("excludedattributes"))
	call.Log.Filter = q.get("filter")
	users, err := pageQuery(q)
	if err != nil {
		return nil, err
	}
	groups := users
	filters, err := resource.ParseRootFilter(q.get("filter"), s.svc.UserKind(), s.svc.GroupKind())
	if err != nil {
		return nil, err
	}
	users.Filter, groups.Filter = filters[0], filters[1]
	var userErr, groupErr error
	users.Sort, userErr = s.svc.UserKind().ParseSort(q.get("sortby"), q.get("sortorder"))
	groups.Sort, groupErr = s.svc.GroupKind().ParseSort(q.get("sortby"), q.get("sortorder"))
	if userErr != nil && groupErr != nil {
		return nil, userErr
	}
	return s.svc.Search(ctx, call, users, groups)
}

// noDiscoveryFilter refuses a filter on a discovery endpoint with 403
// (RFC 7644 section 4): the endpoints ignore query parameters, and a client
// must not take a filter's conditions for true of what they return.
func noDiscoveryFilter(q query) error {
	if strings.TrimSpace(q.get("filter")) != "" {
		return scim.NewError(403, "", "discovery endpoints cannot be filtered; fetch them whole, or one by id")
	}
	return nil
}

func (s *Server) discovery(method string, doc map[string]any) (*provision.Result, error) {
	if method != http.MethodGet {
		return nil, scim.NewError(405, "", "discovery endpoints are read-only")
	}
	b, _ := json.Marshal(doc)
	return &provision.Result{Status: 200, Body: b}, nil
}

func (s *Server) discoveryList(method, id string, docs []map[string]any) (*provision.Result, error) {
	if id == "" {
		if method != http.MethodGet {
			return nil, scim.NewError(405, "", "discovery endpoints are read-only")
		}
		b, _ := json.Marshal(resource.ListResponse(len(docs), 1, docs))
		return &provision.Result{Status: 200, Body: b}, nil
	}
	for _, d := range docs {
		if strings.EqualFold(d["id"].(string), id) {
			return s.discovery(method, d)
		}
	}
	return nil, scim.NewError(404, "", id+" not found")
}

// query holds query parameters with case-insensitive names, kept in lower
// case.
type query map[string]string

// get reads a parameter; callers pass lower-case names, which skips the
// copy strings.ToLower makes of any other.
func (q query) get(name string) string { return q[strings.ToLower(name)] }

func parseQuery(raw string) (query, error) {
	q := query{}
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, scim.NewError(400, scim.TypeInvalidSyntax, "malformed query string")
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, scim.NewError(400, scim.TypeInvalidSyntax, "malformed query string")
		}
		if !printable(val) {
			return nil, scim.NewError(400, scim.TypeInvalidSyntax, "query parameter "+key+" is not valid UTF-8 text")
		}
		q[strings.ToLower(key)] = val
	}
	return q, nil
}

// printable reports whether s is valid UTF-8 without NUL characters, which
// PostgreSQL text cannot hold.
func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}
