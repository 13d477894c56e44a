package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whetml/whet/host/api"
	"github.com/whetml/whet/host/internal/whettest"
	"github.com/whetml/whet/host/server"
	"github.com/whetml/whet/host/store"
	"github.com/whetml/whet/sdk"
)

// scopedKeys stores one key of each scope (and a revoked admin key) in data and returns them by name.
func scopedKeys(t *testing.T, data string) map[string]string {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(ctx)
	keys := map[string]string{}
	for _, scope := range store.Scopes() {
		if keys[scope], _, err = st.CreateKey(ctx, scope, scope); err != nil {
			t.Fatal(err)
		}
	}
	revoked, id, _ := st.CreateKey(ctx, "gone", store.ScopeAdmin)
	if err := st.RevokeKey(ctx, id); err != nil {
		t.Fatal(err)
	}
	keys["revoked"] = revoked
	return keys
}

// TestSecurityScopes: read keys read and predict, user keys also change things, only admin keys import from_path.
func TestSecurityScopes(t *testing.T) {
	data := t.TempDir()
	keys := scopedKeys(t, data)
	ts := start(t, opts{keys: []string{"flag-key"}, data: data})
	dir := filepath.Join(t.TempDir(), "m")
	if err := whettest.WriteModel(dir, "neg", "pos"); err != nil {
		t.Fatal(err)
	}
	imp := func(id string) string {
		b, _ := json.Marshal(sdk.CreateModelRequest{FromPath: dir, ID: id})
		return string(b)
	}
	var mp bytes.Buffer
	mw := multipartWriter(&mp, "t.jsonl", "{\"text\":\"a\",\"label\":\"x\"}\n{\"text\":\"b\",\"label\":\"y\"}\n", map[string]string{"purpose": "fine-tune"})
	cases := []struct {
		name   string
		req    rawReq
		status int
		want   string
	}{
		{"read lists", rawReq{method: "GET", path: "/v1/models", key: keys["read"]}, 200, `"object":"list"`},
		{"read uploads", rawReq{method: "POST", path: "/v1/files", ctype: mw, body: mp.String(), key: keys["read"]}, 403, "read scope"},
		{"read imports", rawReq{method: "POST", path: "/v1/models", ctype: "application/json", body: imp("a"), key: keys["read"]}, 403, "scope"},
		{"user imports", rawReq{method: "POST", path: "/v1/models", ctype: "application/json", body: imp("a"), key: keys["user"]}, 403, "admin"},
		{"revoked admin", rawReq{method: "GET", path: "/v1/models", key: keys["revoked"]}, 401, "incorrect API key"},
		{"user uploads", rawReq{method: "POST", path: "/v1/files", ctype: mw, body: mp.String(), key: keys["user"]}, 200, `"object":"file"`},
		{"admin imports", rawReq{method: "POST", path: "/v1/models", ctype: "application/json", body: imp("a"), key: keys["admin"]}, 200, `"id":"a"`},
		{"flag key is admin", rawReq{method: "POST", path: "/v1/models", ctype: "application/json", body: imp("b"), key: "flag-key"}, 200, `"id":"b"`},
		{"read predicts", rawReq{method: "POST", path: "/v1/models/a/predict", ctype: "application/json", body: `{"inputs":["x"]}`, key: keys["read"]}, 200, `"label"`},
		{"read deletes", rawReq{method: "DELETE", path: "/v1/models/a", key: keys["read"]}, 403, "read scope"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if status, body, _ := ts.send(tc.req); status != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("got %d %s, want %d containing %q", status, body, tc.status, tc.want)
			}
		})
	}
}

// TestSecurityKeylessInsecureIsNotAdmin: a keyless server run with --insecure-no-auth does not import from_path.
func TestSecurityKeylessInsecureIsNotAdmin(t *testing.T) {
	ts := start(t, opts{srv: func(c *server.Config) { c.InsecureNoAuth = true }})
	dir := filepath.Join(t.TempDir(), "m")
	if err := whettest.WriteModel(dir, "neg", "pos"); err != nil {
		t.Fatal(err)
	}
	_, err := ts.c.CreateModel(context.Background(), sdk.CreateModelRequest{FromPath: dir})
	apiErr(t, err, 403, "admin")
}

