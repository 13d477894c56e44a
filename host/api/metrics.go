package api

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/whetml/whet/host/jobs"
	"github.com/whetml/whet/host/store"
)

// Metrics holds whet's Prometheus metrics, served at GET /metrics:
//
//	whet_jobs{status}                          jobs in each status (read from the store at scrape time)
//	whet_training_samples_per_second{job_id}   last reported throughput of each running job
//	whet_predict_duration_seconds{model}       predict request latency (histogram)
//	whet_predict_inputs_total{model}           inputs classified
//	whet_http_requests_total{method,route,code} requests by route and status class
//
// plus the Go and process collectors.
type Metrics struct {
	reg             *prometheus.Registry
	samplesPerSec   *prometheus.GaugeVec
	predictDuration *prometheus.HistogramVec
	predictInputs   *prometheus.CounterVec
	requests        *prometheus.CounterVec
}

// NewMetrics registers whet's metrics on reg (a new registry when nil).
func NewMetrics(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m := &Metrics{
		reg: reg,
		samplesPerSec: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "whet_training_samples_per_second",
			Help: "Training throughput last reported by each running job."}, []string{"job_id"}),
		predictDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "whet_predict_duration_seconds",
			Help:    "Latency of POST /v1/models/{id}/predict, batching wait included.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"model"}),
		predictInputs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "whet_predict_inputs_total",
			Help: "Texts classified through the predict API."}, []string{"model"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "whet_http_requests_total",
			Help: "HTTP requests by method, route and status class."}, []string{"method", "route", "code"}),
	}
	reg.MustRegister(m.samplesPerSec, m.predictDuration, m.predictInputs, m.requests)
	return m
}

// Registry returns the registry the metrics live on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// TrainingStep records a job's throughput; wire it to jobs.Config.OnStep.
func (m *Metrics) TrainingStep(jobID string, samplesPerSecond float64) {
	m.samplesPerSec.WithLabelValues(jobID).Set(samplesPerSecond)
}

// JobFinished drops a job's throughput gauge; wire it to jobs.Config.OnFinish.
func (m *Metrics) JobFinished(jobID string, _ jobs.State) {
	m.samplesPerSec.DeleteLabelValues(jobID)
}

func (m *Metrics) observePredict(model string, inputs int, d time.Duration) {
	m.predictDuration.WithLabelValues(model).Observe(d.Seconds())
	m.predictInputs.WithLabelValues(model).Add(float64(inputs))
}

// registerJobs adds the whet_jobs gauge, read from st at scrape time (once per registry).
func (m *Metrics) registerJobs(st *store.Store) {
	_ = m.reg.Register(&jobsCollector{st: st, desc: prometheus.NewDesc("whet_jobs", "Fine-tuning jobs by status.",
		[]string{"status"}, nil)})
}

type jobsCollector struct {
	st   *store.Store
	desc *prometheus.Desc
}

// Describe implements prometheus.Collector.
func (c *jobsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector: it reads the counts from the store.
func (c *jobsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.st.CountJobs(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for _, s := range jobs.States() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[string(s)]), string(s))
	}
}
