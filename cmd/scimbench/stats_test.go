package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	thousand := make([]int, 1000)
	for i := range thousand {
		thousand[i] = i + 1
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{name: "empty", sorted: nil, p: 50, want: 0},
		{name: "one value", sorted: ms(7), p: 99, want: 7 * time.Millisecond},
		{name: "median of four is the second", sorted: ms(1, 2, 3, 4), p: 50, want: 2 * time.Millisecond},
		{name: "p50 of 1..100", sorted: ms(hundred...), p: 50, want: 50 * time.Millisecond},
		{name: "p99 of 1..100", sorted: ms(hundred...), p: 99, want: 99 * time.Millisecond},
		{name: "p100 is the max", sorted: ms(hundred...), p: 100, want: 100 * time.Millisecond},
		{name: "tiny p is the min", sorted: ms(hundred...), p: 0.001, want: 1 * time.Millisecond},
		{name: "p99.9 of 1..1000 despite float error", sorted: ms(thousand...), p: 99.9, want: 999 * time.Millisecond},
		{name: "p99 of 10 is the max", sorted: ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), p: 99, want: 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, percentile(tt.sorted, tt.p))
		})
	}
}

func TestRecorder(t *testing.T) {
	a, b := newRecorder(), newRecorder()
	a.add(kLookupUser, 3*time.Millisecond, 200, true, nil)
	a.add(kCreateUser, 9*time.Millisecond, 503, false, nil)
	b.add(kPatchUser, 5*time.Millisecond, 429, false, nil)
	b.add(kPatchUser, 60*time.Second, 0, false, timeoutErr{})
	b.add(kGetUser, time.Millisecond, 0, false, errors.New("connection reset by peer"))
	b.overflow()
	a.merge(b)
	require.Equal(t, 5, a.requests, "an overflow was never sent")
	require.Equal(t, 5, a.errorCount())
	require.Equal(t, map[string]int{"503": 1, "429": 1, "timeout": 1, "conn": 1, "overflow": 1}, a.errs)
	require.Equal(t, map[int]int{200: 1, 503: 1, 429: 1}, a.statuses)
	all := a.all()
	require.Len(t, all, 5)
	require.Equal(t, time.Millisecond, all[0])
	require.Equal(t, 60*time.Second, all[4])
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestFormatErrors(t *testing.T) {
	require.Equal(t, "0", formatErrors(nil))
	require.Equal(t, "0", formatErrors(map[string]int{"503": 0}))
	require.Equal(t, "503:12 429:3 conn:1 timeout:1", formatErrors(map[string]int{"conn": 1, "429": 3, "timeout": 1, "503": 12}))
}

func TestMedian(t *testing.T) {
	require.Equal(t, 0.0, median(nil))
	require.Equal(t, 3.0, median([]float64{5, 1, 3}))
	require.Equal(t, 2.5, median([]float64{4, 1, 2, 3}))
}

func TestWriteTable(t *testing.T) {
	run := func(n int, rps, p99 float64, errs map[string]int) *result {
		r := &result{Scenario: "T2", Run: n, Shape: "10 tenants × 4 clients", CPUs: 2, Load1: 0.5, RPS: rps,
			Latency: latency{P50: 4, P99: p99}, Errors: errs, CPUPerRequest: cpuSample{0.1, 0.1, 0.3, 0.2, 0, 0}, OtherCores: 0.25,
			Peaks: peakFigures{Conns: 42, TenantConns: 40}, Verify: &verifyResult{Tenants: 10, Users: 800, Groups: 80}}
		for _, v := range errs {
			r.ErrorCount += v
		}
		return r
	}
	results := []*result{
		run(1, 1000, 30, nil),
		run(2, 1200, 50, map[string]int{"503": 4}),
		run(3, 1100, 40, nil),
		{Scenario: "T3", Run: 1, Shape: "1000 tenants", CPUs: 2, Failure: "control plane exited\nbadly | really"},
	}
	var b strings.Builder
	writeTable(&b, results)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	require.Len(t, lines, 2+3+1+1)
	require.Contains(t, lines[0], "| scenario | run |")
	require.Contains(t, lines[3], "| 1200 | 4.00 | 50.0 | 503:4 | 0.100 / 0.100 / 0.300 / 0.200 = 0.700 | 42 / 40 (+0 opened) |")
	median := lines[5]
	require.Contains(t, median, "| T2 | **median** |")
	require.Contains(t, median, "| 1100 | 4.00 | 40.0 | 0 |")
	require.Contains(t, median, "3/3 runs ok")
	require.Contains(t, lines[6], "failed: control plane exited badly / really")
	for _, l := range lines {
		require.Equal(t, len(tableHeader)+1, strings.Count(l, "|")-strings.Count(l, "\\|"), l)
	}
}
