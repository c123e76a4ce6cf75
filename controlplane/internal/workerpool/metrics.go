package workerpool

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the supervisor's Prometheus series.
type Metrics struct {
	starts    prometheus.Counter
	restarts  prometheus.Counter
	running   prometheus.Gauge
	coldStart prometheus.Histogram
}

// NewMetrics registers the supervisor's series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		starts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scimplane_worker_starts_total", Help: "Worker processes started.",
		}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scimplane_worker_restarts_total", Help: "Worker processes started after a crash or failed start.",
		}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scimplane_workers_running", Help: "Worker processes running.",
		}),
		coldStart: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "scimplane_worker_start_seconds",
			Help:    "Worker cold start: spawn, handshake and health check.",
			Buckets: []float64{.005, .01, .02, .03, .05, .075, .1, .25, .5, 1, 2.5},
		}),
	}
	reg.MustRegister(m.starts, m.restarts, m.running, m.coldStart)
	return m
}

func (m *Metrics) started(d time.Duration, restart bool, running int) {
	m.starts.Inc()
	if restart {
		m.restarts.Inc()
	}
	m.running.Set(float64(running))
	m.coldStart.Observe(d.Seconds())
}
