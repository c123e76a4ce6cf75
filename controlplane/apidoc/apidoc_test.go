package apidoc_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/controlplane/apidoc"
	"github.com/scimplane/scimplane/controlplane/internal/httpapi"
	"github.com/scimplane/scimplane/docs"
)

// root is the repository's root, from this package's directory.
func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(dir, "go.mod"))
	require.NoError(t, err)
	return dir
}

// The control plane serves the committed document: it must be what the
// route table and the types say today.
func TestGenerate_CommittedCopyIsCurrent(t *testing.T) {
	doc, err := apidoc.Generate(root(t))
	require.NoError(t, err)
	if !bytes.Equal(doc, docs.OpenAPI()) {
		t.Fatal("docs/openapi.json is stale: run make openapi and commit it")
	}
}

func TestGenerate_IsAValidOpenAPI31Document(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(docs.OpenAPI())
	require.NoError(t, err)
	require.True(t, doc.IsOpenAPI31OrLater())
	require.NoError(t, doc.Validate(context.Background()))
}

// Every route the server mounts under /api/v1 is in the document, and
// nothing else is.
func TestGenerate_DescribesEveryServedRoute(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(docs.OpenAPI())
	require.NoError(t, err)
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	app := httpapi.New(httpapi.Params{Registry: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)})
	served := map[string]bool{}
	param := regexp.MustCompile(`:([A-Za-z0-9_]+)`)
	for _, r := range app.GetRoutes(true) {
		if !strings.HasPrefix(r.Path, httpapi.APIPrefix+"/") || r.Method == http.MethodHead {
			continue
		}
		served[r.Method+" "+param.ReplaceAllString(r.Path, "{$1}")] = true
	}
	require.Equal(t, documented, served)
}
