package scimworker

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// handshake runs a TLS handshake between a client and a server config over
// a socket pair and returns the client's and the server's errors.
func handshake(t *testing.T, client, server *tls.Config) (clientErr, serverErr error) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	require.NoError(t, err)
	conn := func(fd int) net.Conn {
		f := os.NewFile(uintptr(fd), "socketpair")
		defer f.Close()
		c, err := net.FileConn(f)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	c, s := conn(fds[0]), conn(fds[1])
	done := make(chan error, 1)
	go func() {
		err := tls.Server(s, server).Handshake()
		if err != nil {
			_ = s.Close() // unblock a client waiting on a refused handshake
		}
		done <- err
	}()
	if clientErr = tls.Client(c, client).Handshake(); clientErr != nil {
		_ = c.Close()
	}
	return clientErr, <-done
}

// newSession returns a host's session and its worker's config, made as the
// worker makes it: from the session's variables and descriptor.
func newSession(t *testing.T) (*Session, *tls.Config) {
	t.Helper()
	s, err := NewSession()
	require.NoError(t, err)
	t.Cleanup(s.Close)
	fd, err := syscall.Dup(int(s.WorkerFile().Fd()))
	require.NoError(t, err)
	s.Started()
	for _, kv := range s.Env() {
		name, value, _ := strings.Cut(kv, "=")
		if name == EnvSessionFD {
			require.Equal(t, "3", value)
			value = strconv.Itoa(fd) // the test's copy of descriptor 3
		}
		t.Setenv(name, value)
	}
	worker, err := sessionTLS()
	require.NoError(t, err)
	require.NotNil(t, worker)
	return s, worker
}

func TestSession_MutualTLS(t *testing.T) {
	s, worker := newSession(t)
	other, stranger := newSession(t)
	// Presents this session's certificates without their keys.
	hostDER := s.Host.Certificates[0].Certificate[0]
	_, wrongKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	forgedHost := s.Host.Clone()
	forgedHost.Certificates = []tls.Certificate{{Certificate: [][]byte{hostDER}, PrivateKey: wrongKey}}
	forgedWorker := worker.Clone()
	forgedWorker.Certificates = []tls.Certificate{{Certificate: worker.Certificates[0].Certificate, PrivateKey: wrongKey}}
	anonymous := s.Host.Clone()
	anonymous.Certificates = nil

	// refusedBy is the side that must refuse ("" for none): in TLS 1.3 the
	// client checks the server's certificate first.
	tests := []struct {
		name           string
		client, server *tls.Config
		refusedBy      string
	}{
		{"host dials its worker", s.Host, worker, ""},
		{"worker calls its host back", worker, s.Host, ""},
		{"the worker refuses another session's host", other.Host, worker, "server"},
		{"the worker refuses to call another session's host", worker, other.Host, "client"},
		{"the host refuses another session's worker calling", stranger, s.Host, "server"},
		{"the host refuses to dial another session's worker", s.Host, stranger, "client"},
		{"the host's certificate without its key", forgedHost, worker, "server"},
		{"the worker's certificate without its key", forgedWorker, s.Host, "server"},
		{"a client without a certificate", anonymous, worker, "server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cerr, serr := handshake(t, tt.client, tt.server)
			switch tt.refusedBy {
			case "":
				require.NoError(t, cerr)
				require.NoError(t, serr)
			case "client":
				require.ErrorIs(t, cerr, errNotPeer)
			case "server":
				require.Error(t, serr)
			}
		})
	}
}

func TestSessionTLS_Variables(t *testing.T) {
	s, err := NewSession()
	require.NoError(t, err)
	defer s.Close()
	cert := base64.StdEncoding.EncodeToString(s.hostDER)

	t.Setenv(EnvSessionFD, "")
	t.Setenv(EnvSessionCert, "")
	cfg, err := sessionTLS()
	require.NoError(t, err)
	require.Nil(t, cfg, "without a session go-plugin's own negotiation applies")

	tests := []struct{ name, fd, cert string }{
		{"not a number", "x", cert},
		{"stdout", "1", cert},
		{"negative", "-3", cert},
		{"no certificate", "3", ""},
		{"not base64", "3", "%%%"},
		{"not a certificate", "3", base64.StdEncoding.EncodeToString([]byte("hello"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvSessionFD, tt.fd)
			t.Setenv(EnvSessionCert, tt.cert)
			_, err := sessionTLS()
			require.Error(t, err)
		})
	}
}

func TestSession_WorkerCertificateMissingOrBad(t *testing.T) {
	tests := []struct{ name, sent string }{
		{"the worker exits without sending it", ""},
		{"not base64", "%%%\n"},
		{"not a certificate", base64.StdEncoding.EncodeToString([]byte("hello")) + "\n"},
		{"no line end", base64.StdEncoding.EncodeToString([]byte("hello"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSession()
			require.NoError(t, err)
			defer s.Close()
			_, err = s.WorkerFile().WriteString(tt.sent)
			require.NoError(t, err)
			s.Started()
			_, worker := newSession(t) // a valid worker, of another session
			cerr, _ := handshake(t, s.Host, worker)
			require.Error(t, cerr)
		})
	}
}

// The worker's end of the pipe is inherited across exec: a helper process
// sends its certificate as a worker does.
func TestSession_OverAnInheritedDescriptor(t *testing.T) {
	if os.Getenv("SESSION_HELPER") == "1" {
		cfg, err := sessionTLS()
		if err != nil || cfg == nil {
			os.Exit(3)
		}
		os.Exit(0)
	}
	s, err := NewSession()
	require.NoError(t, err)
	defer s.Close()
	exe, err := os.Executable()
	require.NoError(t, err)
	attr := &os.ProcAttr{
		Env:   append(s.Env(), "SESSION_HELPER=1"),
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr, s.WorkerFile()},
	}
	proc, err := os.StartProcess(exe, []string{exe, "-test.run=^TestSession_OverAnInheritedDescriptor$"}, attr)
	require.NoError(t, err)
	s.Started()
	state, err := proc.Wait()
	require.NoError(t, err)
	require.Equal(t, 0, state.ExitCode())
	der, err := s.workerCert()
	require.NoError(t, err)
	require.NotEmpty(t, der)
}
