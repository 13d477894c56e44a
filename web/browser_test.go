package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/whetml/whet/sdk"
)

// chromiumPath is Debian's chromium; the tests never download a browser.
const chromiumPath = "/usr/bin/chromium"

// testAPIKey is the key the test server requires, so the page's API-key flow is exercised too.
const testAPIKey = "web-test-key"

// TestBrowser starts a real server from $WHET_BIN with a tiny fine-tuned model and drives the page in headless
// chromium (test/browser.mjs): in-browser word pieces equal to the server's tokenization, predictions equal to the
// API's, a job started from the upload page that succeeds with a loss curve drawn, a job cancelled from its page,
// error and API-key messages. Screenshots go to $WHET_SCREENSHOTS or build/web-screenshots.
func TestBrowser(t *testing.T) {
	root, bin := browserSetup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	tmp := t.TempDir()

	// A tiny model on a small vocab, registered and fine-tuned through the API.
	baseDir := tinyModel(t, ctx, bin, tmp, "base", "neg,pos", "--seed", "7")
	train := filepath.Join(tmp, "train.jsonl")
	writeFile(t, train, sentences(160, 1))
	small := filepath.Join(tmp, "upload.jsonl")
	writeFile(t, small, sentences(96, 2))
	base, c, _ := serveModel(t, ctx, bin, tmp, baseDir, "tiny-base")
	f, err := os.Open(train)
	if err != nil {
		t.Fatal(err)
	}
	file, err := c.UploadFile(ctx, sdk.UploadFileRequest{Filename: "train.jsonl", Content: f, Purpose: sdk.PurposeFineTune})
	f.Close()
	if err != nil {
		t.Fatalf("upload the training file: %v", err)
	}
	wd, seed, warmup := 0.0, int64(3), 0.1
	job, err := c.CreateJob(ctx, sdk.CreateJobRequest{Model: "tiny-base", TrainingFile: file.ID, Suffix: "demo",
		Hyperparameters: sdk.Hyperparameters{NEpochs: 4, BatchSize: 8, LearningRate: 2e-3, MaxSeqLength: 32, WeightDecay: &wd, Seed: &seed, WarmupRatio: &warmup}})
	if err != nil {
		t.Fatalf("create the fine-tuning job: %v", err)
	}
	if err := c.StreamJobEvents(ctx, job.ID, 0, func(sdk.JobEvent) error { return nil }); err != nil {
		t.Fatalf("follow job %s: %v", job.ID, err)
	}
	if job, err = c.GetJob(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	if job.Status != sdk.JobSucceeded || job.FineTunedModel == nil {
		t.Fatalf("fine-tuning job %s ended %s: %+v", job.ID, job.Status, job.Error)
	}
	t.Logf("fine-tuned %s in %d steps", *job.FineTunedModel, job.TrainedSteps)

	shots := os.Getenv("WHET_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join(root, "build", "web-screenshots")
	}
	texts, _ := json.Marshal([]string{"The movie was great fun, I loved it!", "What a boring, awful film. I hated the plot.", "我很喜欢这部电影"})
	// Enough steps (~430) to outlast the server's one-per-second throttle of stored step events several times over,
	// so the loss curve has several points.
	hp, _ := json.Marshal(map[string]any{"n_epochs": 10, "batch_size": 2, "learning_rate": 0.001, "warmup_ratio": 0.1})
	runBrowserScript(t, ctx, root, "WHET_URL="+base, "WHET_API_KEY="+testAPIKey, "WHET_MODEL="+*job.FineTunedModel,
		"WHET_BASE_MODEL=tiny-base", "WHET_TRAIN_FILE="+small, "WHET_TEXTS="+string(texts), "WHET_HP="+string(hp),
		"WHET_SCREENSHOTS="+shots)
}

// TestBrowserMock drives the same browser script against test/mock-server.mjs, a stand-in API with made-up
// training and predictions but the real bert-wordpiece module, so the pages are exercised where no whet binary
// with libtorch is built. It checks the page against that API, not the model.
func TestBrowserMock(t *testing.T) {
	root := repoRoot(t)
	skipWithoutBrowser(t, root)
	if !fileExists(filepath.Join(root, "wasm/modules/bin/bert-wordpiece.wasm")) {
		t.Skip("wasm/modules/bin/bert-wordpiece.wasm not built: run `make wasm`")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	mock := exec.CommandContext(ctx, "node", filepath.Join(root, "web/test/mock-server.mjs"), "0")
	mock.Env = append(os.Environ(), "MOCK_API_KEY="+testAPIKey)
	mock.Stderr = os.Stderr
	out, err := mock.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := mock.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = mock.Process.Kill()
		_ = mock.Wait()
	})
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		t.Fatal("mock server printed nothing")
	}
	base := sc.Text()[strings.LastIndex(sc.Text(), " ")+1:]
	go func() {
		for sc.Scan() {
		}
	}()
	train := filepath.Join(t.TempDir(), "upload.jsonl")
	writeFile(t, train, sentences(40, 2))
	shots := os.Getenv("WHET_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join(root, "build", "web-screenshots")
	}
	runBrowserScript(t, ctx, root, "WHET_URL="+base, "WHET_API_KEY="+testAPIKey, "WHET_MODEL=ft:tiny:demo:ftjob-mock1",
		"WHET_BASE_MODEL=tiny", "WHET_TRAIN_FILE="+train, `WHET_TEXTS=["The movie was great fun, I loved it!","我很喜欢这部电影"]`,
		`WHET_HP={"n_epochs":1,"max_steps":12}`, "WHET_SCREENSHOTS="+filepath.Join(shots, "mock"))
}

