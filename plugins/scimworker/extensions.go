package scimworker

import (
	"context"

	workerv1 "github.com/scimplane/scimplane/plugins/scimworker/proto/v1"
)

// ExtensionsRequest asks for the tenant's declared extension schemas.
type ExtensionsRequest struct{}

// ExtensionAttribute is an attribute a tenant declares in an extension
// schema of its own, as Entra admins add custom attributes to their app's
// schema (urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:costCenter).
type ExtensionAttribute struct {
	// Schema is the extension's URN, under
	// urn:ietf:params:scim:schemas:extension: (neither the core nor the
	// enterprise schema's).
	Schema string `json:"schema"`
	// ResourceType is the type the schema extends: User or Group. All
	// attributes of one schema extend the same type.
	ResourceType string `json:"resourceType"`
	// Name is the attribute's name (a letter, then letters, digits, '-'
	// or '_'); not the name of a core attribute of the resource type.
	Name string `json:"name"`
	// Type is string, boolean, integer, decimal, dateTime or reference.
	Type        string `json:"type"`
	MultiValued bool   `json:"multiValued"`
	// CaseExact makes string comparisons in filters case-sensitive.
	CaseExact   bool   `json:"caseExact"`
	Description string `json:"description,omitempty"`
}

// ExtensionSchema is one declared extension schema with its attributes.
type ExtensionSchema struct {
	Schema       string               `json:"schema"`
	ResourceType string               `json:"resourceType"`
	Attributes   []ExtensionAttribute `json:"attributes"`
}

// Extensions are the tenant's declared extension schemas, by URN, and the
// bounds on them.
type Extensions struct {
	Schemas       []ExtensionSchema `json:"schemas"`
	MaxSchemas    int               `json:"maxSchemas"`
	MaxAttributes int               `json:"maxAttributes"`
}

// RemoveExtensionAttributeRequest names a declared attribute to remove
// (any case). It is refused (409) while any resource holds a value of it.
type RemoveExtensionAttributeRequest struct {
	Schema string `json:"schema" query:"schema"`
	Name   string `json:"name" query:"name"`
}

func (c *client) Extensions(ctx context.Context, req *ExtensionsRequest) (*Extensions, error) {
	return call[Extensions](ctx, c.rpc.Extensions, "extensions", req)
}

func (c *client) DeclareExtensionAttribute(ctx context.Context, req *ExtensionAttribute) (*Extensions, error) {
	return call[Extensions](ctx, c.rpc.DeclareExtensionAttribute, "declare extension attribute", req)
}

func (c *client) RemoveExtensionAttribute(ctx context.Context, req *RemoveExtensionAttributeRequest) (*Extensions, error) {
	return call[Extensions](ctx, c.rpc.RemoveExtensionAttribute, "remove extension attribute", req)
}

func (s *server) Extensions(ctx context.Context, in *workerv1.AdminCall) (*workerv1.AdminResult, error) {
	return serve(ctx, in, s.impl.Extensions)
}

func (s *server) DeclareExtensionAttribute(ctx context.Context, in *workerv1.AdminCall) (*workerv1.AdminResult, error) {
	return serve(ctx, in, s.impl.DeclareExtensionAttribute)
}

func (s *server) RemoveExtensionAttribute(ctx context.Context, in *workerv1.AdminCall) (*workerv1.AdminResult, error) {
	return serve(ctx, in, s.impl.RemoveExtensionAttribute)
}
