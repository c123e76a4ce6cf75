// Command clientexample shows the Go client (client/scimplane) at work
// against a running control plane, as a product's backend would use it:
// it lists a tenant's users with their permissions and its groups with
// their members, explains one permission, then follows the change feed.
//
//	SCIMPLANE_KEY=spk_... SCIMPLANE_TENANT=tnt_... go run ./cmd/clientexample -follow 30s
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/scimplane/scimplane/client/scimplane"
)

func main() {
	base := flag.String("url", envOr("SCIMPLANE_URL", "http://127.0.0.1:8080"), "the control plane's base URL")
	tenant := flag.String("tenant", os.Getenv("SCIMPLANE_TENANT"), "the tenant id (tnt_...)")
	permission := flag.String("explain", "forms.design", "the permission to explain for the first user")
	follow := flag.Duration("follow", 0, "follow the change feed this long (0: not at all)")
	from := flag.String("after", "", "the change feed cursor to follow from (empty: the beginning)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *base, os.Getenv("SCIMPLANE_KEY"), *tenant, *permission, *follow, *from); err != nil {
		fmt.Fprintln(os.Stderr, "clientexample:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, base, key, tenantID, permission string, follow time.Duration, after string) error {
	c, err := scimplane.New(base, key)
	if err != nil {
		return err
	}
	t := c.Tenant(tenantID)

	fmt.Println("Users:")
	var first string
	for u, err := range t.Users(ctx, scimplane.UsersQuery{}) {
		if err != nil {
			return err
		}
		if first == "" {
			first = u.ID
		}
		fmt.Printf("  %-24s active=%-5v %s\n", u.UserName, u.Active, strings.Join(u.Permissions, " "))
	}

	fmt.Println("Groups:")
	for g, err := range t.Groups(ctx, scimplane.GroupsQuery{}) {
		if err != nil {
			return err
		}
		var names []string
		for m, err := range t.Members(ctx, g.ID) {
			if err != nil {
				return err
			}
			names = append(names, m.UserName)
		}
		fmt.Printf("  %-24s sets=%s members=%s\n", g.DisplayName, strings.Join(g.Sets, ","), strings.Join(names, ","))
	}

	if first != "" {
		why, err := t.Explain(ctx, first, permission)
		if err != nil {
			return err
		}
		fmt.Printf("Explain %s for the first user: granted=%v", permission, why.Granted)
		for _, g := range why.Grants {
			fmt.Printf(" (rule %s, set %s, group %s)", g.Rule, g.Set, g.Group)
		}
		for _, r := range why.Reasons {
			fmt.Printf(" (%s)", r)
		}
		fmt.Println()
	}

	if follow <= 0 {
		return nil
	}
	fmt.Printf("Following the change feed for %v:\n", follow)
	ctx, cancel := context.WithTimeout(ctx, follow)
	defer cancel()
	err = t.Follow(ctx, after, func(_ context.Context, changes []scimplane.Change, next string) error {
		for _, ch := range changes {
			fmt.Printf("  #%d %s %-20s user=%s group=%s %s\n", ch.Seq, ch.At.Format(time.RFC3339), ch.Kind, ch.UserID, ch.GroupID, ch.Detail)
		}
		fmt.Printf("  (cursor %s)\n", next) // store it to resume from here
		return nil
	})
	if errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
