package httpapi

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	scim     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimplane_http_requests_total", Help: "HTTP requests by route kind and status.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scimplane_http_request_duration_seconds",
			Help:    "HTTP request latency by route kind.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route"}),
		scim: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimplane_scim_requests_total", Help: "SCIM requests by tenant and status.",
		}, []string{"tenant_id", "code"}),
	}
	reg.MustRegister(m.requests, m.latency, m.scim)
	return m
}

func (m *metrics) observe(route string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}
