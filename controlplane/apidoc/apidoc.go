// Package apidoc builds the admin API's OpenAPI 3.1 document from the
// route table the server mounts (httpapi.Routes) and the Go types the
// routes name: paths, parameters and statuses come from the table, schemas
// are reflected from the types (swaggest's jsonschema-go, which knows what
// encoding/json can emit: a nil slice is null, an omitempty field may be
// absent) and described with their Go doc comments. make openapi writes it
// to docs/openapi.json, which the control plane embeds and serves; a test
// fails when that copy is stale, and tests/apitest checks every answer the API
// tests receive against it.
//
// It is a build tool, not part of the server (which serves the committed
// copy and does not import it): it sits outside controlplane/internal only
// so that the generator command, cmd/openapi, may import it.
package apidoc

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/swaggest/jsonschema-go"
	"github.com/swaggest/openapi-go"
	"github.com/swaggest/openapi-go/openapi31"

	"github.com/scimplane/scimplane/controlplane/internal/httpapi"
	"github.com/scimplane/scimplane/controlplane/internal/tenant"
	"github.com/scimplane/scimplane/controlplane/internal/workerpool"
)

// SecurityScheme names the bearer API key scheme in the document.
const SecurityScheme = "apiKey"

// SCIMError is the RFC 7644 error body of an answer given before the
// request was read (a connection past a cap), when its route is not known.
type SCIMError struct {
	Schemas []string `json:"schemas"`
	// Status is the HTTP status, as a string.
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// Media types of the answers.
const (
	mediaJSON = "application/json"
	mediaSCIM = "application/scim+json"
)

// Generate returns the document, indented. root is the repository's root:
// the Go sources of the types give the schemas their descriptions.
func Generate(root string) ([]byte, error) {
	g := &generator{comments: newComments(root), names: map[string]reflect.Type{}}
	r := openapi31.NewReflector()
	r.Spec.Info.WithTitle("scimplane admin API").WithVersion("v1").WithDescription(intro)
	r.Spec.SetHTTPBearerTokenSecurity(SecurityScheme, "spk_...", securityText)
	for _, t := range tags {
		r.Spec.Tags = append(r.Spec.Tags, openapi31.Tag{Name: t[0], Description: &t[1]})
	}
	js := r.JSONSchemaReflector()
	js.DefaultOptions = append(js.DefaultOptions,
		jsonschema.InterceptDefName(g.defName),
		jsonschema.InterceptSchema(g.schema),
		jsonschema.InterceptProp(g.prop))
	for _, rt := range httpapi.Routes() {
		if err := g.add(r, rt); err != nil {
			return nil, fmt.Errorf("%s %s: %w", rt.Method, rt.Path, err)
		}
	}
	if g.err != nil {
		return nil, g.err
	}
	addRefusals(r.Spec)
	b, err := json.MarshalIndent(r.Spec, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

type generator struct {
	comments *comments
	// names are the component names given so far, to refuse two types
	// with one name.
	names map[string]reflect.Type
	err   error
}

// defName names a component after its Go type, without the package: the
// API's types have distinct names. Generic instances keep the default.
func (g *generator) defName(t reflect.Type, def string) string {
	name := t.Name()
	if n, ok := renamed[t]; ok {
		name = n
	}
	if name == "" || strings.ContainsAny(name, "[]") {
		return def
	}
	if prev, ok := g.names[name]; ok && prev != t && g.err == nil {
		g.err = fmt.Errorf("types %v and %v would both be the schema %q", prev, t, name)
	}
	g.names[name] = t
	return name
}

// renamed are types whose own name says too little in the document.
var renamed = map[reflect.Type]string{
	reflect.TypeFor[workerpool.Info](): "WorkerInfo",
}

// enums lists the values of the string types that have a fixed set.
var enums = map[reflect.Type][]any{
	reflect.TypeFor[tenant.Role]():   {tenant.RoleOperator, tenant.RoleTenantAdmin, tenant.RoleSupport},
	reflect.TypeFor[tenant.Status](): {tenant.StatusActive, tenant.StatusDisabled},
}

// schema describes a named type with its doc comment and enumerates the
// values of the types in enums.
func (g *generator) schema(p jsonschema.InterceptSchemaParams) (bool, error) {
	if !p.Processed {
		return false, nil
	}
	t := p.Value.Type()
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if vals, ok := enums[t]; ok {
		p.Schema.Enum = vals
	}
	if p.Schema.Description == nil && t.Name() != "" {
		if d := g.comments.typeDoc(t); d != "" {
			p.Schema.WithDescription(d)
		}
	}
	return false, nil
}

// requestRequired are the fields a request body must carry, by the type
// that declares them; other fields of request bodies may be left out.
var requestRequired = map[reflect.Type][]string{
	reflect.TypeFor[httpapi.NewTenant]():         {"name"},
	reflect.TypeFor[tenant.CreateAPIKeyParams](): {"role"},
	reflect.TypeFor[tenant.NewPolicy]():          {"modules", "mapping"},
}

// prop describes a property with its field's doc comment and marks it
// required: in an answer, every field encoding/json always writes (no
// omitempty or omitzero); in a request body, those requestRequired names.
// An omitzero slice or map is left out when nil, so it is never null.
func (g *generator) prop(p jsonschema.InterceptPropParams) error {
	if !p.Processed {
		return nil
	}
	parent := p.ParentSchema.ReflectType
	for parent != nil && parent.Kind() == reflect.Pointer {
		parent = parent.Elem()
	}
	if parent == nil || parent.Kind() != reflect.Struct {
		return nil
	}
	owner := declaring(parent, p.Field)
	tag := p.Field.Tag.Get("json")
	omitted := strings.Contains(tag, ",omitempty") || strings.Contains(tag, ",omitzero")
	if strings.Contains(tag, ",omitzero") && p.PropertySchema.HasType(jsonschema.Null) {
		p.PropertySchema.RemoveType(jsonschema.Null)
	}
	if d := g.comments.fieldDoc(owner, p.Field.Name, p.Name); d != "" && p.PropertySchema.Description == nil {
		p.PropertySchema.WithDescription(d)
	}
	response := true
	if oc, ok := openapi.OperationCtx(p.Context); ok {
		response = oc.IsProcessingResponse()
		if oc.ProcessingIn() != openapi.InBody && !response {
			return nil // parameters: required by the route, not the type
		}
	}
	required := !omitted
	if !response {
		required = slices.Contains(requestRequired[parent], p.Name) || slices.Contains(requestRequired[owner], p.Name)
	}
	if required && tag != "" && !slices.Contains(p.ParentSchema.Required, p.Name) {
		p.ParentSchema.Required = append(p.ParentSchema.Required, p.Name)
	}
	return nil
}

// declaring returns the struct type that declares f, a field of t or of a
// struct t embeds.
func declaring(t reflect.Type, f reflect.StructField) reflect.Type {
	full, ok := t.FieldByName(f.Name)
	if !ok {
		return t
	}
	for _, i := range full.Index[:len(full.Index)-1] {
		t = t.Field(i).Type
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
	}
	return t
}

var pathParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// openAPIPath turns a fiber path into the document's.
func openAPIPath(p string) string {
	return httpapi.APIPrefix + pathParam.ReplaceAllString(p, "{$1}")
}

// numericParams are path parameters that are numbers (a path with
// anything else there is not found).
var numericParams = map[string]bool{"version": true, "entry": true}

func (g *generator) add(r *openapi31.Reflector, rt httpapi.Route) error {
	oc, err := r.NewOperationContext(rt.Method, openAPIPath(rt.Path))
	if err != nil {
		return err
	}
	oc.SetID(rt.ID)
	oc.SetTags(rt.Tag)
	oc.SetSummary(rt.Summary)
	oc.SetDescription(describe(rt))
	if !rt.Public {
		roles := make([]string, len(rt.Roles))
		for i, role := range rt.Roles {
			roles[i] = string(role)
		}
		oc.AddSecurity(SecurityScheme, roles...)
	}
	if in := paramsStruct(rt); in != nil {
		oc.AddReqStructure(in)
	}
	if rt.Query != nil {
		oc.AddReqStructure(reflect.New(rt.Query).Interface())
	}
	if rt.Body != nil {
		oc.AddReqStructure(reflect.New(rt.Body).Interface(), openapi.WithContentType(mediaJSON))
	}

	var success any
	if rt.Response != nil {
		success = reflect.New(rt.Response).Interface()
	}
	oc.AddRespStructure(success, openapi.WithHTTPStatus(rt.Status), description(http.StatusText(rt.Status)),
		openapi.WithCustomize(func(cor openapi.ContentOrReference) {
			resp := cor.(*openapi31.ResponseOrReference).Response
			withHeaders(resp, requestIDHeader)
			if rt.Public {
				resp.WithContentItem(mediaJSON, openapi31.MediaType{Schema: map[string]any{"type": "object"}})
			}
			for media, d := range rt.Streams {
				resp.WithContentItem(media, openapi31.MediaType{Schema: map[string]any{
					"type": "string", "contentMediaType": media, "description": d}})
			}
		}))
	for _, code := range refusals(rt) {
		addRefusal(oc, code)
	}
	if err := r.AddOperation(oc); err != nil {
		return err
	}
	return g.finish(r, oc, rt)
}

// finish completes what the reflector leaves out of an operation: the
// body of a DELETE (allowed since OpenAPI 3.1; the reflector skips it),
// whether the body is required, and the query parameters it must have.
func (g *generator) finish(r *openapi31.Reflector, oc openapi.OperationContext, rt httpapi.Route) error {
	item := r.Spec.Paths.MapOfPathItemValues[openAPIPath(rt.Path)]
	op := map[string]*openapi31.Operation{http.MethodGet: item.Get, http.MethodPost: item.Post, http.MethodPut: item.Put,
		http.MethodDelete: item.Delete, http.MethodPatch: item.Patch}[rt.Method]
	if rt.Body != nil && op.RequestBody == nil {
		body, err := r.JSONSchemaReflector().Reflect(reflect.New(rt.Body).Interface(), jsonschema.RootRef,
			openapi.WithOperationCtx(oc, false, openapi.InBody),
			jsonschema.DefinitionsPrefix("#/components/schemas/"),
			jsonschema.CollectDefinitions(func(name string, s jsonschema.Schema) {
				if g.err == nil {
					m, err := s.ToSchemaOrBool().ToSimpleMap()
					g.err = err
					r.Spec.ComponentsEns().WithSchemasItem(name, m)
				}
			}))
		if err != nil {
			return err
		}
		m, err := body.ToSchemaOrBool().ToSimpleMap()
		if err != nil {
			return err
		}
		op.RequestBodyEns().RequestBodyEns().WithContentItem(mediaJSON, openapi31.MediaType{Schema: m})
	}
	if rt.Body != nil && len(requestRequired[rt.Body]) > 0 {
		op.RequestBody.RequestBody.WithRequired(true)
	}
	for i, p := range op.Parameters {
		prm := p.Parameter
		if prm == nil || prm.In != openapi31.ParameterInQuery {
			continue
		}
		if slices.Contains(rt.RequiredQuery, prm.Name) {
			prm.WithRequired(true)
		}
		if d, ok := queryText[prm.Name]; ok && prm.Description == nil {
			prm.WithDescription(d)
		}
		op.Parameters[i].Parameter = prm
	}
	return nil
}

// queryText describes the query parameters whose fields have no comment.
var queryText = map[string]string{
	"after":         "The cursor: the previous page's `next`.",
	"limit":         "The most entries to return: 50 by default, at most 500 (1,000 for the SCIM log).",
	"format":        "`json` (the default: a page), or `ndjson` or `csv`: an export of every matching entry.",
	"permission":    "The permission to explain.",
	"method":        "The request's HTTP method.",
	"to":            "The end of the time range (RFC 3339), exclusive.",
	"resource_type": "`User` or `Group`.",
	"resource_id":   "The SCIM id of the user or group the request concerned.",
	"request_id":    "The request's id (its X-Request-Id).",
}

// paramsStruct is a struct whose fields are the route's path parameters
// and request headers, tagged for the reflector.
func paramsStruct(rt httpapi.Route) any {
	var fields []reflect.StructField
	for i, m := range pathParam.FindAllStringSubmatch(rt.Path, -1) {
		name := m[1]
		t := reflect.TypeFor[string]()
		if numericParams[name] {
			t = reflect.TypeFor[int64]()
		}
		fields = append(fields, reflect.StructField{Name: "P" + strconv.Itoa(i), Type: t,
			Tag: reflect.StructTag(fmt.Sprintf(`path:%q description:%q`, name, rt.PathParams[name]))})
	}
	headers := make([]string, 0, len(rt.Headers))
	for h := range rt.Headers {
		headers = append(headers, h)
	}
	slices.Sort(headers)
	for i, h := range headers {
		fields = append(fields, reflect.StructField{Name: "H" + strconv.Itoa(i), Type: reflect.TypeFor[string](),
			Tag: reflect.StructTag(fmt.Sprintf(`header:%q required:"true" description:%q`, h, rt.Headers[h]))})
	}
	if len(fields) == 0 {
		return nil
	}
	return reflect.New(reflect.StructOf(fields)).Interface()
}

// refusals are the error statuses a route may answer with.
func refusals(rt httpapi.Route) []int {
	codes := []int{400, 429, 500}
	if !rt.Public {
		codes = append(codes, 401, 503)
	}
	if rt.Body != nil {
		codes = append(codes, 408, 413, 415)
	}
	codes = append(codes, rt.Refusals...)
	slices.Sort(codes)
	return slices.Compact(codes)
}

// refusalText says when each error status is answered.
var refusalText = map[int]string{
	400: "The request is malformed: a body that is not the JSON expected, a query parameter of the wrong type, a value out of range, " +
		"or a path or query that is not UTF-8 text or contains NUL.",
	401: "No API key, or one that is unknown or revoked (or a console session that was signed out).",
	403: "The key's role or tenant scope does not allow this.",
	404: "The tenant, or the resource named in the path, does not exist.",
	408: "The request body did not arrive in time.",
	409: "A generated id or secret collided with an existing one; retry.",
	413: "The request body is over the size limit (1 MiB by default).",
	415: "The request body is encoded (Content-Encoding); send it unencoded.",
	422: "The policy does not compile, or its tests fail: `problems` and `tests` say where.",
	429: "Too many connections from this client address: answered before the request is read, with a SCIM error body. Retry after Retry-After seconds.",
	500: "An unexpected failure, logged with the request id.",
	503: "The database or the tenant's worker is unavailable, or the server is busy (reading other requests' bodies, or at its connection limit, " +
		"which is answered before the request is read, with a SCIM error body). Retry after Retry-After seconds.",
}

// refusalNames name the error answers in components.responses.
var refusalNames = map[int]string{
	400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 408: "RequestTimeout", 409: "Conflict",
	413: "TooLarge", 415: "UnsupportedMediaType", 422: "PolicyRefused", 429: "TooManyConnections", 500: "InternalError",
	503: "Unavailable",
}

// addRefusal refers the operation to the error answer in
// components.responses; the structure is given so that its schema is
// collected.
func addRefusal(oc openapi.OperationContext, code int) {
	var structure any = new(httpapi.ErrorBody)
	if code == 429 {
		structure = new(SCIMError)
	}
	oc.AddRespStructure(structure, openapi.WithHTTPStatus(code), openapi.WithReference("#/components/responses/"+refusalNames[code]))
}

// addRefusals declares the error answers in components.responses.
func addRefusals(spec *openapi31.Spec) {
	ref := func(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }
	for code, name := range refusalNames {
		resp := &openapi31.Response{Description: refusalText[code], Content: map[string]openapi31.MediaType{}}
		withHeaders(resp, requestIDHeader)
		switch code {
		case 401:
			withHeaders(resp, header{"WWW-Authenticate", `Always Bearer realm="scimplane".`})
		case 429, 503:
			withHeaders(resp, retryAfterHeader)
		}
		if code != 429 {
			resp.Content[mediaJSON] = openapi31.MediaType{Schema: ref("ErrorBody")}
		}
		if code == 429 || code == 503 {
			resp.Content[mediaSCIM] = openapi31.MediaType{Schema: ref("SCIMError")}
		}
		spec.ComponentsEns().WithResponsesItem(name, openapi31.ResponseOrReference{Response: resp})
	}
	for _, h := range []header{requestIDHeader, retryAfterHeader} {
		spec.ComponentsEns().WithHeadersItem(h.name, openapi31.HeaderOrReference{Header: (&openapi31.Header{
			Schema: map[string]any{"type": "string"},
		}).WithDescription(h.description).WithRequired(true)})
	}
}

type header struct{ name, description string }

var (
	requestIDHeader  = header{"X-Request-Id", "The request's id, as the logs know it: the caller's own X-Request-Id if it sent a sound one."}
	retryAfterHeader = header{"Retry-After", "Seconds to wait before retrying."}
)

// withHeaders adds required headers to resp: the shared ones by
// reference.
func withHeaders(resp *openapi31.Response, hs ...header) {
	if resp.Headers == nil {
		resp.Headers = map[string]openapi31.HeaderOrReference{}
	}
	for _, h := range hs {
		if h == requestIDHeader || h == retryAfterHeader {
			resp.Headers[h.name] = openapi31.HeaderOrReference{Reference: &openapi31.Reference{Ref: "#/components/headers/" + h.name}}
			continue
		}
		resp.Headers[h.name] = openapi31.HeaderOrReference{Header: (&openapi31.Header{
			Schema: map[string]any{"type": "string"},
		}).WithDescription(h.description).WithRequired(true)}
	}
}

func description(d string) openapi.ContentOption {
	return func(cu *openapi.ContentUnit) { cu.Description = d }
}

// describe is an operation's description: the route's own, then who may
// call it.
func describe(rt httpapi.Route) string {
	var b strings.Builder
	if rt.Description != "" {
		b.WriteString(rt.Description + "\n\n")
	}
	switch {
	case rt.Public:
		b.WriteString("**Who:** anyone; no key needed.")
	case len(rt.Roles) == 3 && rt.Scope == "":
		b.WriteString("**Who:** any key.")
	default:
		roles := make([]string, len(rt.Roles))
		for i, r := range rt.Roles {
			roles[i] = "`" + string(r) + "`"
		}
		b.WriteString("**Who:** " + strings.Join(roles, ", ") + " keys")
		if rt.Scope != "" {
			b.WriteString("; " + rt.Scope)
		}
		b.WriteString(".")
	}
	return b.String()
}

// tags name and describe the operations' groups, in the document's order.
var tags = [][2]string{
	{"meta", "The document itself and the calling key."},
	{"tenants", "Tenants: each is one customer's Entra provisioning target, with its own SCIM endpoint, database schema and worker."},
	{"tokens", "The SCIM bearer tokens Entra uses for a tenant."},
	{"directory", "What Entra provisioned, read through the tenant's worker: users with their effective permissions, groups with their members, and the change feed."},
	{"scim-log", "Every SCIM exchange the tenant's worker recorded, and the requests refused before they reached it."},
	{"extensions", "The tenant's own SCIM extension schemas: custom attributes Entra admins add to their app and map, which the tenant's SCIM endpoint then advertises, stores, returns, filters on and gives to the policy."},
	{"policies", "The tenant's permission policy (Rego modules and a group mapping), saved as versions and activated one at a time."},
	{"api-keys", "Admin API keys."},
	{"audit", "The record of admin writes."},
	{"operations", "The replica's own state."},
	{"console", "Calls the admin console makes."},
}

const securityText = "An admin API key (`spk_...`), sent as `Authorization: Bearer spk_...`. " +
	"Each key has a role, which each operation lists in its security requirement: " +
	"`operator` may do everything; `tenant_admin` manages one tenant (its tokens, policies and log retention) and reads it; " +
	"`support` reads one tenant or, when created without a tenant, every tenant, and its reads of tenant data are audited. " +
	"Operators create keys with `POST /api/v1/api-keys`; the first operator key is printed when the control plane first starts."

const intro = "The admin and application API of scimplane, a hosted SCIM 2.0 provisioning service for Microsoft Entra ID. " +
	"It manages tenants, their SCIM tokens and permission policies, and reads what Entra provisioned: users with their effective permissions, " +
	"groups with their members, and a change feed to follow. The SCIM endpoints themselves (`/scim/{tenant}/v2/...`) are described by RFC 7643 and 7644 " +
	"and by each tenant's `/Schemas`, not here.\n\n" +
	"**Errors** are JSON `{\"error\", \"request_id\"}` (policy refusals add `problems` and `tests`), except connections refused before their request " +
	"is read, which get a SCIM error body. Every answer carries `X-Request-Id`. A 429 or 503 carries `Retry-After`: wait that many seconds, then retry.\n\n" +
	"**Lists** of tenant data are paged with opaque cursors: pass an answer's `next` as `after` for the next page; an empty `next` ends the list " +
	"(the change feed instead returns `next` equal to `after` when nothing new committed). `limit` defaults to 50 and is at most 500 (1,000 for the SCIM log)."
