package store

import (
	"context"
	"errors"
	"sort"

	"github.com/scimplane/scimplane/worker/internal/resource"
	"github.com/scimplane/scimplane/worker/internal/store/dbsqlc"
)

// ErrInUse refuses removing a declared extension attribute that resources
// still hold values of.
var ErrInUse = errors.New("in use")

// ExtensionAttributes lists the tenant's declared extension attributes, by
// schema and then in declaration order.
func (s *Store) ExtensionAttributes(ctx context.Context) ([]resource.Declared, error) {
	return declared(ctx, s.q, "list extension attributes")
}

func declared(ctx context.Context, q *dbsqlc.Queries, what string) ([]resource.Declared, error) {
	rows, err := q.ListExtensionAttributes(ctx)
	if err != nil {
		return nil, mapErr(err, what)
	}
	out := make([]resource.Declared, len(rows))
	for i, r := range rows {
		out[i] = resource.Declared{Schema: r.SchemaUrn, ResourceType: r.ResourceType, Name: r.Name, Type: resource.Type(r.Type),
			MultiValued: r.MultiValued, CaseExact: r.CaseExact, Description: r.Description}
	}
	return out, nil
}

// inExtensionTx runs fn in a transaction that holds the declarations
// table's lock, so that declarations are checked against what is there.
func (s *Store) inExtensionTx(ctx context.Context, what string, fn func(*dbsqlc.Queries) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return mapErr(err, what)
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return mapErr(err, what)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `LOCK TABLE extension_attributes IN EXCLUSIVE MODE`); err != nil {
		return mapErr(err, what)
	}
	if err := fn(s.q.WithTx(tx)); err != nil {
		return err
	}
	return mapErr(tx.Commit(ctx), what)
}

// DeclareExtensionAttribute checks d against the declarations (see
// resource.Declare) and stores it. It returns the declarations now in
// force and d as stored.
func (s *Store) DeclareExtensionAttribute(ctx context.Context, d resource.Declared) ([]resource.Declared, resource.Declared, error) {
	var all []resource.Declared
	err := s.inExtensionTx(ctx, "declare extension attribute", func(q *dbsqlc.Queries) error {
		have, err := declared(ctx, q, "declare extension attribute")
		if err != nil {
			return err
		}
		if all, d, err = resource.Declare(have, d); err != nil {
			return err
		}
		// In the order ExtensionAttributes lists them: d is the newest.
		sort.SliceStable(all, func(i, j int) bool { return all[i].Schema < all[j].Schema })
		err = q.InsertExtensionAttribute(ctx, dbsqlc.InsertExtensionAttributeParams{SchemaUrn: d.Schema, ResourceType: d.ResourceType,
			Name: d.Name, Type: string(d.Type), MultiValued: d.MultiValued, CaseExact: d.CaseExact, Description: d.Description})
		return mapErr(err, "declare extension attribute")
	})
	return all, d, err
}

// RemoveExtensionAttribute removes the declaration of schema:name (any
// case). It refuses with ErrInUse, and the number of resources, while any
// user or group holds a value of it, and answers provision.ErrNotFound
// for an attribute not declared. A value a write stores while the
// removal commits stays stored, hidden (reads return only declared
// attributes).
func (s *Store) RemoveExtensionAttribute(ctx context.Context, schema, name string) (int64, error) {
	var holders int64
	err := s.inExtensionTx(ctx, "remove extension attribute", func(q *dbsqlc.Queries) error {
		a, err := q.FindExtensionAttribute(ctx, dbsqlc.FindExtensionAttributeParams{SchemaUrn: schema, Name: name})
		if err != nil {
			return mapErr(err, "remove extension attribute")
		}
		if a.ResourceType == "Group" {
			holders, err = q.CountGroupsWithExtension(ctx, dbsqlc.CountGroupsWithExtensionParams{SchemaUrn: a.SchemaUrn, Name: a.Name})
		} else {
			holders, err = q.CountUsersWithExtension(ctx, dbsqlc.CountUsersWithExtensionParams{SchemaUrn: a.SchemaUrn, Name: a.Name})
		}
		if err != nil {
			return mapErr(err, "remove extension attribute")
		}
		if holders > 0 {
			return ErrInUse
		}
		err = q.DeleteExtensionAttribute(ctx, dbsqlc.DeleteExtensionAttributeParams{SchemaUrn: a.SchemaUrn, Name: a.Name})
		return mapErr(err, "remove extension attribute")
	})
	return holders, err
}