// TestSecurityFromPath is the symlink import case: from_path errors do not tell what exists, symbolic links that
// leave the folder (or the import root) are refused, and the files are copied so later changes on disk do not
// change the registered model.
func TestSecurityFromPath(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	secret := filepath.Join(outside, "secret.txt")
	os.WriteFile(secret, []byte("top secret\n"), 0o600)
	ts := start(t, opts{api: func(c *api.Config) { c.ImportRoots = []string{root} }})
	write := func(dir string) string {
		if err := whettest.WriteModel(dir, "neg", "pos"); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "vocab.txt"), []byte("[PAD]\n[UNK]\nhello\n"), 0o644)
		return dir
	}
	good := write(filepath.Join(root, "good"))
	escape := write(filepath.Join(root, "escape"))
	os.Remove(filepath.Join(escape, "vocab.txt"))
	os.Symlink(secret, filepath.Join(escape, "vocab.txt"))
	inner := write(filepath.Join(root, "inner"))
	os.Rename(filepath.Join(inner, "vocab.txt"), filepath.Join(inner, "vocab-real.txt"))
	os.Symlink("vocab-real.txt", filepath.Join(inner, "vocab.txt"))
	write(filepath.Join(outside, "model"))
	os.Mkdir(filepath.Join(root, "empty"), 0o755)
	os.WriteFile(filepath.Join(root, "file"), []byte("x"), 0o600)
	os.Symlink(outside, filepath.Join(root, "link-out"))

	ctx := context.Background()
	// Every way of not being an importable folder answers the same message.
	for _, p := range []string{filepath.Join(root, "missing"), filepath.Join(root, "file"), filepath.Join(root, "empty"),
		filepath.Join(outside, "model"), filepath.Join(root, "link-out", "model"), "/etc"} {
		_, err := ts.c.CreateModel(ctx, sdk.CreateModelRequest{FromPath: p, ID: "x"})
		se := apiErr(t, err, 400, "is not a model folder this server imports")
		if got := strings.ReplaceAll(se.Err.Message, p, "P"); !strings.HasPrefix(got, `from_path "P" is not a model folder`) {
			t.Fatalf("from_path %s: message %q tells more than the others", p, se.Err.Message)
		}
	}
	_, err := ts.c.CreateModel(ctx, sdk.CreateModelRequest{FromPath: escape})
	apiErr(t, err, 400, "vocab.txt is a symbolic link leading out of")
	if _, err := ts.c.CreateModel(ctx, sdk.CreateModelRequest{FromPath: inner}); err != nil {
		t.Fatalf("a link inside the folder: %v", err)
	}
	if _, err := ts.c.CreateModel(ctx, sdk.CreateModelRequest{FromPath: good}); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join(good, "vocab.txt"))
	os.WriteFile(filepath.Join(good, "vocab.txt"), []byte("[PAD]\nchanged\n"), 0o644)
	os.RemoveAll(good)
	for _, id := range []string{"good", "inner"} {
		status, body, _ := ts.send(rawReq{method: "GET", path: "/v1/models/" + id + "/files/vocab.txt"})
		if status != 200 || body != string(want) {
			t.Fatalf("model %s vocab.txt after the source changed: %d %q, want the imported %q", id, status, body, want)
		}
	}
	if list, _ := ts.c.ListModels(ctx); len(list.Data) != 2 {
		t.Fatalf("models: %+v, want good and inner only", list.Data)
	}
	if _, err := ts.c.Predict(ctx, "good", sdk.PredictRequest{Inputs: []string{"x"}}); err != nil {
		t.Fatalf("predict with the source folder gone: %v", err)
	}
}

// TestSecurityMetrics: /metrics (model ids, traffic) needs an API key of any scope or the metrics token.
func TestSecurityMetrics(t *testing.T) {
	data := t.TempDir()
	keys := scopedKeys(t, data)
	ts := start(t, opts{data: data, api: func(c *api.Config) { c.MetricsToken = "scrape" }})
	for _, tc := range []struct {
		name, key string
		status    int
	}{{"no key", "", 401}, {"wrong", "nope", 401}, {"read key", keys["read"], 200}, {"metrics token", "scrape", 200}} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := ts.send(rawReq{method: "GET", path: "/metrics", key: tc.key})
			if status != tc.status || (status == 200 && !strings.Contains(body, "whet_jobs")) {
				t.Fatalf("GET /metrics: %d %.200s, want %d", status, body, tc.status)
			}
		})
	}
	// A scrape has no body (the Prometheus handler would read one whole).
	if status, _, _ := ts.send(rawReq{method: "GET", path: "/metrics", key: keys["read"], body: strings.Repeat("x", 1<<20)}); status != 400 {
		t.Fatalf("GET /metrics with a body: %d, want 400", status)
	}
	// The metrics token opens nothing else.
	if status, _, _ := ts.send(rawReq{method: "GET", path: "/v1/models", key: "scrape"}); status != 401 {
		t.Fatalf("metrics token on /v1/models: %d, want 401", status)
	}
}
