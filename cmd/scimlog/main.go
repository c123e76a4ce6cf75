// Command scimlog prints one tenant's SCIM log from the admin API and, with
// -f, follows it live, for support staff who prefer a terminal.
//
//	SCIMPLANE_API_KEY=spk_... scimlog -tenant tnt_... -f -status 4xx
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"time"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:8080", "control plane base URL")
	tenantID := flag.String("tenant", "", "tenant id (required)")
	follow := flag.Bool("f", false, "follow the log")
	n := flag.Int("n", 20, "entries to show first")
	every := flag.Duration("every", 2*time.Second, "poll interval with -f")
	filters := map[string]*string{}
	for _, name := range []string{"status", "method", "resource_type", "user", "request_id", "q"} {
		filters[name] = flag.String(name, "", "filter: "+name)
	}
	flag.Parse()
	key := os.Getenv("SCIMPLANE_API_KEY")
	if *tenantID == "" || key == "" {
		fmt.Fprintln(os.Stderr, "scimlog: -tenant and SCIMPLANE_API_KEY are required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	c := &client{base: *base, key: key, tenant: *tenantID, http: &http.Client{Timeout: 30 * time.Second}}
	q := url.Values{}
	for name, v := range filters {
		if *v != "" {
			q.Set(name, *v)
		}
	}
	if err := run(ctx, c, q, *n, *follow, *every, os.Stdout); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "scimlog:", err)
		os.Exit(1)
	}
}

// run prints the newest n entries oldest first, then, following, every entry
// newer than the last one printed.
func run(ctx context.Context, c *client, q url.Values, n int, follow bool, every time.Duration, out io.Writer) error {
	q.Set("limit", strconv.Itoa(n))
	p, err := c.logs(ctx, q)
	if err != nil {
		return err
	}
	slices.Reverse(p.Entries)
	var last time.Time
	seen := map[int64]bool{}
	show := func(es []scimworker.LogEntry) {
		for _, e := range es {
			if seen[e.ID] {
				continue
			}
			if e.At.After(last) {
				last, seen = e.At, map[int64]bool{}
			}
			seen[e.ID] = true
			fmt.Fprintln(out, format(e))
		}
	}
	show(p.Entries)
	for follow {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
		q.Set("limit", "500")
		if !last.IsZero() {
			q.Set("from", last.Format(time.RFC3339Nano))
		}
		p, err := c.logs(ctx, q)
		if err != nil {
			fmt.Fprintln(os.Stderr, "scimlog:", err)
			continue
		}
		slices.Reverse(p.Entries)
		show(p.Entries)
	}
	return nil
}

func format(e scimworker.LogEntry) string {
	line := fmt.Sprintf("%s %d %-6s %s %s (%.1f ms)", e.At.Local().Format("2006-01-02 15:04:05.000"), e.Status, e.Method, e.Path,
		e.RequestID, float64(e.LatencyUS)/1000)
	if e.Summary != "" {
		line += "  " + e.Summary
	}
	if e.Status >= 400 {
		line += fmt.Sprintf("  [%s] %s", e.ScimType, e.Detail)
	}
	return line
}

type client struct {
	base, key, tenant string
	http              *http.Client
}

func (c *client) logs(ctx context.Context, q url.Values) (*scimworker.LogPage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/api/v1/tenants/"+url.PathEscape(c.tenant)+"/logs?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, body)
	}
	var p scimworker.LogPage
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("decode log page: %w", err)
	}
	return &p, nil
}
