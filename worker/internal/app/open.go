package app

import (
	"context"
	"log/slog"
	"net/url"
	"time"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

// Config starts a worker directly on one database URL, for tests and
// benchmarks that run a worker in process.
type Config struct {
	TenantID string
	// DatabaseURL carries the credentials of a role that may act as the
	// tenant's role.
	DatabaseURL string
	BaseURL     string
	MaxConns    int
	// WebhookKey and WebhookAllowPrivate are the Binding's.
	WebhookKey          []byte
	WebhookAllowPrivate bool
	// Host is the control plane's side; nil grants every connection and
	// ignores wake-ups.
	Host    scimworker.Host
	Options Options
}

// Open prepares and binds a worker in one step, with no connection budget.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Worker, error) {
	u, err := url.Parse(cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	user := u.User.Username()
	password, _ := u.User.Password()
	u.User = nil
	w := NewWorker(log, cfg.Options)
	p := &scimworker.Prepare{DatabaseURL: u.String(), User: user, Password: password, MaxConns: max(cfg.MaxConns, 1)}
	var host scimworker.Host = unlimited{}
	if cfg.Host != nil {
		host = cfg.Host
	}
	if err := w.Prepare(ctx, p, host); err != nil {
		return nil, err
	}
	if _, err := w.Bind(ctx, &scimworker.Binding{TenantID: cfg.TenantID, BaseURL: cfg.BaseURL, MaxBodyBytes: 1 << 20,
		WebhookKey: cfg.WebhookKey, WebhookAllowPrivate: cfg.WebhookAllowPrivate}); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

// unlimited grants every connection.
type unlimited struct{}

func (unlimited) AcquireConn(context.Context, bool) error { return nil }
func (unlimited) ReleaseConn(context.Context) error       { return nil }

// ScheduleWake has nobody to wake: the worker runs until closed.
func (unlimited) ScheduleWake(context.Context, time.Time) error { return nil }
