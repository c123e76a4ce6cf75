package config

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestREADME_DocumentsEveryVariable keeps the environment table in
// controlplane/README.md true: every variable FromEnv reads has a row, every
// row names a variable FromEnv reads, and a default written as a literal
// (`2m`) gives the same configuration when set explicitly as when unset.
func TestREADME_DocumentsEveryVariable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	row := regexp.MustCompile("(?m)^\\| `([A-Z_]+)` \\| ([^|]*) \\|")
	documented := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(readme), -1) {
		documented[m[1]] = strings.TrimSpace(m[2])
	}

	read := map[string]bool{}
	base := map[string]string{"SCIMPLANE_WORKER_BIN": "/bin/worker"}
	_, err = FromEnv(func(k string) string { read[k] = true; return base[k] })
	require.NoError(t, err)
	delete(read, "PATH")
	for name := range read {
		require.Contains(t, documented, name, "controlplane/README.md has no row for %s", name)
	}
	for name := range documented {
		require.True(t, read[name], "controlplane/README.md documents %s, which the control plane does not read", name)
	}

	want, err := FromEnv(env(base))
	require.NoError(t, err)
	literal := regexp.MustCompile("^`([^`]*)`$")
	checked := 0
	for name, def := range documented {
		m := literal.FindStringSubmatch(def)
		if m == nil || name == "SCIMPLANE_WORKER_BIN" {
			continue
		}
		set := map[string]string{name: m[1]}
		for k, v := range base {
			set[k] = v
		}
		got, err := FromEnv(env(set))
		require.NoError(t, err, "%s=%s", name, m[1])
		require.Equal(t, want, got, "the documented default of %s (%s) is not the default", name, m[1])
		checked++
	}
	require.Greater(t, checked, 20)
}
