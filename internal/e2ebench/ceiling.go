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
	"time"

	"druid-migrate/druidsim"
	"druid-migrate/internal/sample"
	"druid-migrate/mapping"
	"druid-migrate/source"
)

// ceilingEnv, set to the simulator's URL, makes this program the ceiling client instead of the
// benchmark: the client is then measured as a process of its own, exactly as druid-migrate is.
const ceilingEnv = "E2EBENCH_CEILING_URL"

// ceiling measures the fastest this machine, its loopback and the simulator can serve the
// update calls of -users users with -concurrency clients: the yardstick of the throughput runs.
func (b *bench) ceiling(ctx context.Context) *scenario {
	s := &scenario{name: "ceiling (fixed bodies)", users: b.cfg.users}
	sim, err := startSim(0, false)
	if err != nil {
		s.err = err
		return s
	}
	defer sim.close()
	args := []string{"-users", strconv.Itoa(b.cfg.users), "-concurrency", strconv.Itoa(b.cfg.concurrency)}
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
	s.m = m
	return s
}

// ceilingReport is what the ceiling client prints on stdout, as JSON.
type ceilingReport struct {
	Codes      map[int]int64 `json:"codes"`  // answers per HTTP status
	Errors     int64         `json:"errors"` // calls that got no answer
	FirstError string        `json:"first_error,omitempty"`
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
	bodies, err := ceilingBodies(cfg.concurrency)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ceiling client:", err)
		return 2
	}
	rep := ceilingCalls(url+druidsim.UpdatePath, bodies, cfg.users)
	if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
		fmt.Fprintln(os.Stderr, "ceiling client:", err)
		return 2
	}
	return 0
}

// bodyPair is the two prebuilt versions of one user's update that a ceiling goroutine sends in
// turn.
type bodyPair struct {
	locale string
	body   [2][]byte
}

// ceilingBodies builds, the way druid-migrate does (the mapping package over sample rows), two
// versions of the update of each of the first n sample users, differing in the name.
//
// Not one body for everyone: the simulator answers a replacement equal to the user's state 304,
// with no body, so one body sent over and over would measure a cheaper answer than the 200 and
// content.user the runs get. Each goroutine owns a user and alternates its two bodies, so every
// call changes its user and is answered 200, spread over the simulator's locks like a run's;
// and the bodies are still built once, before the clock matters.
func ceilingBodies(n int) ([]bodyPair, error) {
	m, err := mapping.Compile(nil, sample.Header, mapping.Options{AppID: appID})
	if err != nil {
		return nil, err
	}
	pairs := make([]bodyPair, n)
	for g := range pairs {
		i := g + 1
		for v, variant := range []string{"", "-b"} {
			p, err := m.Build(source.Record{Line: i + 1, Values: sample.Row(i, variant)})
			if err != nil {
				return nil, fmt.Errorf("sample user %d: %w", i, err)
			}
			pairs[g].body[v], pairs[g].locale = p.Body, p.Locale
		}
	}
	return pairs, nil
}

// ceilingCalls makes calls update calls to url, len(bodies) at a time, with the headers
// druid-migrate sends, over one client that keeps a connection per goroutine.
func ceilingCalls(url string, bodies []bodyPair, calls int) ceilingReport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = max(tr.MaxIdleConns, len(bodies))
	tr.MaxIdleConnsPerHost = len(bodies)
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	var next atomic.Int64
	reports := make([]ceilingReport, len(bodies))
	var wg sync.WaitGroup
	for g := range bodies {
		wg.Go(func() {
			rep := &reports[g]
			rep.Codes = map[int]int64{}
			for k := 0; next.Add(1) <= int64(calls); k++ {
				code, err := post(client, url, bodies[g].body[k%2], bodies[g].locale)
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
