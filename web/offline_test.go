package web

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
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
	vocab := filepath.Join(tmp, "vocab.txt")
	writeFile(t, vocab, strings.Join(testVocab(), "\n")+"\n")
	model := filepath.Join(tmp, "model")
	// A random classifier with large weights: its labels vary from sentence to sentence and sit far from the decision
	// boundary, so int8 and fp32 must agree with the server exactly.
	run(t, ctx, bin, "model", "init", "--vocab", vocab, "--labels", "neg,pos,mixed", "--layers", "2", "--hidden", "32",
		"--heads", "2", "--intermediate", "64", "--max-position", "64", "--initializer-range", "1.0", "--seed", "11", "--out", model)
	base, stop := startServer(t, ctx, bin, filepath.Join(tmp, "data"))
	c := sdk.NewClient(base, sdk.WithAPIKey(testAPIKey))
	if _, err := c.CreateModel(ctx, sdk.CreateModelRequest{FromPath: model, ID: "offline"}); err != nil {
		t.Fatal(err)
	}
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
	cmd := exec.CommandContext(ctx, "node", filepath.Join(root, "web/test/offline.mjs"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromiumPath, "WHET_URL="+base, "WHET_API_KEY="+testAPIKey,
		"WHET_MODEL=offline", "WHET_TEXTS="+string(textsJSON))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	seen := 0
	for sc.Scan() {
		line := sc.Text()
		t.Log(line)
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
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("offline.mjs: %v", err)
	}
	if seen != 2*len(texts) {
		t.Fatalf("the page labelled %d texts, want %d (int8 and fp32)", seen, 2*len(texts))
	}
}
