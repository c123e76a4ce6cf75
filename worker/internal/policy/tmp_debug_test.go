package policy_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/scimplane/scimplane/worker/internal/policy"
)

func TestTmpDebug(t *testing.T) {
	d := compile(t, defaultBundle(t), policy.Options{Timeout: 10 * time.Second})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var max time.Duration
	for range 8 {
		wg.Go(func() {
			for range 200 {
				t0 := time.Now()
				_, err := d.Decide(context.Background(), policy.Input{User: user(true, ""), Groups: []policy.Group{group("g-1", "Forms Viewers")}})
				el := time.Since(t0)
				mu.Lock()
				if el > max {
					max = el
				}
				mu.Unlock()
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	t.Log("max", max)
}

func BenchmarkTmp(b *testing.B) {
	d := compile(b, defaultBundle(b), policy.Options{})
	in := policy.Input{User: user(true, ""), Groups: []policy.Group{group("g-1", "Forms Viewers"), group("g-2", "Forms Users"), group("g-3", "Sales"), group("g-4", "HR"), group("g-5", "All")}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decide(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTmpTrivial(b *testing.B) {
	bb := defaultBundle(b)
	bb.Modules = map[string]string{"p.rego": `package scimplane.permissions
decision := {"permissions": [], "sets": [], "grants": []}`}
	d := compile(b, bb, policy.Options{})
	in := policy.Input{User: user(true, ""), Groups: []policy.Group{group("g-1", "Forms Viewers"), group("g-2", "Forms Users"), group("g-3", "Sales"), group("g-4", "HR"), group("g-5", "All")}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decide(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
}
