package workerpool

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the supervisor's Prometheus series.
type Metrics struct {
	reg           prometheus.Registerer
	starts        prometheus.Counter
	restarts      prometheus.Counter
	running       prometheus.Gauge
	spares        prometheus.Gauge
	preemptions   prometheus.Counter
	sparesRetired prometheus.Counter
	bindTime      *prometheus.HistogramVec
}

// NewMetrics registers the supervisor's series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reg: reg,
		starts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scimplane_worker_starts_total", Help: "Worker processes started and prepared.",
		}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scimplane_worker_restarts_total", Help: "Workers bound to a tenant after its previous worker crashed or failed.",
		}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scimplane_workers_running", Help: "Workers bound to a tenant.",
		}),
		spares: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scimplane_workers_prepared", Help: "Workers prepared ahead of need, not yet bound.",
		}),
		preemptions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scimplane_db_connection_preemptions_total",
			Help: "Busy tenants asked to give up their database connection to a tenant that waited too long.",
		}),
		sparesRetired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scimplane_workers_prepared_retired_total",
			Help: "Prepared workers stopped to give their database connection to a tenant.",
		}),
		bindTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scimplane_worker_bind_seconds",
			Help:    "Time to give a tenant a worker on its first request: prepared (a worker was ready) or started.",
			Buckets: []float64{.001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5},
		}, []string{"worker"}),
	}
	reg.MustRegister(m.starts, m.restarts, m.running, m.spares, m.preemptions, m.sparesRetired, m.bindTime)
	return m
}

func (m *Metrics) bound(d time.Duration, prepared, restart bool, running int) {
	if restart {
		m.restarts.Inc()
	}
	m.running.Set(float64(running))
	kind := "started"
	if prepared {
		kind = "prepared"
	}
	m.bindTime.WithLabelValues(kind).Observe(d.Seconds())
}

// budget exports the connection budget's state.
func (m *Metrics) budget(b *budget) {
	gauge := func(name, help string, f func() float64) {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	gauge("scimplane_db_connections_budget", "Database connections all workers together may hold.", func() float64 {
		_, total, _ := b.stats()
		return float64(total)
	})
	gauge("scimplane_db_connections_held", "Database connection permits workers hold.", func() float64 {
		used, _, _ := b.stats()
		return float64(used)
	})
	gauge("scimplane_db_connection_waiters", "Workers waiting for a database connection permit.", func() float64 {
		_, _, waiting := b.stats()
		return float64(waiting)
	})
}
