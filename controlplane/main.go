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

	"github.com/scimplane/scimplane/controlplane/app"
	"github.com/scimplane/scimplane/controlplane/internal/config"
	"github.com/scimplane/scimplane/controlplane/internal/logctx"
)

func main() {
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "controlplane: config:", err)
		os.Exit(2)
	}
	log := slog.New(logctx.NewHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel})))
	slog.SetDefault(log)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, cfg); err != nil {
		log.Error("control plane stopped", "err", err)
		os.Exit(1)
	}
}
