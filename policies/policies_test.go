package policies_test

import (
	"bytes"
	"context"
	"io/fs"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/util"
	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/policies"
)

// TestRego runs every *_test.rego like `opa test policies/`: all modules
// compiled together, the mapping document at data.mapping.
func TestRego(t *testing.T) {
	ctx := context.Background()

	names, err := fs.Glob(policies.FS, "*.rego")
	require.NoError(t, err)
	modules := map[string]*ast.Module{}
	for _, name := range names {
		src, err := fs.ReadFile(policies.FS, name)
		require.NoError(t, err)
		modules[name], err = ast.ParseModuleWithOpts(name, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
		require.NoError(t, err)
	}

	raw, err := fs.ReadFile(policies.FS, "mapping/data.json")
	require.NoError(t, err)
	var mapping map[string]any
	require.NoError(t, util.NewJSONDecoder(bytes.NewReader(raw)).Decode(&mapping))
	store := inmem.NewFromObject(map[string]any{"mapping": mapping})

	ch, err := tester.NewRunner().
		SetModules(modules).
		SetStore(store).
		RaiseBuiltinErrors(true).
		RunTests(ctx, nil)
	require.NoError(t, err)

	var ran int
	for r := range ch {
		ran++
		switch {
		case r.Error != nil:
			t.Errorf("%s.%s (%s): error: %v", r.Package, r.Name, r.Location, r.Error)
		case r.Fail:
			t.Errorf("%s.%s (%s): fail", r.Package, r.Name, r.Location)
		}
	}
	require.Positive(t, ran, "no Rego tests found")
}
