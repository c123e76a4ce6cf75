package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// kind is a request kind of the Entra sequence.
type kind uint8

const (
	kProbe kind = iota
	kLookupUser
	kCreateUser
	kGetUser
	kPatchUser
	kLookupGroup
	kCreateGroup
	kGetGroup
	kPatchMembers
	numKinds
)

var kindNames = [numKinds]string{"probe", "lookup_user", "create_user", "get_user", "patch_user", "lookup_group", "create_group", "get_group", "patch_members"}

func (k kind) String() string { return kindNames[k] }

// Error classes that are not an HTTP status.
const (
	errConn     = "conn"     // connection refused, reset, EOF
	errTimeout  = "timeout"  // no answer within the client's timeout
	errOverflow = "overflow" // open loop: the arrival found every in-flight slot taken
)

// recorder collects one goroutine's measurements; recorders merge at the
// end, so the hot path takes no lock.
type recorder struct {
	lat      [numKinds][]time.Duration
	statuses map[int]int    // every status received
	errs     map[string]int // failures by status or class
	requests int            // sent
}

func newRecorder() *recorder {
	return &recorder{statuses: map[int]int{}, errs: map[string]int{}}
}

// add records one request. ok says whether the status was one the
// request wants; transport failures have status 0 and err set.
func (r *recorder) add(k kind, d time.Duration, status int, ok bool, err error) {
	r.requests++
	r.lat[k] = append(r.lat[k], d)
	if err != nil {
		r.errs[transportClass(err)]++
		return
	}
	r.statuses[status]++
	if !ok {
		r.errs[strconv.Itoa(status)]++
	}
}

// overflow records an open-loop arrival that could not be sent: an error,
// but no request.
func (r *recorder) overflow() {
	r.errs[errOverflow]++
}

func (r *recorder) merge(o *recorder) {
	r.requests += o.requests
	for k := range r.lat {
		r.lat[k] = append(r.lat[k], o.lat[k]...)
	}
	for s, n := range o.statuses {
		r.statuses[s] += n
	}
	for e, n := range o.errs {
		r.errs[e] += n
	}
}

func (r *recorder) errorCount() int {
	n := 0
	for _, v := range r.errs {
		n += v
	}
	return n
}

// all is every latency, sorted.
func (r *recorder) all() []time.Duration {
	var out []time.Duration
	for _, l := range r.lat {
		out = append(out, l...)
	}
	slices.Sort(out)
	return out
}

func transportClass(err error) string {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return errTimeout
	}
	return errConn
}

// percentile is the nearest-rank percentile of sorted values: the smallest
// value with at least p percent of the values at or below it. p is in
// (0, 100]; empty input gives 0.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// The epsilon keeps float error (1000*99.9/100 = 999.0000000000001)
	// from moving the rank up one.
	rank := int(math.Ceil(float64(len(sorted))*p/100 - 1e-9))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// latency summarises sorted latencies in milliseconds.
type latency struct {
	N    int     `json:"n"`
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p999_ms"`
	Max  float64 `json:"max_ms"`
}

func summarize(sorted []time.Duration) latency {
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	return latency{N: len(sorted), P50: ms(percentile(sorted, 50)), P90: ms(percentile(sorted, 90)),
		P99: ms(percentile(sorted, 99)), P999: ms(percentile(sorted, 99.9)), Max: ms(percentile(sorted, 100))}
}

// formatErrors renders failures as "503:12 429:3 conn:1", most frequent
// first, "0" when there are none.
func formatErrors(errs map[string]int) string {
	keys := make([]string, 0, len(errs))
	for k, n := range errs {
		if n > 0 {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return "0"
	}
	slices.SortFunc(keys, func(a, b string) int {
		if errs[a] != errs[b] {
			return errs[b] - errs[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s:%d", k, errs[k])
	}
	return strings.Join(parts, " ")
}

// median of the values; 0 for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
