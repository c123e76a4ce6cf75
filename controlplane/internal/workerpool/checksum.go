package workerpool

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"

	"github.com/hashicorp/go-plugin"
)

// binGuard makes sure every worker launched runs the executable the pool
// hashed on its first launch: one replaced or changed on disk while the
// control plane runs is refused with plugin.ErrChecksumsDoNotMatch
// (go-plugin's SecureConfig check).
//
// Hashing the ~50 MB binary costs about 100 ms of CPU, too much for every
// launch, so the file is hashed again only when its stamp (device, inode,
// size, modification and change times) differs from the one taken when it
// was hashed: a replacement is a new inode, and a write in place or a
// chmod moves the change time, which no user can set.
type binGuard struct {
	path string

	mu    sync.Mutex
	sum   []byte
	stamp fileStamp
}

type fileStamp struct {
	dev, ino     uint64
	size         int64
	mtime, ctime syscall.Timespec
}

func stampOf(path string) (fileStamp, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return fileStamp{}, fmt.Errorf("worker binary: %w", &os.PathError{Op: "stat", Path: path, Err: err})
	}
	return fileStamp{dev: st.Dev, ino: st.Ino, size: st.Size, mtime: st.Mtim, ctime: st.Ctim}, nil
}

// secureConfig returns what to hand go-plugin for one launch: nil when the
// binary is unchanged since it was hashed, else a SecureConfig holding the
// first hash, which go-plugin checks (and refuses) itself.
func (g *binGuard) secureConfig() (*plugin.SecureConfig, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	stamp, err := stampOf(g.path)
	if err != nil {
		return nil, err
	}
	if g.sum != nil && stamp == g.stamp {
		return nil, nil
	}
	sum, err := binChecksum(g.path)
	if err != nil {
		return nil, err
	}
	switch {
	case g.sum == nil:
		g.sum, g.stamp = sum, stamp
	case string(sum) == string(g.sum):
		g.stamp = stamp // touched, not changed
	default:
		return &plugin.SecureConfig{Checksum: g.sum, Hash: sha256.New()}, nil
	}
	return nil, nil
}

// binChecksum is the SHA-256 of the file at path.
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
