package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/scimplane/scimplane/plugins/scim"
	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/worker/internal/provision"
	"github.com/scimplane/scimplane/worker/internal/resource"
	"github.com/scimplane/scimplane/worker/internal/store"
)

// Extensions lists the declared extension schemas in force.
func (a *Server) Extensions(ctx context.Context, _ *scimworker.ExtensionsRequest) (*scimworker.Extensions, error) {
	return run(ctx, a, "extensions", func(t *Tenant) (*scimworker.Extensions, error) {
		return extensions(t.Provision.Schemas().Declarations), nil
	})
}

// DeclareExtensionAttribute stores a declaration, then puts the schema set
// with it in force: SCIM requests that start after the call returns use it.
func (a *Server) DeclareExtensionAttribute(ctx context.Context, req *scimworker.ExtensionAttribute) (*scimworker.Extensions, error) {
	return run(ctx, a, "declare extension attribute", func(t *Tenant) (*scimworker.Extensions, error) {
		all, d, err := t.Store.DeclareExtensionAttribute(ctx, resource.Declared{
			Schema: req.Schema, ResourceType: req.ResourceType, Name: req.Name, Type: resource.Type(req.Type),
			MultiValued: req.MultiValued, CaseExact: req.CaseExact, Description: req.Description,
		})
		var se *scim.Error
		if errors.As(err, &se) {
			return nil, &scimworker.Error{Status: se.Status, Message: se.Detail}
		}
		if err != nil {
			return nil, err
		}
		t.Provision.SetSchemas(resource.NewSchemas(all...))
		a.log.InfoContext(ctx, "extension attribute declared", "tenant_id", t.ID, "request_id", scimworker.RequestID(ctx),
			"schema", d.Schema, "attribute", d.Name, "type", string(d.Type))
		return extensions(all), nil
	})
}

// RemoveExtensionAttribute removes a declaration no resource holds a value
// of, then puts the schema set without it in force.
func (a *Server) RemoveExtensionAttribute(ctx context.Context, req *scimworker.RemoveExtensionAttributeRequest) (*scimworker.Extensions, error) {
	return run(ctx, a, "remove extension attribute", func(t *Tenant) (*scimworker.Extensions, error) {
		holders, err := t.Store.RemoveExtensionAttribute(ctx, req.Schema, req.Name)
		switch {
		case errors.Is(err, provision.ErrNotFound):
			return nil, scimworker.NotFound(fmt.Sprintf("%s:%s is not declared", req.Schema, req.Name))
		case errors.Is(err, store.ErrInUse):
			return nil, &scimworker.Error{Status: 409, Message: fmt.Sprintf(
				"%d resources hold a value of %s:%s; remove the values first (stop mapping the attribute, then clear it on each resource)", holders, req.Schema, req.Name)}
		case err != nil:
			return nil, err
		}
		all, err := t.Store.ExtensionAttributes(ctx)
		if err != nil {
			return nil, err
		}
		t.Provision.SetSchemas(resource.NewSchemas(all...))
		a.log.InfoContext(ctx, "extension attribute removed", "tenant_id", t.ID, "request_id", scimworker.RequestID(ctx),
			"schema", req.Schema, "attribute", req.Name)
		return extensions(all), nil
	})
}

// extensions groups declarations by schema, schemas in URN order and
// attributes in the order they come (declaration order).
func extensions(decls []resource.Declared) *scimworker.Extensions {
	out := &scimworker.Extensions{Schemas: []scimworker.ExtensionSchema{},
		MaxSchemas: resource.MaxExtensionSchemas, MaxAttributes: resource.MaxExtensionAttributes}
	index := map[string]int{}
	for _, d := range decls {
		i, ok := index[d.Schema]
		if !ok {
			i = len(out.Schemas)
			index[d.Schema] = i
			out.Schemas = append(out.Schemas, scimworker.ExtensionSchema{Schema: d.Schema, ResourceType: d.ResourceType, Attributes: []scimworker.ExtensionAttribute{}})
		}
		out.Schemas[i].Attributes = append(out.Schemas[i].Attributes, scimworker.ExtensionAttribute{
			Schema: d.Schema, ResourceType: d.ResourceType, Name: d.Name, Type: string(d.Type),
			MultiValued: d.MultiValued, CaseExact: d.CaseExact, Description: d.Description,
		})
	}
	sort.SliceStable(out.Schemas, func(i, j int) bool { return out.Schemas[i].Schema < out.Schemas[j].Schema })
	return out
}

// ReloadExtensions puts the stored declarations in force if they differ
// from those in force: a declaration made through a worker of the tenant
// on another replica reaches this one within a policy check interval.
func (t *Tenant) ReloadExtensions(ctx context.Context) error {
	stored, err := t.Store.ExtensionAttributes(ctx)
	if err != nil {
		return err
	}
	if !slices.Equal(stored, t.Provision.Schemas().Declarations) {
		t.Provision.SetSchemas(resource.NewSchemas(stored...))
	}
	return nil
}
