package workerpool

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/go-plugin"
)

// binChecksum is the SHA-256 of the worker executable, read once (the
// first start). go-plugin hashes the file again before every launch and
// refuses to start it if it changed since (a worker binary replaced on
// disk while the control plane runs): plugin.ErrChecksumsDoNotMatch.
func binChecksum(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("worker binary: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("worker binary: %w", err)
	}
	return h.Sum(nil), nil
}

// secureConfig is a fresh check of sum for one launch: go-plugin writes
// the file into Hash, so it cannot be shared.
func secureConfig(sum []byte) *plugin.SecureConfig {
	return &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
}