// skipWithoutBrowser skips unless chromium, node and playwright-core are installed.
// browserSetup returns the repository root and $WHET_BIN for a test that drives a real server in the browser,
// skipping the test (saying why) when the binary or the browser is missing.
func browserSetup(t *testing.T) (root, bin string) {
	t.Helper()
	root = repoRoot(t)
	bin = os.Getenv("WHET_BIN")
	switch {
	case bin == "":
		t.Skip("WHET_BIN is not set: the browser test needs a built whet binary (make test sets it)")
	case !fileExists(bin):
		t.Skipf("WHET_BIN=%s does not exist", bin)
	}
	skipWithoutBrowser(t, root)
	return root, bin
}

func skipWithoutBrowser(t *testing.T, root string) {
	t.Helper()
	if !fileExists(chromiumPath) {
		t.Skipf("%s not installed (apt-get install chromium); the tests never download a browser", chromiumPath)
	}
	if !fileExists(filepath.Join(root, "node_modules/playwright-core/package.json")) {
		t.Skip("node_modules/playwright-core missing: run npm ci")
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node not on PATH")
	}
}

// runBrowserScript runs test/browser.mjs with env, logging its lines; a non-zero exit fails the test.
func runBrowserScript(t *testing.T, ctx context.Context, root string, env ...string) {
	t.Helper()
	var fails []string
	err := runScript(t, ctx, root, "browser.mjs", env, func(line string, _ io.Writer) {
		if strings.HasPrefix(line, "FAIL") {
			fails = append(fails, line)
		}
	})
	if err != nil {
		t.Fatalf("browser.mjs: %v\n%s", err, strings.Join(fails, "\n"))
	}
}

// runScript runs web/test/script in node with env and CHROMIUM, logging each line it prints and handing it to
// onLine with the script's stdin; it returns how the script exited.
func runScript(t *testing.T, ctx context.Context, root, script string, env []string, onLine func(line string, stdin io.Writer)) error {
	t.Helper()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(root, "web/test", script))
	cmd.Dir = root
	cmd.Env = append(append(os.Environ(), "CHROMIUM="+chromiumPath), env...)
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
	for sc.Scan() {
		t.Log(sc.Text())
		onLine(sc.Text(), stdin)
	}
	return cmd.Wait()
}

// testVocab is a small WordPiece vocab covering the generated sentences, some word pieces and a few Chinese
// characters.
func testVocab() []string {
	v := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "!", ",", ".", "?", "'"}
	v = append(v, strings.Fields("the a an this that it was is movie film plot story acting music i we they really very "+
		"great good fun wonderful loved love enjoyed brilliant bad boring awful terrible hated hate dull waste not what "+
		"of and but so too much time")...)
	v = append(v, "##s", "##ing", "##ed", "##ly", "##er", "un", "##able")
	v = append(v, strings.Split("我很喜欢讨厌这部电影好看无聊的", "")...)
	return v
}

