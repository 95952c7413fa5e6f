package druidsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"

	"druid-migrate/sink"
)

// BenchmarkUpdate measures a typical update (every part of a user, JSON in and out) through
// ServeHTTP, from parallel clients spread over many users, as the product's benchmarks drive
// the simulator. "changed" alternates a user's name so each call is applied (200); "unchanged"
// re-sends what the user holds (304).
func BenchmarkUpdate(b *testing.B) {
	const users = 4096
	for _, bc := range []struct {
		name    string
		changed bool
		want    int
	}{
		{"changed", true, http.StatusOK},
		{"unchanged", false, http.StatusNotModified},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := New(Config{Tokens: []string{adminToken}, Required: []string{"name", "surname"}})
			bodies := make([][2][]byte, users)
			for i := range users {
				id := fmt.Sprintf("user-%06d", i)
				if err := s.Seed(seeded(id)); err != nil {
					b.Fatal(err)
				}
				for v := range 2 {
					req := typical(id)
					if bc.changed && v == 1 {
						req.Object.Datas["name"] = sink.Data{ObjectType: sink.ObjectTypeUserData, Value: "Ana María"}
					}
					body, err := json.Marshal(req)
					if err != nil {
						b.Fatal(err)
					}
					bodies[i][v] = body
				}
			}
			// Each goroutine owns a disjoint range of users and alternates their two bodies,
			// so every call of "changed" changes its user, however goroutines are scheduled.
			var slot atomic.Int64
			region := max(users/runtime.GOMAXPROCS(0), 1)
			b.ReportAllocs()
			b.SetBytes(int64(len(bodies[0][1])))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				base := int(slot.Add(1)-1) * region % users
				for i := 0; pb.Next(); i++ {
					body := bodies[base+i%region][(i/region+1)%2]
					// Not httptest.NewRequest: parsing a request from text would cost as much
					// as the handler and hide it.
					req, err := http.NewRequest(http.MethodPost, UpdatePath, bytes.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					req.Header.Set("Authorization", "Bearer "+adminToken)
					req.Header.Set("From", entryPoint)
					rec := httptest.NewRecorder()
					s.ServeHTTP(rec, req)
					if rec.Code != bc.want {
						b.Errorf("status %d, want %d: %s", rec.Code, bc.want, rec.Body)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}
