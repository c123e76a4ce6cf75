// Package scim is the SCIM 2.0 vocabulary both binaries share: schema URNs,
// the media type and the RFC 7644 error envelope. Resource types live only
// in the worker; the control plane never parses a SCIM resource.
package scim

import (
	"encoding/json"
	"strconv"
)

// MediaType is the content type of every SCIM response.
const MediaType = "application/scim+json"

// Schema URNs.
const (
	SchemaUser           = "urn:ietf:params:scim:schemas:core:2.0:User"
	SchemaGroup          = "urn:ietf:params:scim:schemas:core:2.0:Group"
	SchemaEnterpriseUser = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	SchemaListResponse   = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	SchemaPatchOp        = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	SchemaError          = "urn:ietf:params:scim:api:messages:2.0:Error"
	SchemaServiceConfig  = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	SchemaResourceType   = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	SchemaSchema         = "urn:ietf:params:scim:schemas:core:2.0:Schema"
)

// scimType values of RFC 7644 section 3.12.
const (
	TypeInvalidFilter = "invalidFilter"
	TypeTooMany       = "tooMany"
	TypeUniqueness    = "uniqueness"
	TypeMutability    = "mutability"
	TypeInvalidSyntax = "invalidSyntax"
	TypeInvalidPath   = "invalidPath"
	TypeNoTarget      = "noTarget"
	TypeInvalidValue  = "invalidValue"
	TypeInvalidVers   = "invalidVers"
	TypeSensitive     = "sensitive"
)

// Error is a SCIM error. It is both a Go error and, marshalled, the RFC 7644
// error envelope (status as a string, as the RFC's examples and Entra expect).
type Error struct {
	Status   int
	ScimType string
	Detail   string
}

// Errorf-style constructors keep call sites short.
func NewError(status int, scimType, detail string) *Error {
	return &Error{Status: status, ScimType: scimType, Detail: detail}
}

func (e *Error) Error() string {
	if e.ScimType != "" {
		return strconv.Itoa(e.Status) + " " + e.ScimType + ": " + e.Detail
	}
	return strconv.Itoa(e.Status) + ": " + e.Detail
}

type errorBody struct {
	Schemas  []string `json:"schemas"`
	Status   string   `json:"status"`
	ScimType string   `json:"scimType,omitempty"`
	Detail   string   `json:"detail,omitempty"`
}

// MarshalJSON writes the RFC 7644 error envelope.
func (e *Error) MarshalJSON() ([]byte, error) {
	return json.Marshal(errorBody{
		Schemas:  []string{SchemaError},
		Status:   strconv.Itoa(e.Status),
		ScimType: e.ScimType,
		Detail:   e.Detail,
	})
}

// Body returns the marshalled envelope; it cannot fail.
func (e *Error) Body() []byte {
	b, _ := json.Marshal(e)
	return b
}
