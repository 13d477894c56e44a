package api_test

import (
	"strings"
	"testing"

	"github.com/whetml/whet/host/server"
)

// TestWorkerRoutes: the /v1/workers routes are admin-only and answer 404 on a server without --cluster.
func TestWorkerRoutes(t *testing.T) {
	data := t.TempDir()
	keys := scopedKeys(t, data)
	ts := start(t, opts{keys: []string{"flag-key"}, data: data,
		srv: func(c *server.Config) { c.Cluster = &server.ClusterConfig{Addr: "127.0.0.1:0"} }})
	plain := start(t, opts{})
	cases := []struct {
		name   string
		ts     *testServer
		req    rawReq
		status int
		want   string
	}{
		{"user issues a token", ts, rawReq{method: "POST", path: "/v1/workers/tokens", ctype: "application/json", body: `{}`, key: keys["user"]}, 403, "admin scope"},
		{"read lists workers", ts, rawReq{method: "GET", path: "/v1/workers", key: keys["read"]}, 403, "admin scope"},
		{"admin issues a token", ts, rawReq{method: "POST", path: "/v1/workers/tokens", ctype: "application/json", body: `{"name":"gpu1"}`, key: keys["admin"]}, 200, `"user":"wcred-`},
		{"admin lists workers", ts, rawReq{method: "GET", path: "/v1/workers", key: keys["admin"]}, 200, `"data":[]`},
		{"unknown worker", ts, rawReq{method: "POST", path: "/v1/workers/wrk-x/drain", key: keys["admin"]}, 404, "worker[wrk-x]"},
		{"no cluster", plain, rawReq{method: "GET", path: "/v1/workers"}, 404, "--cluster"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if status, body, _ := tc.ts.send(tc.req); status != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("got %d %s, want %d containing %q", status, body, tc.status, tc.want)
			}
		})
	}
}
