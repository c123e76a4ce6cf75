// Package policies holds the default permission policy: its Rego modules,
// their Rego tests (*_test.rego) and the default mapping document
// (mapping/data.json), exposed as an embedded file system.
package policies

import "embed"

// FS holds every *.rego file at its root and the mapping document at
// mapping/data.json, where `opa test policies/` also finds it as data.mapping.
//
//go:embed *.rego mapping/data.json
var FS embed.FS
