// Package docs embeds the admin API's OpenAPI document, openapi.json, so
// that the control plane serves the committed copy. make openapi writes it
// from the route table and the Go types (controlplane/apidoc); a
// test fails when it is stale.
package docs

import _ "embed"

//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the document. Callers must not modify it.
func OpenAPI() []byte { return openAPI }
