// Command entrasim plays Microsoft Entra ID's provisioning service against a
// SCIM Tenant URL: an initial cycle for a generated directory, an incremental
// cycle with updates, disables, membership removals and deletes, then a read
// back of the end state. It prints each phase's duration and the traffic.
//
//	entrasim -url http://127.0.0.1:8080/scim/<tenant>/v2 -token <secret> -users 300 -groups 20
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/scimplane/scimplane/tests/entrasim"
)

type options struct {
	tenantURL, token, dialect, domain string
	users, groups, concurrency        int
	seed                              uint64
	retryFor                          time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.tenantURL, "url", "", "Tenant URL (SCIM base), e.g. http://127.0.0.1:8080/scim/<tenant>/v2")
	flag.StringVar(&o.token, "token", "", "Secret Token (bearer)")
	flag.IntVar(&o.users, "users", 100, "users in the generated directory")
	flag.IntVar(&o.groups, "groups", 10, "groups in the generated directory")
	flag.StringVar(&o.dialect, "dialect", "legacy", "PATCH dialect: legacy, or flag (?aadOptscim062020)")
	flag.IntVar(&o.concurrency, "concurrency", 8, "requests in flight")
	flag.StringVar(&o.domain, "domain", "contoso.test", "domain of the generated userNames")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the generated directory")
	flag.DurationVar(&o.retryFor, "retry-for", 2*time.Minute, "how long to keep retrying one request on 429, 503 and connection errors")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "entrasim:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.tenantURL == "" || o.token == "" {
		return fmt.Errorf("-url and -token are required")
	}
	d, err := entrasim.ParseDialect(o.dialect)
	if err != nil {
		return err
	}
	client, err := entrasim.NewClient(o.tenantURL, o.token, o.retryFor)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	sim := entrasim.New(client, entrasim.Generate(o.seed, o.domain, o.users, o.groups), d, o.concurrency)
	phases := []struct {
		name string
		run  func(context.Context) error
	}{
		{"initial cycle", sim.Initial},
		{"incremental cycle", func(ctx context.Context) error { sim.Dir.Evolve(); return sim.Incremental(ctx) }},
		{"verify", sim.Verify},
	}
	for _, p := range phases {
		start := time.Now()
		err := p.run(ctx)
		fmt.Printf("%-18s %8s  %s\n", p.name, time.Since(start).Round(time.Millisecond), client.Stats())
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
	}
	return nil
}
