// Command worker serves one tenant's SCIM directory as a go-plugin plugin.
// The control plane starts it with the tenant id and a database URL for the
// tenant's own role; stdout belongs to the plugin handshake, logs go to
// stderr as JSON.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/worker/internal/app"
)

func main() {
	level := slog.LevelInfo
	_ = level.UnmarshalText([]byte(os.Getenv(scimworker.EnvLogLevel)))
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cfg := app.Config{
		TenantID:    os.Getenv(scimworker.EnvTenantID),
		DatabaseURL: os.Getenv(scimworker.EnvDatabaseURL),
	}
	w, err := app.New(context.Background(), cfg, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
	defer w.Close()
	scimworker.Serve(w)
}
