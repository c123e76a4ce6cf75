package httpapi

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/scimplane/scimplane/controlplane/internal/config"
	"github.com/scimplane/scimplane/plugins/scim"
)

const (
	// lingerTimeout and lingerMaxBytes bound how long and how much of an
	// unread body is drained after the answer, before the connection is
	// closed: closing with unread data makes the kernel send a reset,
	// which can destroy the answer before the client reads it.
	lingerTimeout  = 2 * time.Second
	lingerMaxBytes = 16 << 20
	// maxRefusing bounds the connections being answered "too many" at
	// once, each for at most refuseLinger; past it they are closed without
	// an answer.
	maxRefusing  = 64
	refuseLinger = 500 * time.Millisecond
)

// LimitListener caps the connections ln hands out: in total and per client
// address (see clientKey), as in. A connection past a cap is answered at
// once, without reading its request, with 503 (total) or 429 (per client),
// Retry-After and a SCIM error body (its route is not known yet; admin
// clients read it as JSON too), then closed. Handlers can ask for a
// lingering close (see lingerOnClose), which this listener carries out.
func LimitListener(ln net.Listener, in config.Ingress) net.Listener {
	return &limitListener{Listener: ln, total: in.MaxConns, perClient: in.MaxConnsPerClient,
		byClient: make(map[string]int), refusing: make(chan struct{}, maxRefusing)}
}

type limitListener struct {
	net.Listener
	total, perClient int
	refusing         chan struct{}

	mu       sync.Mutex
	open     int
	byClient map[string]int
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := clientKey(c.RemoteAddr())
		status := l.admit(key)
		if status == 0 {
			return &limitedConn{Conn: c, l: l, key: key}, nil
		}
		select {
		case l.refusing <- struct{}{}:
			go func() {
				defer func() { <-l.refusing }()
				refuse(c, status)
			}()
		default:
			c.Close()
		}
	}
}

// admit counts a new connection from key, or returns the status refusing
// it.
func (l *limitListener) admit(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.total > 0 && l.open >= l.total:
		return fiber.StatusServiceUnavailable
	case l.perClient > 0 && l.byClient[key] >= l.perClient:
		return fiber.StatusTooManyRequests
	}
	l.open++
	l.byClient[key]++
	return 0
}

func (l *limitListener) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.byClient[key]--; l.byClient[key] <= 0 {
		delete(l.byClient, key)
	}
}

// refuse answers a connection it did not admit and closes it.
func refuse(c net.Conn, status int) {
	msg := "too many connections from this address, retry later"
	if status == fiber.StatusServiceUnavailable {
		msg = "server at its connection limit, retry later"
	}
	body := scim.NewError(status, "", msg).Body()
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, err := fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nX-Request-Id: %s\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		status, http.StatusText(status), scim.MediaType, newRequestID(), len(body), body)
	if err != nil {
		c.Close()
		return
	}
	lingerClose(c, refuseLinger)
}

// limitedConn gives its slot back when closed.
type limitedConn struct {
	net.Conn
	l      *limitListener
	key    string
	linger atomic.Bool
	once   sync.Once
}

func (c *limitedConn) Close() error {
	var err error
	c.once.Do(func() {
		if c.linger.Load() {
			// The slot stays taken until the drain ends.
			go func() {
				lingerClose(c.Conn, lingerTimeout)
				c.l.release(c.key)
			}()
			return
		}
		err = c.Conn.Close()
		c.l.release(c.key)
	})
	return err
}

// lingerClose half-closes c, so the client sees the end of the answer,
// discards what it still sends for a while, then closes c.
func lingerClose(c net.Conn, timeout time.Duration) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	_, _ = io.CopyN(io.Discard, c, lingerMaxBytes)
	c.Close()
}

// lingerOnClose asks for c's connection to be closed after this answer,
// draining what the client still sends first (when LimitListener serves
// it). Handlers call it when they answer without reading the whole body.
func lingerOnClose(c *fiber.Ctx) {
	c.Context().SetConnectionClose()
	if lc, ok := c.Context().Conn().(*limitedConn); ok {
		lc.linger.Store(true)
	}
}

// clientKey is what per-client limits count by: the IPv4 address, or the
// /64 of an IPv6 address (one host usually holds a whole /64).
func clientKey(addr net.Addr) string {
	var ip netip.Addr
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		ap, err := netip.ParseAddrPort(addr.String())
		if err != nil {
			return addr.String()
		}
		ip = ap.Addr()
	}
	return ipKey(ip)
}

func ipKey(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// retryAfterSeconds renders d for a Retry-After header: whole seconds,
// rounded up, at least one.
func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(max(1, int((d+time.Second-1)/time.Second)))
}
