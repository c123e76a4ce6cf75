// Command worker serves one tenant's SCIM directory as a go-plugin plugin.
// The control plane starts it ahead of need, hands it database credentials
// of its own and later binds it to one tenant, all over the plugin channel;
// stdout belongs to the plugin handshake, logs go to stderr as JSON.
package main

import (
	"fmt"
	"log/slog"
	"os"

	"golang.org/x/sys/unix"

	"github.com/scimplane/scimplane/plugins/scimworker"
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
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	w := app.NewWorker(log, app.Options{})
	defer w.Close()
	scimworker.Serve(w)
}
