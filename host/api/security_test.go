package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/whetml/whet/host/api"
	"github.com/whetml/whet/host/internal/whettest"
	"github.com/whetml/whet/host/server"
	"github.com/whetml/whet/sdk"
)

// rawReq is one hand-made request of the security tests.
type rawReq struct {
	method, path, ctype, origin, host, key string
	body                                   string
	header                                 map[string]string
}

// send sends r to ts and returns the status, the body and the response headers.
func (ts *testServer) send(r rawReq) (int, string, http.Header) {
	ts.t.Helper()
	req, err := http.NewRequest(r.method, ts.url+r.path, strings.NewReader(r.body))
	if err != nil {
		ts.t.Fatal(err)
	}
	if r.ctype != "" {
		req.Header.Set("Content-Type", r.ctype)
	}
	if r.origin != "" {
		req.Header.Set("Origin", r.origin)
	}
	if r.host != "" {
		req.Host = r.host
	}
	if r.key != "" {
		req.Header.Set("Authorization", "Bearer "+r.key)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func (ts *testServer) port() string {
	u, _ := url.Parse(ts.url)
	return u.Port()
}

// TestSecurityKeylessBrowserGuards is the CSRF / DNS-rebinding case: a keyless server (what `make demo` runs) refuses
// what a web page the user visits could send it, and still serves its own page and the CLI.
func TestSecurityKeylessBrowserGuards(t *testing.T) {
	ts := start(t, opts{api: func(c *api.Config) { c.AllowOrigins = []string{"http://app.example"} }})
	dir := filepath.Join(t.TempDir(), "m1")
	if err := whettest.WriteModel(dir, "neg", "pos"); err != nil {
		t.Fatal(err)
	}
	importBody, _ := json.Marshal(sdk.CreateModelRequest{FromPath: dir})
	self := "http://127.0.0.1:" + ts.port()
	var mp bytes.Buffer
	mpType := multipartWriter(&mp, "t.jsonl", "{\"text\":\"a\",\"label\":\"x\"}\n", map[string]string{"purpose": "fine-tune"})
	cases := []struct {
		name   string
		req    rawReq
		status int
		want   string
	}{
		{"text/plain JSON (a form or no-cors fetch)", rawReq{method: "POST", path: "/v1/models", ctype: "text/plain", body: string(importBody)},
			415, "Content-Type must be application/json"},
		{"form-encoded", rawReq{method: "POST", path: "/v1/fine_tuning/jobs", ctype: "application/x-www-form-urlencoded", body: "model=x"},
			415, "Content-Type must be application/json"},
		{"no content type", rawReq{method: "POST", path: "/v1/models", body: string(importBody)}, 415, "Content-Type"},
		{"foreign origin", rawReq{method: "POST", path: "/v1/models", ctype: "application/json", origin: "http://evil.example", body: string(importBody)},
			403, "cross-origin request from http://evil.example refused"},
		{"foreign origin multipart", rawReq{method: "POST", path: "/v1/files", ctype: mpType, origin: "http://evil.example", body: mp.String()},
			403, "cross-origin"},
		{"null origin", rawReq{method: "POST", path: "/v1/fine_tuning/jobs/x/cancel", origin: "null"}, 403, "cross-origin"},
		{"rebound host name", rawReq{method: "GET", path: "/v1/models", host: "evil.example:" + ts.port()}, 403, "Host evil.example"},
		{"rebound host claiming a proxy", rawReq{method: "GET", path: "/v1/models", host: "evil.example:" + ts.port(),
			header: map[string]string{"X-Forwarded-Host": "localhost:" + ts.port()}}, 403, "Host evil.example"},
		{"rebound host, metrics", rawReq{method: "GET", path: "/metrics", host: "evil.example:" + ts.port()}, 403, "Host"},
		{"allowed foreign origin preflight", rawReq{method: "OPTIONS", path: "/v1/models", origin: "http://app.example"}, 204, ""},
		{"allowed foreign origin", rawReq{method: "GET", path: "/v1/models", origin: "http://app.example"}, 200, `"object":"list"`},
		{"localhost", rawReq{method: "GET", path: "/v1/models", host: "localhost:" + ts.port()}, 200, `"object":"list"`},
		{"the page itself", rawReq{method: "GET", path: "/", host: "localhost:" + ts.port()}, 200, "whet"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body, hdr := ts.send(tc.req)
			if status != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("got %d %s, want %d containing %q", status, body, tc.status, tc.want)
			}
			if tc.req.origin == "http://app.example" && hdr.Get("Access-Control-Allow-Origin") != "http://app.example" {
				t.Fatalf("allowed origin got no CORS header: %v", hdr)
			}
		})
	}
	if list, err := ts.c.ListModels(context.Background()); err != nil || len(list.Data) != 0 {
		t.Fatalf("refused requests registered models: %+v %v", list, err)
	}
	// The page's own requests (same origin, JSON) and the SDK work.
	status, body, _ := ts.send(rawReq{method: "POST", path: "/v1/models", ctype: "application/json; charset=utf-8", origin: self, body: string(importBody)})
	if status != 200 {
		t.Fatalf("same-origin import: %d %s", status, body)
	}
	if _, err := ts.c.ListModels(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestSecurityKeyedServerAnswersAnyHost: with a key the Host name is not checked (the key is the guard), origins still are.
func TestSecurityKeyedServerAnswersAnyHost(t *testing.T) {
	ts := start(t, opts{keys: []string{"k1"}})
	if status, body, _ := ts.send(rawReq{method: "GET", path: "/v1/models", host: "whet.example.com", key: "k1"}); status != 200 {
		t.Fatalf("keyed server, named host: %d %s", status, body)
	}
	if status, _, _ := ts.send(rawReq{method: "GET", path: "/v1/models", origin: "http://evil.example", key: "k1"}); status != 403 {
		t.Fatalf("keyed server, foreign origin: %d, want 403", status)
	}
}

// TestSecurityKeylessRefusesPublicAddress: no key on a non-loopback address is refused unless --insecure-no-auth.
func TestSecurityKeylessRefusesPublicAddress(t *testing.T) {
	for _, tc := range []struct {
		name     string
		keys     []string
		insecure bool
		ok       bool
	}{
		{"keyless", nil, false, false},
		{"keyless, insecure", nil, true, true},
		{"with key", []string{"k"}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ready := make(chan struct{}, 1)
			done := make(chan error, 1)
			go func() {
				done <- server.Run(ctx, server.Config{Addr: "0.0.0.0:0", DataDir: t.TempDir(), Bin: fakeBin, APIKeys: tc.keys,
					InsecureNoAuth: tc.insecure, Ready: func(_ net.Addr) { ready <- struct{}{} }})
			}()
			select {
			case err := <-done:
				if tc.ok || err == nil || !strings.Contains(err.Error(), "--insecure-no-auth") {
					t.Fatalf("Run = %v, want ok=%v", err, tc.ok)
				}
			case <-ready:
				if !tc.ok {
					t.Fatal("server started keyless on 0.0.0.0")
				}
				cancel()
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("server neither started nor failed")
			}
		})
	}
}

// TestSecurityJSONBodyLimitBeforeReading: a JSON body announced larger than the limit is refused from its header.
func TestSecurityJSONBodyLimitBeforeReading(t *testing.T) {
	ts := start(t, opts{api: func(c *api.Config) { c.MaxJSONBytes = 1024 }})
	status, body, _ := ts.send(rawReq{method: "POST", path: "/v1/fine_tuning/jobs", ctype: "application/json",
		body: `{"model":"` + strings.Repeat("x", 4096) + `"}`})
	if status != 413 || !strings.Contains(body, "limit of 1024 bytes") {
		t.Fatalf("got %d %s, want 413", status, body)
	}
}

// TestSecurityEvaluateHangup: evaluations run concurrently, and one whose client went away is stopped at once
// instead of holding its turn until it ends.
func TestSecurityEvaluateHangup(t *testing.T) {
	marks := t.TempDir()
	ts := start(t, opts{env: []string{"FAKEWHET_EVAL_DELAY_MS=60000", "FAKEWHET_EVAL_MARK=" + marks}})
	m := ts.model("m", "neg", "pos")
	f := ts.upload("v.jsonl", whettest.SST2(20))
	ctx, cancel := context.WithCancel(context.Background())
	for range 2 {
		go ts.c.Evaluate(ctx, m.ID, sdk.EvaluateRequest{File: f.ID})
	}
	alive := func() (n int) {
		entries, _ := os.ReadDir(marks)
		for _, e := range entries {
			if pid, _ := strconv.Atoi(e.Name()); pid > 0 && syscall.Kill(pid, 0) == nil {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(15 * time.Second)
	for alive() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("2 evaluations asked for, %d running after 15 s: they run one at a time", alive())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel() // both clients hang up
	deadline = time.Now().Add(15 * time.Second)
	for alive() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d evaluations still running 15 s after their clients went away", alive())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
