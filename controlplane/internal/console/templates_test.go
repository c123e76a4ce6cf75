package console

import (
	"bytes"
	"html/template"
	"testing"

	"github.com/stretchr/testify/require"
)

// Links with a query must survive html/template's URL escaping.
func TestLink_InHref(t *testing.T) {
	tmpl := template.Must(template.New("").Funcs(funcs).Parse(
		`<a href="{{link .Base "format" "csv" "after" ""}}">x</a><a href="{{link "/admin/tenants" "q" .Q "page" "2"}}">y</a>`))
	var buf bytes.Buffer
	require.NoError(t, tmpl.Execute(&buf, map[string]string{"Base": "/admin/tenants/t1/logs/export?status=409", "Q": "a&b"}))
	require.Equal(t, `<a href="/admin/tenants/t1/logs/export?format=csv&amp;status=409">x</a>`+
		`<a href="/admin/tenants?page=2&amp;q=a%26b">y</a>`, buf.String())
}

func TestParsePages(t *testing.T) {
	pages := parsePages()
	for _, name := range []string{"signin", "error", "tenants", "delete", "setup", "groups", "group", "users", "user", "policy", "version", "logs", "entry"} {
		require.Contains(t, pages, name)
	}
}
