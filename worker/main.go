// Command worker serves one tenant's SCIM directory as a go-plugin plugin.
// The control plane starts it ahead of need, hands it database credentials
// of its own and later binds it to one tenant, all over the plugin channel;
// stdout belongs to the plugin handshake, logs go to stderr as JSON.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"go.opentelemetry.io/otel"
	"golang.org/x/sys/unix"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/plugins/tracing"
	"github.com/scimplane/scimplane/worker/internal/app"
	"github.com/scimplane/scimplane/worker/internal/policy"
)

func main() {
	// Re-executed by a worker to check a candidate policy under rlimits.
	if len(os.Args) == 2 && os.Args[1] == policy.SandboxArg {
		os.Exit(policy.SandboxMain(os.Stdin, os.Stdout))
	}
	// Other processes of the same user (other tenants' workers) must not
	// read this one's memory, where its credentials live.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "worker: make non-dumpable:", err)
		os.Exit(1)
	}
	level := slog.LevelInfo
	_ = level.UnmarshalText([]byte(os.Getenv(scimworker.EnvLogLevel)))
	log := slog.New(tracing.NewLogHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
	// Export failures (a collector down) are logged like the rest.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("tracing", "err", err) }))
	var opts app.Options
	var serve []scimworker.ServeOption
	// The control plane passes its OTEL_* settings on (docs/tracing.md).
	settings, err := tracing.FromEnv(os.Getenv)
	if err != nil {
		log.Error("tracing off: bad settings", "err", err)
	} else if settings != nil {
		p, err := tracing.New(settings, tracing.ServiceWorker)
		if err != nil {
			log.Error("tracing off", "err", err)
		} else {
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				_ = p.Shutdown(ctx)
			}()
			opts.Tracing = p
			serve = append(serve, scimworker.WithTracerProvider(p.TracerProvider()))
		}
	}
	w := app.NewWorker(log, opts)
	defer w.Close()
	scimworker.Serve(w, serve...)
}
