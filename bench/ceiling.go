package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"druid-migrate/druidsim"
	"druid-migrate/internal/sample"
	"druid-migrate/mapping"
	"druid-migrate/source"
)

// ceilingEnv, set to the simulator's URL, makes this program the ceiling client instead of the
// benchmark: the client is then measured as a process of its own, exactly as druid-migrate is.
const ceilingEnv = "DRUID_MIGRATE_BENCH_CEILING_URL"

// ceiling measures the fastest this machine, its loopback and the simulator can serve the
// update calls of -users users with workers clients: the yardstick of the throughput runs.
func (b *bench) ceiling(ctx context.Context, workers int) *scenario {
	s := &scenario{name: "ceiling (prebuilt bodies)", users: b.cfg.users, workers: workers}
	sim, err := startSim(druidsim.Config{}, false)
	if err != nil {
		s.err = err
		return s
	}
	defer sim.close()
	args := []string{"-users", strconv.Itoa(b.cfg.users), "-concurrency", strconv.Itoa(workers)}
	m, err := b.measure(ctx, b.self, args, []string{ceilingEnv + "=" + sim.url})
	if err != nil {
		s.err = err
		return s
	}
	var rep ceilingReport
	if err := json.Unmarshal([]byte(m.stdout), &rep); err != nil {
		s.err = fmt.Errorf("ceiling client's report: %w", err)
		return s
	}
	if err := rep.check(int64(b.cfg.users)); err != nil {
		s.err = err
		return s
	}
	if got := sim.updates.Load(); got != int64(b.cfg.users) {
		s.err = fmt.Errorf("the simulator got %d update calls, want %d", got, b.cfg.users)
		return s
	}
	// The client's process built every body before its first call: what counts is the calls.
	m.wall, m.cpu, m.machine = rep.Wall, rep.CPU, rep.Machine
	s.m = m
	return s
}

// ceilingReport is what the ceiling client prints on stdout, as JSON.
type ceilingReport struct {
	Codes      map[int]int64 `json:"codes"`  // answers per HTTP status
	Errors     int64         `json:"errors"` // calls that got no answer
	FirstError string        `json:"first_error,omitempty"`
	// Of the calls alone, from the first to the last answer: the client's wall time, its CPU
	// time, and the machine's CPU time (measurement.machine).
	Wall    time.Duration `json:"wall_ns"`
	CPU     time.Duration `json:"cpu_ns"`
	Machine time.Duration `json:"machine_ns"`
}

// check says whether every one of want calls was answered 2xx.
func (r ceilingReport) check(want int64) error {
	var ok int64
	var other []string
	for code, n := range r.Codes {
		if code >= 200 && code < 300 {
			ok += n
		} else {
			other = append(other, fmt.Sprintf("%d×%d", n, code))
		}
	}
	sort.Strings(other)
	switch {
	case r.Errors > 0:
		return fmt.Errorf("%d calls got no answer, e.g. %s", r.Errors, r.FirstError)
	case len(other) > 0:
		return fmt.Errorf("answers that are not 2xx: %s", strings.Join(other, ", "))
	case ok != want:
		return fmt.Errorf("%d calls answered 2xx, want %d", ok, want)
	}
	return nil
}

// ceilingMain is the ceiling client's process: it makes -users update calls with -concurrency
// goroutines and prints a ceilingReport. Its exit status is 0 unless it could not start.
func ceilingMain(url string, args []string) int {
	cfg, err := parseFlags(args, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ceiling client:", err)
		return 2
	}
	bodies, err := ceilingBodies(cfg.users)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ceiling client:", err)
		return 2
	}
	cpu0, busy0, start := processCPU(), machineBusy(), time.Now()
	rep := ceilingCalls(url+druidsim.UpdatePath, bodies, cfg.concurrency[0])
	rep.Wall, rep.CPU, rep.Machine = time.Since(start), processCPU()-cpu0, machineBusy()-busy0
	if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
		fmt.Fprintln(os.Stderr, "ceiling client:", err)
		return 2
	}
	return 0
}

// processCPU is this process's CPU time so far, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// prebuilt is one user's update, built before the clock matters.
type prebuilt struct {
	locale string
	body   []byte
}

// ceilingBodies builds, the way druid-migrate does (the mapping package over the sample rows),
// the update of each of the n users of the runs' export.
//
// One body per user, not one for everyone: the simulator's work depends on the users it holds
// and on the answer (a replacement equal to the user's state is answered 304, with no body), so
// the ceiling sends the very updates the runs send, to the same users, and the only difference
// left between the two is the client: no source, no validation, no checkpoint.
func ceilingBodies(n int) ([]prebuilt, error) {
	m, err := mapping.Compile(nil, sample.Header, mapping.Options{AppID: appID})
	if err != nil {
		return nil, err
	}
	bodies := make([]prebuilt, n)
	for k := range bodies {
		i := k + 1
		p, err := m.Build(source.Record{Line: i + 1, Values: sample.Row(i, "")})
		if err != nil {
			return nil, fmt.Errorf("sample user %d: %w", i, err)
		}
		bodies[k] = prebuilt{locale: p.Locale, body: p.Body}
	}
	return bodies, nil
}

// ceilingCalls sends every body to url, concurrency at a time, with the headers druid-migrate
// sends, over one client that keeps a connection per goroutine.
func ceilingCalls(url string, bodies []prebuilt, concurrency int) ceilingReport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = max(tr.MaxIdleConns, concurrency)
	tr.MaxIdleConnsPerHost = concurrency
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	var next atomic.Int64
	reports := make([]ceilingReport, concurrency)
	var wg sync.WaitGroup
	for g := range reports {
		wg.Go(func() {
			rep := &reports[g]
			rep.Codes = map[int]int64{}
			for k := next.Add(1) - 1; k < int64(len(bodies)); k = next.Add(1) - 1 {
				code, err := post(client, url, bodies[k].body, bodies[k].locale)
				if err != nil {
					if rep.Errors == 0 {
						rep.FirstError = err.Error()
					}
					rep.Errors++
					continue
				}
				rep.Codes[code]++
			}
		})
	}
	wg.Wait()
	total := ceilingReport{Codes: map[int]int64{}}
	for _, r := range reports {
		for code, n := range r.Codes {
			total.Codes[code] += n
		}
		if total.FirstError == "" {
			total.FirstError = r.FirstError
		}
		total.Errors += r.Errors
	}
	return total
}

// post makes one update call as sink.Client does, and reads the answer to its end so that the
// connection is reused.
func post(client *http.Client, url string, body []byte, locale string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	h := make(http.Header, 6)
	h["Authorization"] = []string{"Bearer " + token}
	h["Content-Type"] = []string{"application/json"}
	h["Accept"] = []string{"application/json"}
	h["From"] = []string{entryPoint}
	if locale != "" {
		h["Accept-Language"] = []string{locale}
	}
	req.Header = h
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, err
}
