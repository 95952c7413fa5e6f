package druidsim_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"druid-migrate/druidsim"
	"druid-migrate/sink"
)

// A test serves the simulator in-process, seeds a user and updates it through real HTTP.
// Re-sending what the user holds changes nothing: 304, empty body.
func Example() {
	sim := druidsim.New(druidsim.Config{Tokens: []string{"admin"}})
	if err := sim.Seed(druidsim.Seed{User: sink.User{ObjectID: "u1"}}); err != nil {
		panic(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()

	body, _ := json.Marshal(sink.Request{
		Actor: sink.Actor{ID: "app", ObjectType: sink.ObjectTypeApplication},
		Verb:  "update",
		Object: sink.User{
			ObjectType: sink.ObjectTypeUser,
			ObjectID:   "u1",
			IDs:        map[string]sink.ID{"email": {ObjectType: sink.ObjectTypeUserID, Value: "ana@example.com"}},
			Datas:      map[string]sink.Data{"name": {ObjectType: sink.ObjectTypeUserData, Value: "Ana"}},
		},
		Source: sink.Device{ID: "pc", ObjectType: sink.ObjectTypeDevice},
	})
	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+druidsim.UpdatePath, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer admin")
		req.Header.Set("From", "231705665113870-main")
		resp, err := srv.Client().Do(req)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
	}
	u, _ := sim.User("u1")
	fmt.Println(u.User.Datas["name"].Value, u.Updates, u.Calls)
	// Output:
	// 200
	// 304
	// Ana 1 2
}

// A test of a client's token refresh expires the token it holds: once SetTokens has
// returned, the old token gets 401 and the new one is accepted.
func ExampleServer_SetTokens() {
	sim := druidsim.New(druidsim.Config{Tokens: []string{"monday"}})
	srv := httptest.NewServer(sim)
	defer srv.Close()

	sim.SetTokens("tuesday")
	for _, token := range []string{"monday", "tuesday"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+druidsim.UserPathPrefix+"u1", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("From", "231705665113870-main")
		resp, err := srv.Client().Do(req)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Println(token, resp.StatusCode)
	}
	// Output:
	// monday 401
	// tuesday 404
}
