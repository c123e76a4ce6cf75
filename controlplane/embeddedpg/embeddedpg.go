// Package embeddedpg runs the control plane's default PostgreSQL: a private
// server from the machine's PostgreSQL binaries in a data directory,
// listening on loopback with password authentication and durable settings.
// The tests' private server (tests/pgtest) is started by it too, without
// durability, which is why it sits outside controlplane/internal.
package embeddedpg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Superuser is the name of the embedded server's superuser.
const Superuser = "postgres"

// Params configures the embedded server.
type Params struct {
	BinDir string // holds initdb and postgres
	Dir    string // data directory; created and initialised if empty
	// Password of the superuser, set at initdb time and checked on every
	// TCP connection (scram-sha-256).
	Password string
	Port     int // 0 picks a free port
	// MaxConnections sizes the server for many workers.
	MaxConnections int
	// SocketDir holds the server's Unix socket, which clients on this
	// machine use rather than loopback TCP. It is the server's own
	// directory, which only its OS user can enter, unless SocketGroup (a
	// gid other than root's) names the group of other OS users that must
	// reach it (workers): it is then the server's, in that group, mode
	// 0750. Empty, or a socket path too long for the kernel, leaves TCP
	// only.
	SocketDir   string
	SocketGroup int
	// NoSync trades durability for speed, for tests: initdb does not wait
	// for the disk and the server runs with fsync, synchronous commits and
	// full page writes off.
	NoSync bool
}

// Server is a running embedded PostgreSQL.
type Server struct {
	cmd       *exec.Cmd
	done      chan error
	url       string
	tcpURL    string
	socketDir string
}

// Start initialises Dir if needed and starts postgres, waiting until it
// accepts connections. As root, it runs postgres as the postgres OS user.
func Start(ctx context.Context, p Params) (*Server, error) {
	cred, err := unprivileged()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create postgres dir: %w", err)
	}
	if cred != nil {
		if err := os.Chown(p.Dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("chown postgres dir: %w", err)
		}
	}
	if _, err := os.Stat(filepath.Join(p.Dir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := initdb(p, cred); err != nil {
			return nil, err
		}
	}
	port := p.Port
	if port == 0 {
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	maxConns := p.MaxConnections
	if maxConns == 0 {
		maxConns = 300
	}
	// Clients on this machine (the control plane, its workers) connect over
	// a Unix socket, which costs less per round trip than loopback TCP; TCP
	// stays for tools.
	socketDir, err := prepareSocketDir(p, cred)
	if err != nil {
		return nil, err
	}
	durable := "on"
	if p.NoSync {
		durable = "off"
	}
	cmd := exec.Command(filepath.Join(p.BinDir, "postgres"), "-D", p.Dir, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+socketDir,
		"-c", "max_connections="+strconv.Itoa(maxConns),
		"-c", "fsync="+durable, "-c", "synchronous_commit="+durable, "-c", "full_page_writes="+durable,
		"-c", "logging_collector=off")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGTERM, Setpgid: true}
	logf, err := os.OpenFile(filepath.Join(p.Dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open postgres log: %w", err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	s := &Server{cmd: cmd, done: make(chan error, 1), socketDir: socketDir}
	go func() { s.done <- cmd.Wait() }()
	u := url.URL{Scheme: "postgres", User: url.UserPassword(Superuser, p.Password),
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Path: "/postgres", RawQuery: "sslmode=disable"}
	s.tcpURL = u.String()
	if socketDir != "" {
		u.RawQuery = url.Values{"host": {socketDir}, "sslmode": {"disable"}}.Encode()
	}
	s.url = u.String()
	if err := s.waitReady(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// URL is a superuser connection URL for the server's postgres database,
// over its Unix socket when it has one.
func (s *Server) URL() string { return s.url }

// TCPURL is URL over loopback TCP.
func (s *Server) TCPURL() string { return s.tcpURL }

// SocketDir is the directory of the server's Unix socket, or "" if it
// listens on TCP only.
func (s *Server) SocketDir() string { return s.socketDir }

// prepareSocketDir makes the socket directory the server's (cred, when the
// server runs as another user), reachable by SocketGroup if set, and
// returns its absolute path; or "" for TCP only.
func prepareSocketDir(p Params, cred *syscall.Credential) (string, error) {
	if p.SocketDir == "" {
		return "", nil
	}
	dir, err := filepath.Abs(p.SocketDir)
	if err != nil || len(dir)+len("/.s.PGSQL.65535") >= 100 {
		return "", nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create postgres socket dir: %w", err)
	}
	uid, gid := os.Getuid(), os.Getgid()
	if cred != nil {
		uid, gid = int(cred.Uid), int(cred.Gid)
	}
	mode := os.FileMode(0o700)
	if p.SocketGroup > 0 {
		gid, mode = p.SocketGroup, 0o750
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		return "", fmt.Errorf("chown postgres socket dir: %w", err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		return "", fmt.Errorf("chmod postgres socket dir: %w", err)
	}
	return dir, nil
}

// Stop shuts the server down (fast mode: rolls back open transactions,
// checkpoints) and waits for it, killing it after 30 seconds.
func (s *Server) Stop() {
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var lastErr error
	for {
		c, err := pgx.Connect(ctx, s.url)
		if err == nil {
			return c.Close(ctx)
		}
		lastErr = err
		select {
		case err := <-s.done:
			return fmt.Errorf("postgres exited (see postgres.log in its data dir): %v", err)
		case <-ctx.Done():
			return fmt.Errorf("postgres not ready: %w", lastErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func initdb(p Params, cred *syscall.Credential) error {
	// initdb wants an empty directory, so the password file sits beside it.
	pwfile := filepath.Join(filepath.Dir(p.Dir), ".postgres-pwfile")
	if err := os.WriteFile(pwfile, []byte(p.Password+"\n"), 0o600); err != nil {
		return fmt.Errorf("write pwfile: %w", err)
	}
	defer os.Remove(pwfile)
	if cred != nil {
		if err := os.Chown(pwfile, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("chown pwfile: %w", err)
		}
	}
	args := []string{"-D", p.Dir, "-U", Superuser, "--auth=scram-sha-256", "--pwfile=" + pwfile, "-E", "UTF8", "--locale=C"}
	if p.NoSync {
		args = append(args, "--no-sync")
	}
	cmd := exec.Command(filepath.Join(p.BinDir, "initdb"), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		if cred != nil {
			return fmt.Errorf("initdb as the postgres OS user (it must be able to traverse every directory above %s): %v: %s", p.Dir, err, out)
		}
		return fmt.Errorf("initdb: %v: %s", err, out)
	}
	return nil
}

// unprivileged returns the postgres OS user's credentials when running as
// root (postgres refuses to run as root), else nil.
func unprivileged() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs a postgres OS user for the embedded database: %w", err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return nil, fmt.Errorf("postgres uid: %w", err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return nil, fmt.Errorf("postgres gid: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
