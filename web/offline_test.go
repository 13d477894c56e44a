package web

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/whetml/whet/sdk"
)

// TestBrowserOffline proves the demo page classifies in the browser: with a real server from $WHET_BIN it loads a
// model's int8 and fp32 ONNX exports and onnxruntime-web (served by whet, bundled by `make build`), then the server
// is stopped and the page labels English and Chinese sentences by itself, each label equal to the server's and shown
// as "in this browser". The page must make no request to another host.
func TestBrowserOffline(t *testing.T) {
	root, bin := browserSetup(t)
	if !HasORT() {
		t.Skip("this build does not bundle onnxruntime-web (web/ortweb is empty): run `make build`")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	// A random classifier with large weights: its labels vary from sentence to sentence and sit far from the decision
	// boundary, so int8 and fp32 must agree with the server exactly.
	model := tinyModel(t, ctx, bin, tmp, "model", "neg,pos,mixed", "--initializer-range", "1.0", "--seed", "11")
	base, c, stop := serveModel(t, ctx, bin, tmp, model, "offline")
	texts := []string{"The movie was great fun, I loved it!", "a boring and awful waste of time", "this film is not good",
		"我很喜欢这部电影", "这部电影很无聊", "我讨厌这部电影!"}
	preds, err := c.Predict(ctx, "offline", sdk.PredictRequest{Inputs: texts})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	distinct := map[string]bool{}
	for i, p := range preds {
		want[texts[i]] = p.Label
		distinct[p.Label] = true
	}
	if len(distinct) < 2 {
		t.Fatalf("the server gives every sentence the label %v: the comparison would not catch a wrong label", preds)
	}
	textsJSON, _ := json.Marshal(texts)
	env := []string{"WHET_URL=" + base, "WHET_API_KEY=" + testAPIKey, "WHET_MODEL=offline", "WHET_TEXTS=" + string(textsJSON)}
	seen := 0
	err = runScript(t, ctx, root, "offline.mjs", env, func(line string, stdin io.Writer) {
		switch {
		case line == "READY":
			stop()
			if _, err := c.Predict(ctx, "offline", sdk.PredictRequest{Inputs: texts[:1]}); err == nil {
				t.Fatal("the server still answers after it was stopped")
			}
			stdin.Write([]byte("go\n"))
		case strings.HasPrefix(line, "external "), strings.HasPrefix(line, "pageerror "), strings.HasPrefix(line, "FAIL"):
			t.Errorf("page: %s", line)
		case strings.HasPrefix(line, "{"):
			var r struct {
				Variant, Text, State, Label, Source, Error string
			}
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatal(err)
			}
			seen++
			if r.State != "done" || r.Source != "browser" {
				t.Errorf("%s %q: state %s, source %q (%s): want a label computed in the browser", r.Variant, r.Text, r.State, r.Source, r.Error)
			} else if r.Label != want[r.Text] {
				t.Errorf("%s %q: browser label %q, server %q", r.Variant, r.Text, r.Label, want[r.Text])
			}
		}
	})
	if err != nil {
		t.Fatalf("offline.mjs: %v", err)
	}
	if seen != 2*len(texts) {
		t.Fatalf("the page labelled %d texts, want %d (int8 and fp32)", seen, 2*len(texts))
	}
}