// sentences returns n JSONL rows alternating positive and negative, generated from templates with seed.
func sentences(n int, seed int64) string {
	r := rand.New(rand.NewSource(seed))
	subj := []string{"the movie", "this film", "the plot", "the acting", "the story", "the music"}
	pos := []string{"was great", "was wonderful", "is really good", "was brilliant fun", "we loved it", "i enjoyed it very much"}
	neg := []string{"was boring", "was awful", "is really bad", "was a terrible waste of time", "we hated it", "i found it dull"}
	zhPos, zhNeg := []string{"我很喜欢这部电影", "这部电影很好看"}, []string{"我很讨厌这部电影", "这部电影很无聊"}
	var b strings.Builder
	for i := 0; i < n; i++ {
		label, words, zh := "pos", pos, zhPos
		if i%2 == 1 {
			label, words, zh = "neg", neg, zhNeg
		}
		text := subj[r.Intn(len(subj))] + " " + words[r.Intn(len(words))] + []string{".", "!", ""}[r.Intn(3)]
		if r.Intn(5) == 0 {
			text = zh[r.Intn(len(zh))]
		}
		fmt.Fprintf(&b, "{\"text\":%q,\"label\":%q}\n", text, label)
	}
	return b.String()
}

// tinyModel writes testVocab into tmp and makes the model folder tmp/name with `whet model init`: a BERT classifier
// with 2 layers, hidden size 32, 2 heads, 64 positions and labels; flags are init's further flags.
func tinyModel(t *testing.T, ctx context.Context, bin, tmp, name, labels string, flags ...string) string {
	t.Helper()
	vocab := filepath.Join(tmp, "vocab.txt")
	writeFile(t, vocab, strings.Join(testVocab(), "\n")+"\n")
	dir := filepath.Join(tmp, name)
	run(t, ctx, bin, append([]string{"model", "init", "--vocab", vocab, "--labels", labels, "--layers", "2", "--hidden", "32",
		"--heads", "2", "--intermediate", "64", "--max-position", "64", "--out", dir}, flags...)...)
	return dir
}

// serveModel starts a server on tmp/data (startServer) and registers the model folder dir on it as id; it returns
// the server's URL, a client with the test key and the function that stops the server.
func serveModel(t *testing.T, ctx context.Context, bin, tmp, dir, id string) (string, *sdk.Client, func()) {
	t.Helper()
	base, stop := startServer(t, ctx, bin, filepath.Join(tmp, "data"))
	c := sdk.NewClient(base, sdk.WithAPIKey(testAPIKey))
	if _, err := c.CreateModel(ctx, sdk.CreateModelRequest{FromPath: dir, ID: id}); err != nil {
		t.Fatalf("register the model %s: %v", id, err)
	}
	return base, c, stop
}

// startServer runs `whet serve` on a free port until the test ends or stop is called, waits for /healthz and returns
// its base URL.
func startServer(t *testing.T, ctx context.Context, bin, data string) (base string, stop func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	logPath := filepath.Join(t.TempDir(), "serve.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--addr", addr, "--data", data, "--api-key", testAPIKey)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		})
	}
	t.Cleanup(func() {
		stop()
		logFile.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("server log (last 4 KiB):\n%s", tail(b, 4096))
			}
		}
	})
	base = "http://" + addr
	deadline := time.NewTimer(90 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			once.Do(func() {}) // nothing left to stop
			b, _ := os.ReadFile(logPath)
			t.Fatalf("whet serve exited: %v\n%s", err, tail(b, 4096))
		case <-deadline.C:
			t.Fatalf("whet serve did not answer /healthz on %s within 90s", addr)
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-tick.C:
			resp, err := http.Get(base + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return base, stop
				}
			}
		}
	}
}

func run(t *testing.T, ctx context.Context, bin string, args ...string) {
	t.Helper()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
