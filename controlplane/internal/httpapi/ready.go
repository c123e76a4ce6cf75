package httpapi

import (
	"context"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// dbUnreadyAfter is how long the database must have gone unanswered before
// /readyz reports it: a ping that times out because the replica's pool is
// busy, or one slow answer, must not take the replica out of its load
// balancer (its tenants would move, and start workers elsewhere).
const dbUnreadyAfter = 5 * time.Second

// dbSeen remembers when the database last answered a readiness ping.
type dbSeen struct {
	mu sync.Mutex
	at time.Time
}

// readyz answers 200 while the replica should receive traffic: it is not
// draining, not warming up, and its database answered within
// dbUnreadyAfter. Its 503s are expected and not logged as failures.
func (s *server) readyz(c *fiber.Ctx) error {
	unready := func(why string) error {
		return c.Status(fiber.StatusServiceUnavailable).SendString(why)
	}
	switch {
	case s.draining():
		return unready("draining")
	case s.Warming != nil && s.Warming():
		return unready("warming up")
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	err := s.DB.Ping(ctx)
	s.dbSeen.mu.Lock()
	now := time.Now()
	if err == nil || s.dbSeen.at.IsZero() {
		s.dbSeen.at = now
	}
	silent := now.Sub(s.dbSeen.at)
	s.dbSeen.mu.Unlock()
	if err != nil && silent >= dbUnreadyAfter {
		s.Logger.WarnContext(c.UserContext(), "not ready: database unreachable", "for", silent, "err", err)
		return unready("database unreachable")
	}
	return c.SendString("ok")
}

func (s *server) draining() bool {
	select {
	case <-s.Draining:
		return true
	default:
		return false
	}
}
