package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxFailureKeys bounds the keys Failures remembers; past it, keys whose
// bucket has refilled are forgotten first (they are as good as new), then
// arbitrary ones.
const maxFailureKeys = 1 << 16

// Failures keeps a token bucket per key (a client address) that only
// failures draw from: a key whose bucket is empty is blocked until a token
// refills. A nil *Failures never blocks. Safe for concurrent use.
type Failures struct {
	rate  rate.Limit
	burst int
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// NewFailures allows burst failures per key, refilled at perSecond; a
// perSecond of 0 returns nil, which never blocks.
func NewFailures(perSecond float64, burst int) *Failures {
	if perSecond <= 0 {
		return nil
	}
	return &Failures{rate: rate.Limit(perSecond), burst: max(burst, 1), now: time.Now, buckets: make(map[string]*rate.Limiter)}
}

// Blocked reports whether key has no failure left and, if so, how long
// until it has one.
func (f *Failures) Blocked(key string) (retryAfter time.Duration, blocked bool) {
	if f == nil {
		return 0, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.buckets[key]
	if b == nil {
		return 0, false
	}
	tokens := b.TokensAt(f.now())
	if tokens >= 1 {
		return 0, false
	}
	return time.Duration((1 - tokens) / float64(f.rate) * float64(time.Second)), true
}

// Fail records a failure for key.
func (f *Failures) Fail(key string) {
	if f == nil {
		return
	}
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.buckets[key]
	if b == nil {
		if len(f.buckets) >= maxFailureKeys {
			f.shrink(now)
		}
		b = rate.NewLimiter(f.rate, f.burst)
		f.buckets[key] = b
	}
	b.AllowN(now, 1)
}

// shrink makes room for a new key; f.mu is held.
func (f *Failures) shrink(now time.Time) {
	for k, b := range f.buckets {
		if b.TokensAt(now) >= float64(f.burst) {
			delete(f.buckets, k)
		}
	}
	for k := range f.buckets {
		if len(f.buckets) < maxFailureKeys {
			return
		}
		delete(f.buckets, k)
	}
}
