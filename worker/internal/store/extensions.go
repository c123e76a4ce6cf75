package store

import (
	"context"
	"errors"
	"sort"

	"github.com/jackc/pgx/v5"

	"github.com/scimplane/scimplane/worker/internal/resource"
)

// ErrInUse refuses removing a declared extension attribute that resources
// still hold values of.
var ErrInUse = errors.New("in use")

const declaredCols = `schema_urn, resource_type, name, type, multi_valued, case_exact, description`

// ExtensionAttributes lists the tenant's declared extension attributes, by
// schema and then in declaration order.
func (s *Store) ExtensionAttributes(ctx context.Context) ([]resource.Declared, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+declaredCols+` FROM extension_attributes ORDER BY schema_urn, created, name`)
	if err != nil {
		return nil, mapErr(err, "list extension attributes")
	}
	out, err := pgx.CollectRows(rows, scanDeclared)
	return out, mapErr(err, "list extension attributes")
}

func scanDeclared(row pgx.CollectableRow) (resource.Declared, error) {
	var d resource.Declared
	var typ string
	err := row.Scan(&d.Schema, &d.ResourceType, &d.Name, &typ, &d.MultiValued, &d.CaseExact, &d.Description)
	d.Type = resource.Type(typ)
	return d, err
}

// inExtensionTx runs fn in a transaction that holds the declarations
// table's lock, so that declarations are checked against what is there.
func (s *Store) inExtensionTx(ctx context.Context, what string, fn func(pgx.Tx) error) error {
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
	if err := fn(tx); err != nil {
		return err
	}
	return mapErr(tx.Commit(ctx), what)
}

// DeclareExtensionAttribute checks d against the declarations (see
// resource.Declare) and stores it. It returns the declarations now in
// force and d as stored.
func (s *Store) DeclareExtensionAttribute(ctx context.Context, d resource.Declared) ([]resource.Declared, resource.Declared, error) {
	var all []resource.Declared
	err := s.inExtensionTx(ctx, "declare extension attribute", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+declaredCols+` FROM extension_attributes ORDER BY schema_urn, created, name`)
		if err != nil {
			return mapErr(err, "declare extension attribute")
		}
		have, err := pgx.CollectRows(rows, scanDeclared)
		if err != nil {
			return mapErr(err, "declare extension attribute")
		}
		if all, d, err = resource.Declare(have, d); err != nil {
			return err
		}
		// In the order ExtensionAttributes lists them: d is the newest.
		sort.SliceStable(all, func(i, j int) bool { return all[i].Schema < all[j].Schema })
		_, err = tx.Exec(ctx, `INSERT INTO extension_attributes (`+declaredCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			d.Schema, d.ResourceType, d.Name, string(d.Type), d.MultiValued, d.CaseExact, d.Description)
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
	err := s.inExtensionTx(ctx, "remove extension attribute", func(tx pgx.Tx) error {
		var urn, attr, resourceType string
		err := tx.QueryRow(ctx, `SELECT schema_urn, name, resource_type FROM extension_attributes
			WHERE lower(schema_urn) = lower($1) AND lower(name) = lower($2)`, schema, name).Scan(&urn, &attr, &resourceType)
		if err != nil {
			return mapErr(err, "remove extension attribute")
		}
		table := "users"
		if resourceType == "Group" {
			table = "groups"
		}
		// The key test (?) matches the name exactly, as writes store it.
		err = tx.QueryRow(ctx, `SELECT count(*) FROM `+table+` WHERE doc->$1 ? $2`, urn, attr).Scan(&holders)
		if err != nil {
			return mapErr(err, "remove extension attribute")
		}
		if holders > 0 {
			return ErrInUse
		}
		_, err = tx.Exec(ctx, `DELETE FROM extension_attributes WHERE schema_urn = $1 AND name = $2`, urn, attr)
		return mapErr(err, "remove extension attribute")
	})
	return holders, err
}
