package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"druid-migrate/druidsim"
)

// simulator is the DRUID simulator served on loopback for one run. Every run gets a fresh one:
// users left by an earlier run would turn its 200s into 304s, and a million users' worth of
// memory would weigh on the next run's machine.
//
// It sits in this process, not in the measured child, so the child's figures are its own; on a
// small machine the two still share the cores, as they would share them with DRUID's network
// stack in production.
type simulator struct {
	sim  *druidsim.Server
	srv  *http.Server
	url  string
	done chan struct{} // closed when Serve returns

	// updates counts the update calls that reached the simulator, whatever their answer.
	updates atomic.Int64

	keepTimes bool
	mu        sync.Mutex
	arrivals  []time.Time // guarded by mu; only with keepTimes
}

// startSim serves a simulator with the latency and faults of cfg, which accepts the runs' token
// and makes every user they send exist.
func startSim(cfg druidsim.Config, keepTimes bool) (*simulator, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	cfg.Tokens, cfg.Autocreate = []string{token}, true
	cfg.ClientID, cfg.ClientSecret = bulkClientID, bulkClientSecret
	s := &simulator{
		sim:       druidsim.New(cfg),
		url:       "http://" + ln.Addr().String(),
		done:      make(chan struct{}),
		keepTimes: keepTimes,
	}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: time.Minute}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			progress("warning: simulator: %v", err)
		}
	}()
	return s, nil
}

// ServeHTTP notes the update calls, and when they arrived, before the simulator answers them:
// the arrival is what DRUID's rate limit would see.
func (s *simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == druidsim.UpdatePath {
		now := time.Now()
		s.updates.Add(1)
		if s.keepTimes {
			s.mu.Lock()
			s.arrivals = append(s.arrivals, now)
			s.mu.Unlock()
		}
	}
	s.sim.ServeHTTP(w, r)
}

// appliedOnce checks that the simulator applied every one of n users exactly once: with faults,
// the calls outnumber the users, and a user updated twice would hide behind the count.
func (s *simulator) appliedOnce(n int) error {
	users := s.sim.Users()
	if len(users) != n {
		return fmt.Errorf("the simulator holds %d users, want %d", len(users), n)
	}
	for _, u := range users {
		if u.Updates != 1 {
			return fmt.Errorf("user %s was applied %d times, want once", u.User.ObjectID, u.Updates)
		}
	}
	return nil
}

// arrivalTimes returns the arrival times of the update calls so far, earliest first.
func (s *simulator) arrivalTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	times := slices.Clone(s.arrivals)
	slices.SortFunc(times, time.Time.Compare)
	return times
}

// close stops serving, cutting any connection left, and waits for Serve to return.
func (s *simulator) close() {
	_ = s.srv.Close()
	<-s.done
}
