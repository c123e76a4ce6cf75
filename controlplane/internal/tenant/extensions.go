package tenant

import (
	"context"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

// Extensions lists the tenant's declared extension schemas (custom
// attributes Entra admins map), from its worker.
func (s *Service) Extensions(ctx context.Context, p Principal, tenantID string, req *scimworker.ExtensionsRequest) (*scimworker.Extensions, error) {
	return onWorker(ctx, s, p, tenantID, read, "worker.extensions.list", scimworker.Worker.Extensions, req)
}

// DeclareExtensionAttribute declares an attribute of one of the tenant's
// extension schemas. The worker checks and stores it in the tenant's
// schema and serves it from its next SCIM request.
func (s *Service) DeclareExtensionAttribute(ctx context.Context, p Principal, tenantID string, req *scimworker.ExtensionAttribute) (*scimworker.Extensions, error) {
	return onWorker(ctx, s, p, tenantID, write, "worker.extensions.declare", scimworker.Worker.DeclareExtensionAttribute, req)
}

// RemoveExtensionAttribute removes a declared attribute that no resource
// holds a value of.
func (s *Service) RemoveExtensionAttribute(ctx context.Context, p Principal, tenantID string, req *scimworker.RemoveExtensionAttributeRequest) (*scimworker.Extensions, error) {
	return onWorker(ctx, s, p, tenantID, write, "worker.extensions.remove", scimworker.Worker.RemoveExtensionAttribute, req)
}
