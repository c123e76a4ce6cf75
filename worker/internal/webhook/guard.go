package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrForbiddenAddress is an address webhooks may not reach.
var ErrForbiddenAddress = errors.New("address not allowed for webhooks")

// blocked are the ranges a webhook may not reach unless private addresses
// are allowed: besides what netip classifies (loopback, private, link-local,
// multicast, unspecified), CGNAT, "this network", benchmarking, reserved and
// IPv4-mapped or NAT64 forms of them.
var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // CGNAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("100::/64"),
	netip.MustParsePrefix("2001::/32"), // Teredo
	netip.MustParsePrefix("2002::/16"), // 6to4
}

// AllowedAddr reports whether a webhook may connect to ip.
func AllowedAddr(ip netip.Addr, allowPrivate bool) bool {
	if allowPrivate {
		return true
	}
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range blocked {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// CheckURL validates a webhook URL at registration: http or https, a
// host, no credentials, and, unless private addresses are allowed, a host
// that is not and does not resolve to a forbidden address. The dialer
// checks again at every connection (DNS may change).
func CheckURL(ctx context.Context, raw string, allowPrivate bool, resolver *net.Resolver) error {
	if len(raw) > 2048 {
		return errors.New("url is longer than 2048 characters")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("url does not parse")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("url must be http or https")
	}
	if u.User != nil {
		return errors.New("url must not carry credentials")
	}
	host := u.Hostname()
	if host == "" {
		return errors.New("url has no host")
	}
	if allowPrivate {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if !AllowedAddr(ip, false) {
			return fmt.Errorf("url host %s: %w", host, ErrForbiddenAddress)
		}
		return nil
	}
	if h := strings.ToLower(strings.TrimSuffix(host, ".")); h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return fmt.Errorf("url host %s: %w", host, ErrForbiddenAddress)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("url host %s does not resolve", host)
	}
	for _, ip := range addrs {
		if !AllowedAddr(ip, false) {
			return fmt.Errorf("url host %s resolves to %s: %w", host, ip, ErrForbiddenAddress)
		}
	}
	return nil
}

// Dialer returns a dialer that refuses forbidden addresses after DNS
// resolution, at connection time, so that a name that resolved to a public
// address at registration cannot be pointed at a private one later.
func Dialer(allowPrivate bool, timeout time.Duration) *net.Dialer {
	return &net.Dialer{
		Timeout: timeout,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("dial %s: %w", address, ErrForbiddenAddress)
			}
			if !AllowedAddr(ap.Addr(), allowPrivate) {
				return fmt.Errorf("dial %s: %w", ap.Addr(), ErrForbiddenAddress)
			}
			return nil
		},
	}
}
