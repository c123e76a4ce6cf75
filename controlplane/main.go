// Command controlplane serves scimplane's SCIM ingress and admin API and
// supervises one worker process per active tenant.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"go.opentelemetry.io/otel"
	"golang.org/x/sys/unix"

	"github.com/scimplane/scimplane/controlplane/app"
	"github.com/scimplane/scimplane/controlplane/internal/config"
	"github.com/scimplane/scimplane/controlplane/internal/logctx"
)

func main() {
	// No other process of this OS user (workers, when they share it) may
	// read this one's memory or /proc/PID/environ: they hold the operator
	// key, the database's credentials and the server secret.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "controlplane: make non-dumpable:", err)
		os.Exit(1)
	}
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "controlplane: config:", err)
		os.Exit(2)
	}
	log := slog.New(logctx.NewHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel})))
	slog.SetDefault(log)
	// Span export failures (a collector down) are logged like the rest.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("tracing", "err", err) }))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Once the first signal starts the drain, a second one ends the
	// process at once.
	go func() {
		<-ctx.Done()
		stop()
	}()
	if err := app.Run(ctx, cfg); err != nil {
		log.Error("control plane stopped", "err", err)
		os.Exit(1)
	}
}
