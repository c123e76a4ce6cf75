package workerpool

import (
	"context"
	"fmt"
	"testing"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

// BenchmarkPool_ColdStart measures the supervisor's share of a cold start
// without prepared workers (spawn, go-plugin handshake with the session's
// mutual TLS, dispense, prepare, bind) with the echo worker, which does no
// work of its own at start.
func BenchmarkPool_ColdStart(b *testing.B) {
	p := newPool(b, func(p *Params) { p.MaxWorkers = 1000 }).pool
	ex := &scimworker.Exchange{Method: "GET", Path: "/"}
	for i := 0; b.Loop(); i++ {
		tenantID := fmt.Sprintf("tnt_bench%d", i)
		if _, err := p.Handle(context.Background(), tenantID, ex); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		p.Stop(tenantID)
		b.StartTimer()
	}
}

// BenchmarkPool_Handle measures one exchange over a warm worker: the
// go-plugin gRPC hop plus the pool's bookkeeping.
func BenchmarkPool_Handle(b *testing.B) {
	p := newPool(b, nil).pool
	ex := &scimworker.Exchange{Method: "GET", Path: "/Users", Body: []byte(`{}`)}
	if _, err := p.Handle(context.Background(), "tnt_a", ex); err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.Handle(context.Background(), "tnt_a", ex); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
