package httpapi

import (
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/scimplane/scimplane/controlplane/internal/tenant"
	"github.com/scimplane/scimplane/plugins/scimworker"
)

// extensionRoutes manage the tenant's declared extension schemas: the
// custom attributes Entra admins add to their app and map.
func extensionRoutes() []Route {
	declare := dataBody(http.MethodPost, "/tenants/:id/extensions", "declareExtensionAttribute", "extensions", (*tenant.Service).DeclareExtensionAttribute,
		Route{Summary: "Declare an attribute of one of the tenant's extension schemas",
			Description: "The schema is created with its first attribute. The tenant's SCIM endpoint advertises it on /Schemas and /ResourceTypes, " +
				"stores and returns its values, filters on them and gives them to the policy from the next request. " +
				"Refused with 400 for a malformed URN or name, an unknown type, a core or enterprise attribute or URN, or more than 20 schemas or 100 attributes; " +
				"409 if it is already declared.",
			PathParams: tenantParam})
	declare.Refusals = append(declare.Refusals, 409)
	remove := Route{Method: http.MethodDelete, Path: "/tenants/:id/extensions", ID: "removeExtensionAttribute", Tag: "extensions",
		Roles: managers, Scope: manageScope,
		Summary:     "Remove a declared extension attribute",
		Description: "Refused with 409 while any user or group holds a value of it: clear the values first. A schema goes with its last attribute.",
		PathParams:  tenantParam, Query: typeOf[scimworker.RemoveExtensionAttributeRequest](), RequiredQuery: []string{"schema", "name"},
		Status: http.StatusOK, Response: declare.Response,
		Refusals: []int{403, 404, 409},
		serve: func(s *server) fiber.Handler {
			return tenantOp(s, (*tenant.Service).RemoveExtensionAttribute, nil)
		}}
	return []Route{
		dataQuery("/tenants/:id/extensions", "listExtensions", "extensions", (*tenant.Service).Extensions, nil,
			Route{Summary: "The tenant's declared extension schemas and their attributes", PathParams: tenantParam}),
		declare,
		remove,
	}
}
