package workerpool

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWorkerCredential: as root, workers run as the configured user,
// nobody by default, never root; otherwise as the control plane's own user,
// and asking for another is a clear error.
func TestWorkerCredential(t *testing.T) {
	root := os.Geteuid() == 0
	nobody, err := user.Lookup("nobody")
	require.NoError(t, err)
	nobodyIDs := []uint32{atou(t, nobody.Uid), atou(t, nobody.Gid)}
	daemon, err := user.Lookup("daemon")
	require.NoError(t, err)
	daemonIDs := []uint32{atou(t, daemon.Uid), atou(t, daemon.Gid)}
	notRoot := "needs the control plane to run as root"
	tests := []struct {
		name string
		spec string
		// asRoot and asUser: uid and gid, or nil for the control plane's
		// own user; an error when set.
		asRoot, asUser       []uint32
		errAsRoot, errAsUser string
	}{
		{name: "default", spec: "", asRoot: nobodyIDs},
		{name: "by name", spec: "daemon", asRoot: daemonIDs, errAsUser: notRoot},
		{name: "by numbers", spec: "64999:64998", asRoot: []uint32{64999, 64998}, errAsUser: notRoot},
		{name: "own user", spec: strconv.Itoa(os.Geteuid()) + ":" + strconv.Itoa(os.Getegid()), errAsRoot: "must run unprivileged"},
		{name: "root", spec: "0:0", errAsRoot: "must run unprivileged", errAsUser: "must run unprivileged"},
		{name: "root by name", spec: "root", errAsRoot: "must run unprivileged", errAsUser: "must run unprivileged"},
		{name: "root's group", spec: "64999:0", errAsRoot: "must run unprivileged", errAsUser: "must run unprivileged"},
		{name: "unknown name", spec: "no-such-user-here", errAsRoot: "unknown user", errAsUser: "unknown user"},
		{name: "not numbers", spec: "a:b", errAsRoot: "uid:gid in numbers", errAsUser: "uid:gid in numbers"},
		{name: "negative", spec: "-1:5", errAsRoot: "uid:gid in numbers", errAsUser: "uid:gid in numbers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, wantErr := tt.asUser, tt.errAsUser
			if root {
				want, wantErr = tt.asRoot, tt.errAsRoot
			}
			cred, err := WorkerCredential(tt.spec)
			if wantErr != "" {
				require.ErrorContains(t, err, wantErr)
				return
			}
			require.NoError(t, err)
			if want == nil {
				require.Nil(t, cred)
				return
			}
			require.Equal(t, want, []uint32{cred.Uid, cred.Gid})
			require.NotNil(t, cred.Groups, "supplementary groups are set, to none")
			require.Empty(t, cred.Groups)
		})
	}
}

func atou(t *testing.T, s string) uint32 {
	n, err := strconv.ParseUint(s, 10, 32)
	require.NoError(t, err)
	return uint32(n)
}

func TestCheckAccess(t *testing.T) {
	base := t.TempDir()
	require.NoError(t, os.Chmod(base, 0o755))
	require.NoError(t, os.Chmod(filepath.Dir(base), 0o755))
	mk := func(name string, mode os.FileMode, dir bool) string {
		p := filepath.Join(base, name)
		if dir {
			require.NoError(t, os.Mkdir(p, 0o700))
		} else {
			require.NoError(t, os.WriteFile(p, []byte("x"), 0o600))
		}
		require.NoError(t, os.Chmod(p, mode))
		return p
	}
	open := mk("open", 0o755, true)
	private := mk("private", 0o700, true)
	exe := mk("exe", 0o755, false)
	secret := mk("secret", 0o600, false)
	inPrivate := filepath.Join(private, "exe")
	require.NoError(t, os.WriteFile(inPrivate, []byte("x"), 0o755))
	other := &syscall.Credential{Uid: uint32(os.Geteuid()) + 4242, Gid: uint32(os.Getegid()) + 4242}
	owner := &syscall.Credential{Uid: uint32(os.Geteuid()), Gid: uint32(os.Getegid())}
	tests := []struct {
		name string
		cred *syscall.Credential
		path string
		want Access
		ok   bool
	}{
		{"own user always", nil, secret, Read, true},
		{"world-searchable dir", other, open, Search, true},
		{"private dir", other, private, Search, false},
		{"private dir of its owner", owner, private, Search, true},
		{"executable", other, exe, Exec, true},
		{"executable in a private dir", other, inPrivate, Exec, false},
		{"unreadable file", other, secret, Read, false},
		{"file its owner reads", owner, secret, Read, true},
		{"missing", other, filepath.Join(open, "missing"), Exec, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckAccess(tt.cred, tt.path, tt.want)
			if tt.ok {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}
}
