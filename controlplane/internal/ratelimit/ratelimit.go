// Package ratelimit keeps one token bucket per key (tenant). A request past
// the bucket waits briefly for a token rather than failing at once, since
// Entra treats a 429 as a failed object it retries hours later.
package ratelimit

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter is safe for concurrent use.
type Limiter struct {
	rate    rate.Limit
	burst   int
	maxWait time.Duration

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// New returns a Limiter allowing perSecond requests per key with the given
// burst, queueing a request for at most maxWait.
func New(perSecond float64, burst int, maxWait time.Duration) *Limiter {
	return &Limiter{rate: rate.Limit(perSecond), burst: burst, maxWait: maxWait, buckets: make(map[string]*rate.Limiter)}
}

// Wait takes a token for key, waiting up to maxWait. When none is available
// in time it takes nothing and returns ok=false and how long until one
// would be.
func (l *Limiter) Wait(ctx context.Context, key string) (retryAfter time.Duration, ok bool, err error) {
	r := l.bucket(key).Reserve()
	delay := r.Delay()
	if delay == 0 {
		return 0, true, nil
	}
	if delay > l.maxWait {
		r.Cancel()
		return delay, false, nil
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return 0, true, nil
	case <-ctx.Done():
		r.Cancel()
		return 0, false, ctx.Err()
	}
}

// RetryAfterSeconds rounds d up to whole seconds, at least one, for the
// Retry-After header.
func RetryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

func (l *Limiter) bucket(key string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		b = rate.NewLimiter(l.rate, l.burst)
		l.buckets[key] = b
	}
	return b
}

// Forget drops key's bucket, e.g. when its tenant is deleted.
func (l *Limiter) Forget(key string) {
	l.mu.Lock()
	delete(l.buckets, key)
	l.mu.Unlock()
}
