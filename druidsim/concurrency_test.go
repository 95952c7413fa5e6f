package druidsim

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"druid-migrate/sink"
)

// TestConcurrentUpdates hammers many users over real HTTP from parallel clients, while others
// read, dump and count: under -race it checks the locking, and afterwards that no update was
// lost or counted twice.
func TestConcurrentUpdates(t *testing.T) {
	t.Parallel()
	const (
		workers        = 8
		usersPerWorker = 8
		rounds         = 10
		hot            = "hot" // updated by every worker at once
	)
	var seeds []Seed
	for w := range workers {
		for u := range usersPerWorker {
			seeds = append(seeds, seeded(fmt.Sprintf("w%d-u%d", w, u)))
		}
	}
	seeds = append(seeds, seeded(hot))
	s := newSim(t, Config{}, seeds...)

	post := func(objectID, name string) (int, error) {
		return s.post(context.Background(), adminToken,
			with(objectID, func(r *sink.Request) { r.Object.Datas["name"] = sink.Data{Value: name} }))
	}

	var (
		sent, hotApplied atomic.Int64
		hotNames         sync.Map
		writers, readers sync.WaitGroup
		done             = make(chan struct{})
	)
	for w := range workers {
		writers.Go(func() {
			for r := range rounds {
				for u := range usersPerWorker {
					code, err := post(fmt.Sprintf("w%d-u%d", w, u), fmt.Sprintf("round %d", r))
					sent.Add(1)
					if err != nil || code != http.StatusOK {
						t.Errorf("worker %d user %d round %d: %d %v", w, u, r, code, err)
						return
					}
				}
				name := fmt.Sprintf("worker %d round %d", w, r)
				hotNames.Store(name, true)
				code, err := post(hot, name)
				sent.Add(1)
				if err != nil {
					t.Errorf("hot user: %v", err)
					return
				}
				if code == http.StatusOK {
					hotApplied.Add(1)
				}
			}
		})
	}
	for _, path := range []string{UserPathPrefix + hot, FakeUsersPath, FakeStatsPath} {
		readers.Go(func() {
			for range 100 { // bounded: readers must not starve the writers of CPU
				select {
				case <-done:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodGet, s.url+path, nil)
				req.Header.Set("Authorization", "Bearer "+adminToken)
				req.Header.Set("From", entryPoint)
				resp, err := s.client.Do(req)
				if err != nil {
					t.Errorf("GET %s: %v", path, err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("GET %s: status %d", path, resp.StatusCode)
					return
				}
				_ = s.Users()
			}
		})
	}
	writers.Wait()
	close(done)
	readers.Wait()

	for w := range workers {
		for u := range usersPerWorker {
			got := s.mustUser(t, fmt.Sprintf("w%d-u%d", w, u))
			if got.User.Datas["name"].Value != fmt.Sprintf("round %d", rounds-1) || got.Updates != rounds || got.Calls != rounds {
				t.Errorf("w%d-u%d: name %q, %d updates, %d calls; want the last round and %d of each",
					w, u, got.User.Datas["name"].Value, got.Updates, got.Calls, rounds)
			}
		}
	}
	h := s.mustUser(t, hot)
	if _, ok := hotNames.Load(h.User.Datas["name"].Value); !ok {
		t.Errorf("hot user holds %q, which nobody sent", h.User.Datas["name"].Value)
	}
	if int64(h.Updates) != hotApplied.Load() || h.Calls != workers*rounds {
		t.Errorf("hot user: %d updates for %d answers 200, %d calls for %d sent", h.Updates, hotApplied.Load(), h.Calls, workers*rounds)
	}
	st := s.Stats()
	if updates := st.Requests[200] + st.Requests[304]; updates < sent.Load() {
		t.Errorf("stats count %d answers 200/304, %d updates were sent", updates, sent.Load())
	}
}
