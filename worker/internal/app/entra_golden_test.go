package app

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A golden step is one request Entra sends and the parts of our answer it
// depends on. In expected bodies "*" matches any present value, "$absent"
// requires the key to be missing and "$save:name" captures a value that
// later steps use as ${name} in paths, queries, bodies and expectations.
type goldenStep struct {
	Name     string          `json:"name"`
	Method   string          `json:"method"`
	Path     string          `json:"path"`
	Query    string          `json:"query"`
	Body     json.RawMessage `json:"body"`
	Status   int             `json:"status"`
	Response json.RawMessage `json:"response"`
	Headers  map[string]string
}

// TestEntraSequences replays Entra's documented call sequences (spec
// entra-scim.md B3-B26, B33, B34) from testdata/entra/*.json against a worker
// on a real PostgreSQL.
func TestEntraSequences(t *testing.T) {
	files, err := filepath.Glob("testdata/entra/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(file)
			require.NoError(t, err)
			var steps []goldenStep
			require.NoError(t, json.Unmarshal(raw, &steps))
			w := newTestWorker(t)
			vars := map[string]string{}
			for i, st := range steps {
				body := ""
				if len(st.Body) > 0 {
					body = expand(string(st.Body), vars)
				}
				status, out, reply := do(t, w, st.Method, expand(st.Path, vars), expand(st.Query, vars), body)
				where := fmt.Sprintf("step %d (%s): %s %s?%s", i+1, st.Name, st.Method, st.Path, st.Query)
				require.Equal(t, st.Status, status, "%s\nresponse: %s", where, reply.Body)
				if len(reply.Body) > 0 {
					require.Equal(t, "application/scim+json", header(reply).Get("Content-Type"), where)
				}
				if len(st.Response) > 0 {
					var want any
					require.NoError(t, json.Unmarshal(st.Response, &want), where)
					capture(want, any(out), vars)
					matchJSON(t, where, "$", want, any(out), vars)
				}
				for h, v := range st.Headers {
					require.Equal(t, expand(v, vars), header(reply).Get(h), "%s header %s", where, h)
				}
			}
		})
	}
}

func expand(s string, vars map[string]string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	for _, k := range keys {
		s = strings.ReplaceAll(s, "${"+k+"}", vars[k])
	}
	return s
}

func matchJSON(t *testing.T, where, path string, want, got any, vars map[string]string) {
	t.Helper()
	if s, ok := want.(string); ok {
		switch {
		case s == "*":
			require.NotNil(t, got, "%s: %s must be present", where, path)
			return
		case strings.HasPrefix(s, "$save:"):
			_, ok := got.(string)
			require.True(t, ok, "%s: %s must be a string to save, got %v", where, path, got)
			return
		}
		want = expand(s, vars)
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		require.True(t, ok, "%s: %s must be an object, got %v", where, path, got)
		for k, wv := range w {
			if wv == "$absent" {
				_, present := g[k]
				require.False(t, present, "%s: %s.%s must be absent, got %v", where, path, k, g[k])
				continue
			}
			gv, present := g[k]
			require.True(t, present, "%s: %s.%s missing in %v", where, path, k, g)
			matchJSON(t, where, path+"."+k, wv, gv, vars)
		}
	case []any:
		g, ok := got.([]any)
		require.True(t, ok, "%s: %s must be an array, got %v", where, path, got)
		require.Len(t, g, len(w), "%s: %s length (got %v)", where, path, g)
		for i := range w {
			matchJSON(t, where, fmt.Sprintf("%s[%d]", path, i), w[i], g[i], vars)
		}
	default:
		require.Equal(t, want, got, "%s: %s", where, path)
	}
}

// capture records the "$save:name" values of got before matching, so an
// expectation may use a value saved elsewhere in the same response.
func capture(want, got any, vars map[string]string) {
	switch w := want.(type) {
	case string:
		if name, ok := strings.CutPrefix(w, "$save:"); ok {
			if s, ok := got.(string); ok {
				vars[name] = s
			}
		}
	case map[string]any:
		if g, ok := got.(map[string]any); ok {
			for k, wv := range w {
				capture(wv, g[k], vars)
			}
		}
	case []any:
		if g, ok := got.([]any); ok {
			for i := range w {
				if i < len(g) {
					capture(w[i], g[i], vars)
				}
			}
		}
	}
}
