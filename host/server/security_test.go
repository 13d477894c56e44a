package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/whetml/whet/host/internal/whettest"
	"github.com/whetml/whet/sdk"
)

// The server's promises under hostile clients (README "Security"), against a real server process: these run in
// `make test` and `make test-security`.

// vmKB reads a field of /proc/<pid>/status ("VmHWM", "VmRSS") in KiB.
func vmKB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// zeros is an endless body.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestSecurityPreAuthBodies is the pre-auth body case: concurrent large posts without a key are
// refused before their bodies are read, so the server's peak RSS barely moves.
func TestSecurityPreAuthBodies(t *testing.T) {
	p := launch(t, nil, serverBin, "--data", t.TempDir(), "--api-key", "secret")
	pid := p.cmd.Process.Pid
	before := vmKB(t, pid, "VmHWM")
	const size = 128 << 20
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	mw.WriteField("purpose", "fine-tune")
	mw.CreateFormFile("file", "big.jsonl")
	posts := []struct{ path, ctype string }{
		{"/v1/fine_tuning/jobs", "application/json"},
		{"/v1/models/m/predict", "application/json"},
		{"/v1/files", mw.FormDataContentType()},
		{"/v1/models", mw.FormDataContentType()},
	}
	var wg sync.WaitGroup
	start := time.Now()
	for _, post := range posts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", p.url+post.path, io.MultiReader(bytes.NewReader(mp.Bytes()), io.LimitReader(zeros{}, size)))
			req.ContentLength = int64(mp.Len()) + size
			req.Header.Set("Content-Type", post.ctype)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return // the server answered 401 and closed the connection while the body was being sent
			}
			resp.Body.Close()
			if resp.StatusCode != 401 {
				t.Errorf("POST %s without a key: %d, want 401", post.path, resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	grew := vmKB(t, pid, "VmHWM") - before
	t.Logf("4 unauthenticated posts of %d MiB: peak RSS grew %d MiB in %v", size>>20, grew>>10, time.Since(start))
	if grew > 48<<10 {
		t.Fatalf("peak RSS grew %d MiB for unauthenticated bodies (want < 48 MiB)\n%s", grew>>10, p.stderr)
	}
}

// TestSecurityUploadsStayInDataFolder: a multipart upload larger than any in-memory buffer is streamed to the data
// folder, never to the system's temporary folder (here a path where nothing can be created).
func TestSecurityUploadsStayInDataFolder(t *testing.T) {
	noTmp := filepath.Join(t.TempDir(), "not-a-folder")
	if err := os.WriteFile(noTmp, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	p := launch(t, []string{"TMPDIR=" + noTmp}, serverBin, "--data", t.TempDir())
	var b strings.Builder
	text := strings.Repeat("lorem ipsum ", 170)
	for i := 0; b.Len() < 20<<20; i++ {
		fmt.Fprintf(&b, "{\"text\":\"%d %s\",\"label\":\"%c\"}\n", i, text, 'a'+i%2)
	}
	// With a Content-Length, as curl sends it (the SDK streams chunked).
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("purpose", sdk.PurposeFineTune)
	fw, _ := mw.CreateFormFile("file", "big.jsonl")
	io.WriteString(fw, b.String())
	mw.Close()
	resp, err := http.Post(p.url+"/v1/files", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var f sdk.File
	if err := json.NewDecoder(resp.Body).Decode(&f); err != nil || resp.StatusCode != 200 {
		t.Fatalf("20 MiB upload with TMPDIR unusable: %d %v %+v\n%s", resp.StatusCode, err, f, p.stderr)
	}
	if f.Bytes != int64(b.Len()) {
		t.Fatalf("stored %d bytes, sent %d", f.Bytes, b.Len())
	}
}

// TestSecuritySlowloris is the slowloris case with the fd limit lowered (prlimit, so it stays small): hundreds of
// connections that send half a header and wait neither make the server exit nor keep it from serving once they
// are timed out. With the default connection cap (half the fd limit) the extra connections get 503; without a cap
// accept runs out of descriptors and is retried.
func TestSecuritySlowloris(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) not installed")
	}
	for _, tc := range []struct {
		name  string
		flags []string
	}{
		{"default connection cap", nil},
		{"no cap: accept runs out of descriptors", []string{"--max-conns", "100000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			argv := append([]string{prlimit, "--nofile=128:128", serverBin, "--data", t.TempDir(), "--read-timeout", "1s"}, tc.flags...)
			p := launch(t, nil, argv...)
			var conns []net.Conn
			for range 400 {
				c, err := net.DialTimeout("tcp", strings.TrimPrefix(p.url, "http://"), time.Second)
				if err != nil {
					continue
				}
				conns = append(conns, c)
				c.Write([]byte("POST /v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le"))
			}
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			healthy := false
			for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && !healthy; time.Sleep(200 * time.Millisecond) {
				if p.cmd.ProcessState != nil || syscall.Kill(p.cmd.Process.Pid, 0) != nil {
					break
				}
				client := http.Client{Timeout: 2 * time.Second}
				if resp, err := client.Get(p.url + "/healthz"); err == nil {
					healthy = resp.StatusCode == 200
					resp.Body.Close()
				}
			}
			if !healthy {
				t.Fatalf("server stopped serving under %d slow connections\n%s", len(conns), p.stderr)
			}
			if err := syscall.Kill(p.cmd.Process.Pid, 0); err != nil {
				t.Fatalf("server exited: %v\n%s", err, p.stderr)
			}
			p.cmd.Process.Signal(syscall.SIGTERM)
			if err := p.cmd.Wait(); err != nil {
				t.Fatalf("server shutdown: %v\n%s", err, p.stderr)
			}
			if tc.flags != nil && !strings.Contains(p.stderr.String(), "accept failed; retrying") {
				t.Fatalf("no cap, yet accept never ran out of descriptors:\n%s", p.stderr)
			}
		})
	}
}

// hostileWasm builds host/sandbox/testdata/hostile (a module that loops, hogs memory, panics on request).
func hostileWasm(t *testing.T) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "hostile.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s -w", "-o", out, "./host/sandbox/testdata/hostile")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the hostile module: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSecurityModuleRuns is the concurrent dry-run case: many simultaneous dry runs of a module that takes all the
// memory it may are bounded (one at a time per key by default, a short queue, 429 past it), so the server's peak
// RSS grows by about one run's worth, not one per request.
func TestSecurityModuleRuns(t *testing.T) {
	wasm := hostileWasm(t)
	p := launch(t, nil, serverBin, "--data", t.TempDir(), "--module-queue", "2")
	ctx := context.Background()
	c := sdk.NewClient(p.url)
	dir := filepath.Join(t.TempDir(), "m")
	if err := whettest.WriteModel(dir, "neg", "pos"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "vocab.txt"), []byte("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhog\n"), 0o644)
	if _, err := c.CreateModel(ctx, sdk.CreateModelRequest{FromPath: dir, ID: "m"}); err != nil {
		t.Fatal(err)
	}
	mod, err := c.UploadModule(ctx, sdk.UploadModuleRequest{Filename: "hostile.wasm", Content: bytes.NewReader(wasm), Kind: sdk.ModuleKindPreprocess})
	if err != nil {
		t.Fatal(err)
	}
	pid := p.cmd.Process.Pid
	before := vmKB(t, pid, "VmHWM")
	n := 8
	if v := os.Getenv("WHET_TEST_RUNS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(p.url+"/v1/modules/"+mod.ID+"/run", "application/json",
				strings.NewReader(`{"model":"m","inputs":["hog"]}`))
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	grew := vmKB(t, pid, "VmHWM") - before
	t.Logf("%d concurrent dry runs of a 256 MiB memory hog: statuses %v, peak RSS grew %d MiB", n, statuses, grew>>10)
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	if count[429] == 0 || count[422] == 0 || count[422]+count[429] != n {
		t.Fatalf("statuses %v: want some 422 (module out of memory) and some 429 (queue full), nothing else", statuses)
	}
	if grew > 2048<<10 {
		// The default budget reserves 1.5 GiB (two such runs at once on a machine with 4 cores or more).
		t.Fatalf("peak RSS grew %d MiB for %d concurrent dry runs (want < 2 GiB: the 1.5 GiB run budget and slack)", grew>>10, n)
	}
}
