package workerpool

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBinGuard: an unchanged binary needs no check at launch; a touched one
// with the same bytes is hashed again and accepted; one changed in place or
// replaced gets go-plugin's check against the first hash.
func TestBinGuard(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "worker")
	require.NoError(t, os.WriteFile(bin, []byte("version 1"), 0o755))
	g := &binGuard{path: bin}

	sc, err := g.secureConfig()
	require.NoError(t, err)
	require.Nil(t, sc, "the first launch hashes the binary")
	first := g.sum
	sc, err = g.secureConfig()
	require.NoError(t, err)
	require.Nil(t, sc, "unchanged: no check")

	later := time.Now().Add(time.Minute)
	require.NoError(t, os.Chtimes(bin, later, later))
	sc, err = g.secureConfig()
	require.NoError(t, err)
	require.Nil(t, sc, "touched, same bytes")

	for name, change := range map[string]func(){
		"written in place": func() { require.NoError(t, os.WriteFile(bin, []byte("version 2"), 0o755)) },
		"replaced": func() {
			require.NoError(t, os.WriteFile(bin+".new", []byte("version 3"), 0o755))
			require.NoError(t, os.Rename(bin+".new", bin))
		},
	} {
		change()
		sc, err = g.secureConfig()
		require.NoError(t, err, name)
		require.NotNil(t, sc, name)
		require.Equal(t, first, sc.Checksum, name)
		ok, err := sc.Check(bin)
		require.NoError(t, err, name)
		require.False(t, ok, name)
	}

	require.NoError(t, os.Remove(bin))
	_, err = g.secureConfig()
	require.Error(t, err, "a missing binary is an error")
}
