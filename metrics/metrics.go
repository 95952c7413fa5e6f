// Package metrics shows a run to Prometheus while it lasts: DRUID's answers by kind of call and
// status, their latency, the throttling, the users in flight and the records by outcome.
//
// Each Run has a registry of its own, never the global default one, so that tests and several
// runs in one process do not share counters. The labels are the kind of call, the status code,
// the outcome, the command and the job: never a token, a secret or a user's data.
package metrics

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"druid-migrate/pipeline"
	"druid-migrate/sink"
)

// Namespace prefixes every metric of a run.
const Namespace = "druid_migrate"

// DurationBuckets are the buckets of request_duration_seconds, in seconds: from a loopback
// simulator's millisecond to --timeout's default of 30 s, about 2.5 times apart.
var DurationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// calls are the kinds of call Observe is told of, in the order of its caches.
var calls = [...]string{sink.CallUpdate, sink.CallToken, sink.CallRead,
	sink.CallBulkUpload, sink.CallBulkStatus, sink.CallBulkResults}

// codeSlots bounds the status codes whose counters Observe caches: every HTTP status is below
// it, and 0 (no answer) is the first.
const codeSlots = 600

// Run is the metrics of one run.
type Run struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	durations *prometheus.HistogramVec

	// The children of requests and durations per call and code, resolved on their first use:
	// WithLabelValues formats and hashes its labels, and allocates, on every call.
	byCode   [len(calls)][codeSlots]atomic.Pointer[prometheus.Counter]
	duration [len(calls)]prometheus.Observer
}

// New returns a Run whose registry holds the request metrics, fed by Observe, and the Go
// runtime's and the process's. Watch adds the run's own.
func New() *Run {
	r := &Run{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "requests_total",
			Help: "HTTP calls to DRUID by kind (update, token, read, bulk_upload, bulk_status, bulk_results) and status code; code 0: no answer (connection error, timeout).",
		}, []string{"call", "code"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "request_duration_seconds",
			Help:    "Latency of the HTTP calls to DRUID by kind (update, token, read, bulk_*), reading the answer included.",
			Buckets: DurationBuckets,
		}, []string{"call"}),
	}
	for i, call := range calls {
		r.duration[i] = r.durations.WithLabelValues(call)
	}
	r.reg.MustRegister(r.requests, r.durations,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Observe counts one HTTP call to DRUID and its latency. It is the run's sink.ObserveFunc: safe
// for concurrent use, and free of allocations once a call's code has been seen.
func (r *Run) Observe(call string, code int, elapsed time.Duration) {
	i := callIndex(call)
	if i < 0 || code < 0 || code >= codeSlots {
		// Not a call or a status of DRUID's API as sink knows it: counted all the same.
		r.requests.WithLabelValues(call, strconv.Itoa(code)).Inc()
		r.durations.WithLabelValues(call).Observe(elapsed.Seconds())
		return
	}
	slot := &r.byCode[i][code]
	c := slot.Load()
	if c == nil {
		// Racing first uses store the same child: the vector keeps one per label values.
		child := r.requests.WithLabelValues(call, strconv.Itoa(code))
		c = &child
		slot.Store(c)
	}
	(*c).Inc()
	r.duration[i].Observe(elapsed.Seconds())
}

func callIndex(call string) int {
	for i, c := range calls {
		if c == call {
			return i
		}
	}
	return -1
}

// Info names a run in druid_migrate_run_info.
type Info struct {
	Command string // run, retry or rollback
	Job     string // the job's name in the checkpoint
}

// Watch adds the metrics read when they are scraped: the run's info, the client's retries and
// throttling (stats is sink.Client.Stats) and the pipeline's counts (live, set as the run's
// pipeline.Config.Live). It is called once, before the run starts.
func (r *Run) Watch(info Info, stats func() sink.Stats, live *pipeline.Live) {
	if live == nil {
		live = &pipeline.Live{} // no pipeline to watch: its counts stay 0
	}
	r.reg.MustRegister(&watched{info: info, stats: stats, live: live})
}

// Handler serves the run's metrics, in every exposition format Prometheus asks for.
func (r *Run) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg})
}

// The metrics of watched. Their values are read at scrape time, from counters the run keeps
// anyway: they cost the run nothing between scrapes.
var (
	runInfoDesc   = desc("run_info", "The run being served: its command and job; always 1.", "command", "job")
	retriesDesc   = desc("retries_total", "Tries of a user after the first: after a transient failure, or once after a 401 with a new token.")
	throttledDesc = desc("throttled_total", "Answers of DRUID that say slower: 429, and 503 with Retry-After; to updates, token calls and reads.")
	slowDownsDesc = desc("slowdowns_total", "Cuts of the shared request rate after DRUID's throttling.")
	rateLimitDesc = desc("rate_limit_per_second", "The rate the shared limiter lets requests go at now, per second; 0: unlimited.")
	inFlightDesc  = desc("in_flight", "Users being sent to DRUID now.")
	readDesc      = desc("records_read_total", "Records read from the source.")
	recordsDesc   = desc("records_total",
		"Records settled, by outcome: skipped, or the outcome of the user (updated, partial, unchanged, invalid, rejected, failed).",
		"outcome")
)

// desc describes the metric Namespace_name, with its help text and variable labels.
func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(Namespace+"_"+name, help, labels, nil)
}

// watched collects the metrics a run keeps for its summary.
type watched struct {
	info  Info
	stats func() sink.Stats
	live  *pipeline.Live
}

func (w *watched) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		runInfoDesc, retriesDesc, throttledDesc, slowDownsDesc, rateLimitDesc, inFlightDesc, readDesc, recordsDesc,
	} {
		ch <- d
	}
}

func (w *watched) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(runInfoDesc, prometheus.GaugeValue, 1, w.info.Command, w.info.Job)
	st := w.stats()
	ch <- prometheus.MustNewConstMetric(retriesDesc, prometheus.CounterValue, float64(st.Retries))
	ch <- prometheus.MustNewConstMetric(throttledDesc, prometheus.CounterValue, float64(st.Throttled))
	ch <- prometheus.MustNewConstMetric(slowDownsDesc, prometheus.CounterValue, float64(st.SlowDowns))
	ch <- prometheus.MustNewConstMetric(rateLimitDesc, prometheus.GaugeValue, st.CurrentRate)
	ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue, float64(w.live.InFlight()))
	n := w.live.Counts()
	ch <- prometheus.MustNewConstMetric(readDesc, prometheus.CounterValue, float64(n.Read))
	for _, o := range [...]struct {
		name string
		n    int64
	}{
		{"skipped", n.Skipped},
		{string(sink.Updated), n.Updated}, {string(sink.Partial), n.Partial}, {string(sink.Unchanged), n.Unchanged},
		{string(sink.Invalid), n.Invalid}, {string(sink.Rejected), n.Rejected}, {string(sink.Failed), n.Failed},
	} {
		ch <- prometheus.MustNewConstMetric(recordsDesc, prometheus.CounterValue, float64(o.n), o.name)
	}
}
