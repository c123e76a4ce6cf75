package scimworker

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strconv"
	"sync"
	"time"
)

// The worker's session variables: its host's certificate (public) and the
// number of the inherited descriptor it writes its own certificate to.
const (
	EnvSessionCert = "SCIMPLANE_SESSION_CERT"
	EnvSessionFD   = "SCIMPLANE_SESSION_FD"
)

// sessionTimeout bounds the host's wait for the worker's certificate. The
// worker writes it before it announces its socket, and the host reads it
// only when it connects, so it is normally there already.
const sessionTimeout = 10 * time.Second

// Session is the mutual TLS of one worker's plugin channel, in place of
// go-plugin's AutoMTLS, whose P-521 keys took about a fifth of a worker
// start's CPU (a key and a certificate made on each side, and a P-521
// signature made and checked on each side of every handshake). Each side
// makes an Ed25519 key in its own process; only certificates travel: the
// host's in the worker's environment, the worker's back over a pipe the
// worker inherits. Each side accepts exactly the other's certificate, as
// client and as server (each also serves the other's broker connections),
// so only this worker reaches the host's socket and only this host the
// worker's.
type Session struct {
	// Host is the control plane's side, for plugin.ClientConfig.TLSConfig.
	Host *tls.Config

	hostDER []byte
	r, w    *os.File // the pipe the worker's certificate comes back on

	once      sync.Once
	workerDER []byte
	workerErr error
}

// NewSession makes the host's key and certificate and the pipe. The caller
// passes WorkerFile to the worker as descriptor 3 with Env, calls Started
// once the worker is started (or failed to), and Close when done.
func NewSession() (*Session, error) {
	own, err := selfSigned()
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("session pipe: %w", err)
	}
	s := &Session{hostDER: own.Certificate[0], r: r, w: w}
	s.Host = pinned(own, s.workerCert)
	return s, nil
}

// Env is the worker's session variables, its descriptor being number 3
// (the first of exec.Cmd.ExtraFiles).
func (s *Session) Env() []string {
	return []string{
		EnvSessionCert + "=" + base64.StdEncoding.EncodeToString(s.hostDER),
		EnvSessionFD + "=3",
	}
}

// WorkerFile is the pipe's write end, for exec.Cmd.ExtraFiles.
func (s *Session) WorkerFile() *os.File { return s.w }

// Started closes the host's copy of the worker's descriptor.
func (s *Session) Started() { _ = s.w.Close() }

// Close closes the pipe. The worker's certificate, once read, stays known.
func (s *Session) Close() {
	_ = s.w.Close()
	_ = s.r.Close()
}

// workerCert is the certificate the worker sent, read once.
func (s *Session) workerCert() ([]byte, error) {
	s.once.Do(func() {
		_ = s.r.SetReadDeadline(time.Now().Add(sessionTimeout))
		s.workerDER, s.workerErr = readCert(s.r)
		if s.workerErr != nil {
			s.workerErr = fmt.Errorf("worker's session certificate: %w", s.workerErr)
		}
	})
	return s.workerDER, s.workerErr
}

// sessionTLS is the worker's TLSProvider. It makes the worker's key, sends
// its certificate to the host and pins the host's. Without session
// variables it returns nil, and go-plugin's own negotiation applies.
func sessionTLS() (*tls.Config, error) {
	fd, cert := os.Getenv(EnvSessionFD), os.Getenv(EnvSessionCert)
	if fd == "" && cert == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(fd)
	if err != nil || n < 3 {
		return nil, fmt.Errorf("%s=%q is not an inherited descriptor", EnvSessionFD, fd)
	}
	hostDER, err := base64.StdEncoding.DecodeString(cert)
	if err == nil {
		_, err = x509.ParseCertificate(hostDER)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvSessionCert, err)
	}
	f := os.NewFile(uintptr(n), "session")
	defer f.Close()
	return workerTLS(f, hostDER)
}

// workerTLS makes the worker's key and certificate, writes the certificate
// to w and returns the worker's config, which accepts hostDER alone.
func workerTLS(w io.Writer, hostDER []byte) (*tls.Config, error) {
	own, err := selfSigned()
	if err != nil {
		return nil, err
	}
	line := base64.StdEncoding.EncodeToString(own.Certificate[0]) + "\n"
	if _, err := io.WriteString(w, line); err != nil {
		return nil, fmt.Errorf("send session certificate: %w", err)
	}
	return pinned(own, func() ([]byte, error) { return hostDER, nil }), nil
}

// readCert reads one base64 certificate line.
func readCert(r io.Reader) ([]byte, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 8<<10)).ReadString('\n')
	if err != nil {
		return nil, err
	}
	der, err := base64.StdEncoding.DecodeString(line[:len(line)-1])
	if err != nil {
		return nil, err
	}
	if _, err := x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	return der, nil
}

// errNotPeer refuses a certificate other than the session's.
var errNotPeer = errors.New("session: the peer's certificate is not this session's")

// pinned presents own and, as client and as server, accepts only the
// certificate peer returns. Chain verification is off because the peer's
// certificate is known exactly; TLS still checks that the peer holds its
// key (the handshake's signature), and VerifyPeerCertificate runs on both
// sides.
func pinned(own tls.Certificate, peer func() ([]byte, error)) *tls.Config {
	return &tls.Config{
		Certificates:       []tls.Certificate{own},
		InsecureSkipVerify: true, // replaced by the exact match below
		ClientAuth:         tls.RequireAnyClientCert,
		ServerName:         "localhost",
		MinVersion:         tls.VersionTLS13,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			want, err := peer()
			if err != nil {
				return err
			}
			if len(raw) != 1 || !bytes.Equal(raw[0], want) {
				return errNotPeer
			}
			return nil
		},
	}
}

// selfSigned makes an Ed25519 key and a self-signed certificate for it.
func selfSigned() (tls.Certificate, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("session key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("session key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.AddDate(10, 0, 0), // the pin is what counts
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("session certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
