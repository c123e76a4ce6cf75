package scimplane

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"time"
)

// followPage is the page size Follow asks for: the most the API gives.
const followPage = 500

// Follow reads the change feed from the cursor after ("" for the
// beginning) until ctx ends or fn fails, and returns why it stopped.
//
// fn gets each non-empty page of changes, in commit order, with the cursor
// that follows the page. Store next once the page is handled and pass it
// as after when starting again: a consumer restarted from its stored
// cursor misses nothing and sees again at most the page it was handling.
// An error from fn stops Follow, which returns it.
//
// While the feed is quiet, Follow waits between polls, longer and longer
// (see WithPolling), with some jitter so that many followers do not poll
// in step; a change resets the wait. When the API is unavailable or busy
// it waits as Retry-After asks, or backs off, and tries again; it stops on
// an answer that will not change by retrying (401, 403, 404, 400).
func (t *Tenant) Follow(ctx context.Context, after string, fn func(ctx context.Context, changes []Change, next string) error) error {
	wait := time.Duration(0)
	for {
		p, err := t.Changes(ctx, after, followPage)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			if !retryable(err) {
				return err
			}
			// Unavailable, or the network failed: back off, but wait at
			// least what the API asked for.
			wait = t.c.backoff(wait)
			var e *Error
			if errors.As(err, &e) && e.RetryAfter > wait {
				wait = e.RetryAfter
			}
		case len(p.Changes) > 0:
			if err := fn(ctx, p.Changes, p.Next); err != nil {
				return err
			}
			after = p.Next
			if len(p.Changes) == followPage {
				wait = 0 // more are waiting
				continue
			}
			wait = t.c.minPoll
		default:
			wait = t.c.backoff(wait)
		}
		if err := sleep(ctx, jitter(wait)); err != nil {
			return err
		}
	}
}

// retryable reports whether err may go away by itself: the API was
// unavailable or busy, or the network failed.
func retryable(err error) bool {
	var (
		e  *Error
		ne net.Error
	)
	switch {
	case errors.As(err, &e):
		return e.Temporary()
	case errors.As(err, &ne), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	}
	return false
}

// backoff doubles the wait, from minPoll up to maxPoll.
func (c *Client) backoff(wait time.Duration) time.Duration {
	return min(max(2*wait, c.minPoll), c.maxPoll)
}

// jitter is d give or take a tenth.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d - d/10 + rand.N(d/5+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
