package workerpool

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// DefaultWorkerUser is who workers run as when the control plane runs as
// root and no user is configured.
const DefaultWorkerUser = "nobody"

// WorkerCredential resolves the OS user workers run as: spec is a user
// name (its primary group) or "uid:gid"; empty means DefaultWorkerUser when
// the control plane runs as root and the control plane's own user
// otherwise. A nil credential means the control plane's own user. Workers
// never run as root or in its group, and get no supplementary groups.
func WorkerCredential(spec string) (*syscall.Credential, error) {
	euid, egid := os.Geteuid(), os.Getegid()
	if spec == "" {
		if euid != 0 {
			return nil, nil
		}
		spec = DefaultWorkerUser
	}
	uid, gid, err := lookupUser(spec)
	if err != nil {
		return nil, err
	}
	if uid == 0 || gid == 0 {
		return nil, fmt.Errorf("worker user %q is root or in its group: workers must run unprivileged", spec)
	}
	if euid != 0 {
		if uid == euid && gid == egid {
			return nil, nil
		}
		return nil, fmt.Errorf("worker user %q differs from the control plane's (uid %d): running workers as another user needs the control plane to run as root", spec, euid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

func lookupUser(spec string) (uid, gid int, err error) {
	if u, g, ok := strings.Cut(spec, ":"); ok {
		uid, err1 := strconv.ParseUint(u, 10, 31)
		gid, err2 := strconv.ParseUint(g, 10, 31)
		if err1 != nil || err2 != nil {
			return 0, 0, fmt.Errorf("worker user %q: want a user name or uid:gid in numbers", spec)
		}
		return int(uid), int(gid), nil
	}
	u, err := user.Lookup(spec)
	if err != nil {
		return 0, 0, fmt.Errorf("worker user: %w", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("worker user %q has a non-numeric uid or gid", spec)
	}
	return uid, gid, nil
}

// CheckAccess reports whether a process running as cred can search every
// directory above path and search, execute or read path itself. A nil cred
// (the control plane's own user) always can. It reads permission bits
// only: ACLs and security modules may still refuse.
func CheckAccess(cred *syscall.Credential, path string, want Access) error {
	if cred == nil {
		return nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
		if err := permits(cred, dir, 0o1); err != nil {
			return err
		}
		if dir == "/" {
			break
		}
	}
	bits := fs.FileMode(0o1)
	if want == Read {
		bits = 0o4
	}
	return permits(cred, abs, bits)
}

// Access is what CheckAccess checks on the path itself.
type Access int

const (
	// Search: a directory to be entered.
	Search Access = iota
	// Exec: a program to be run (Go binaries need not be readable).
	Exec
	// Read: a file to be read.
	Read
)

// permits checks one of the owner/group/other bit triples against bits (4
// read, 2 write, 1 search or execute).
func permits(cred *syscall.Credential, path string, bits fs.FileMode) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return errors.New("no ownership information")
	}
	mode := fi.Mode().Perm()
	var have fs.FileMode
	switch {
	case st.Uid == cred.Uid:
		have = mode >> 6
	case st.Gid == cred.Gid:
		have = mode >> 3
	default:
		have = mode
	}
	if have&bits != bits {
		return fmt.Errorf("%s (%v, uid %d, gid %d) is out of reach of workers running as uid %d, gid %d", path, mode, st.Uid, st.Gid, cred.Uid, cred.Gid)
	}
	return nil
}
