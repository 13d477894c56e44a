package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/whetml/whet/host/modeldir"
	"github.com/whetml/whet/host/predict"
	"github.com/whetml/whet/host/predict/predicttest"
	"github.com/whetml/whet/internal/protocol"
	"github.com/whetml/whet/internal/protocol/protocoltest"
)

// fakeArchives serves model archives of the given sizes (a config.json and a weights file making up the bytes)
// and counts downloads.
type fakeArchives struct {
	mu      sync.Mutex
	sizes   map[string]int // by object
	fetches map[string]int
}

func newFakeArchives(sizes map[string]int) *fakeArchives {
	return &fakeArchives{sizes: sizes, fetches: map[string]int{}}
}

func (f *fakeArchives) size(_ context.Context, object string) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.sizes[object]
	if !ok {
		return 0, fmt.Errorf("download %s: %w", object, jetstream.ErrObjectNotFound)
	}
	return int64(n), nil
}

func (f *fakeArchives) fetch(ctx context.Context, object, dst string) error {
	n, err := f.size(ctx, object)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.fetches[object]++
	f.mu.Unlock()
	return writeModel(dst, int(n))
}

// writeModel writes a model folder of size bytes into dir.
func writeModel(dir string, size int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte("{}"), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "model.safetensors"), bytes.Repeat([]byte{'w'}, size-2), 0o644)
}

// seedCache writes the folders of objects (100 bytes each) into dir, each used an hour after the one before, as a
// worker that ran before left them.
func seedCache(t *testing.T, dir string, objects ...string) {
	t.Helper()
	past := time.Now().Add(-24 * time.Hour)
	for i, obj := range objects {
		p := filepath.Join(dir, cacheName(obj))
		if err := writeModel(p, 100); err != nil {
			t.Fatal(err)
		}
		used := past.Add(time.Duration(i) * time.Hour)
		if err := os.Chtimes(p, used, used); err != nil {
			t.Fatal(err)
		}
	}
}

// cached lists the objects of names whose folders are in dir, and fails on anything else there.
func cached(t *testing.T, dir string, names ...string) []string {
	t.Helper()
	ds, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range ds {
		i := slices.IndexFunc(names, func(n string) bool { return cacheName(n) == d.Name() })
		if i < 0 {
			t.Errorf("unexpected %s in the cache", d.Name())
			continue
		}
		out = append(out, names[i])
	}
	slices.Sort(out)
	return out
}

// refs returns the uses of object's folder, -1 when it is not cached.
func refs(c *modelCache, object string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[cacheName(object)]; e != nil {
		return e.refs
	}
	return -1
}

// TestModelCacheEviction: a download that would take the cache past its bound first removes the least recently used
// folders not in use, as many as it takes; one in use stays (the download then proceeds past the bound with a
// warning, and releasing trims the cache back); an archive larger than the bound is refused naming the flag.
func TestModelCacheEviction(t *testing.T) {
	for _, tc := range []struct {
		name    string
		max     int64
		inUse   []string // held during the download
		touch   []string // used (and released) before it, in this order
		size    int      // of d's archive
		want    []string // cached after d's download
		wantLog string
		wantErr string
	}{
		{name: "the least recently used goes", max: 300, size: 100, want: []string{"b", "c", "d"}},
		{name: "a use makes a model recent", max: 300, touch: []string{"a"}, size: 100, want: []string{"a", "c", "d"}},
		{name: "a model in use stays", max: 300, inUse: []string{"a"}, size: 100, want: []string{"a", "c", "d"}},
		{name: "as many go as it takes", max: 300, touch: []string{"b"}, size: 200, want: []string{"b", "d"}},
		{name: "everything in use: past the bound", max: 300, inUse: []string{"a", "b", "c"}, size: 100,
			want: []string{"a", "b", "c", "d"}, wantLog: "every cached model is in use"},
		{name: "no limit", max: -1, size: 1000, want: []string{"a", "b", "c", "d"}},
		{name: "archive larger than the bound", max: 300, size: 301, want: []string{"a", "b", "c"},
			wantErr: "larger than this worker's model cache may hold (300 bytes): raise whet worker --max-model-cache"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			seedCache(t, dir, "a", "b", "c") // a least recently used
			var logs bytes.Buffer
			c, err := openModelCache(dir, tc.max, newFakeArchives(map[string]int{"a": 100, "b": 100, "c": 100, "d": tc.size}),
				slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			var held []*modelRef
			for _, obj := range tc.inUse {
				r, err := c.acquire(ctx, obj, obj)
				if err != nil {
					t.Fatal(err)
				}
				held = append(held, r)
			}
			for _, obj := range tc.touch {
				r, err := c.acquire(ctx, obj, obj)
				if err != nil {
					t.Fatal(err)
				}
				r.Release()
			}
			d, err := c.acquire(ctx, "d", "d")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("acquire: %v, want an error with %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if got := cached(t, dir, "a", "b", "c", "d"); !slices.Equal(got, tc.want) {
				t.Errorf("cached %v, want %v", got, tc.want)
			}
			if !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("log lacks %q:\n%s", tc.wantLog, logs.String())
			}
			if d != nil {
				held = append(held, d)
			}
			for _, r := range held {
				r.Release()
			}
			if tc.max >= 0 && c.total > tc.max {
				t.Errorf("%d bytes cached once nothing is in use, want at most %d", c.total, tc.max)
			}
		})
	}
}

// TestModelCacheOpen: a worker restarted with a cache over its bound trims it by the folders' recorded use, and
// removes what interrupted downloads and evictions left; what it keeps is used without a download.
func TestModelCacheOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	seedCache(t, dir, "a", "b", "c")
	for _, junk := range []string{cacheName("x") + ".part", cacheName("y") + ".evicted-3", cacheName("z")} {
		if err := os.MkdirAll(filepath.Join(dir, junk), 0o755); err != nil { // z: no config.json
			t.Fatal(err)
		}
	}
	from := newFakeArchives(map[string]int{"a": 100, "b": 100, "c": 100})
	c, err := openModelCache(dir, 250, from, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if got := cached(t, dir, "a", "b", "c"); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("cached %v after opening, want [b c]", got)
	}
	if c.total != 200 {
		t.Errorf("total %d, want 200", c.total)
	}
	r, err := c.acquire(ctx, "b", "b")
	if err != nil {
		t.Fatal(err)
	}
	r.Release()
	if from.fetches["b"] != 0 {
		t.Errorf("b downloaded %d times, want 0 (cached)", from.fetches["b"])
	}
	if err := os.RemoveAll(r.Dir()); err != nil { // removed by hand: downloaded again
		t.Fatal(err)
	}
	if r, err = c.acquire(ctx, "b", "b"); err != nil || !modeldir.IsModelFolder(r.Dir()) || from.fetches["b"] != 1 {
		t.Errorf("acquire b after its folder was removed: %v, %d downloads", err, from.fetches["b"])
	}
}

// TestLoadedModelsPinFolders: the folders of the models the prediction pool may hold loaded stay cached; a base
// is unloaded (and its folders released) when a third comes, the least recently used one without a request in
// flight; adapters beyond the process's bound are released least recently used first.
func TestLoadedModelsPinFolders(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c, err := openModelCache(dir, 1000, newFakeArchives(map[string]int{"a": 100, "b": 100, "c": 100, "d": 100,
		"w": 10, "x": 10, "y": 10, "z": 10}), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var unloaded []string
	l := newLoadedModels(2, 2, func(id string) { unloaded = append(unloaded, id) })
	// request runs one predict request's bookkeeping (as worker.predict) and returns its end.
	request := func(base, adapter string) func() {
		t.Helper()
		b, err := c.acquire(ctx, base, base)
		if err != nil {
			t.Fatal(err)
		}
		var a *modelRef
		if adapter != "" {
			if a, err = c.acquire(ctx, adapter, adapter); err != nil {
				t.Fatal(err)
			}
		}
		end := l.begin(base, b, adapter, a)
		return func() {
			end()
			b.Release()
			if a != nil {
				a.Release()
			}
		}
	}
	busy := request("a", "x")
	request("b", "")()
	request("c", "")() // b goes: a, used before, has a request in flight
	request("c", "y")()
	request("c", "z")()
	request("c", "y")()
	request("c", "w")() // a third adapter on c: z goes
	busy()
	request("d", "") // a goes: c was used since
	want := map[string]int{"a": 0, "b": 0, "c": 1, "d": 2, "w": 1, "x": 0, "y": 1, "z": 0}
	for obj, n := range want {
		if got := refs(c, obj); got != n {
			t.Errorf("%s: %d uses, want %d", obj, got, n)
		}
	}
	if !slices.Equal(unloaded, []string{"b", "a"}) {
		t.Errorf("unloaded %v, want [b a]", unloaded)
	}
	l.releaseAll()
	if got := refs(c, "c"); got != 0 {
		t.Errorf("c: %d uses after releaseAll, want 0", got)
	}
}

// startInProcess runs m as the pool's worker in this process (predicttest.InProcess), for a model folder that must
// be in the cache.
func startInProcess(m protocol.Model) predict.StartFunc {
	start := predicttest.InProcess(m)
	return func(dir string) (predict.Process, error) {
		if !modeldir.IsModelFolder(dir) {
			return nil, fmt.Errorf("no model in %s", dir)
		}
		return start(dir)
	}
}

// TestPredictReleasesModels: the worker's predict requests release their uses of the cached folders once answered;
// what stays in use is the folders of the two bases the pool keeps loaded and their adapters, so a download needing
// room evicts the base the pool unloaded, not those.
func TestPredictReleasesModels(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := openModelCache(dir, 400, newFakeArchives(map[string]int{"models/a/1.tar": 100, "models/b/1.tar": 100,
		"models/c/1.tar": 100, "models/x/1.tar": 50, "models/d/1.tar": 100}), log)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := predict.New(predict.Config{Start: startInProcess(&protocoltest.HashModel{Names: []string{"neg", "pos"}, Adapters: true}),
		MaxLoaded: 2, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close(ctx)
	w := &worker{log: log, models: c, loaded: newLoadedModels(2, predictMaxAdapters, pool.Unload)}
	for _, req := range []predictReq{
		{Model: "a", Object: "models/a/1.tar", Inputs: []string{"hi"}},
		{Model: "b", Object: "models/b/1.tar", Inputs: []string{"hi"}, Adapter: "x", AdapterObject: "models/x/1.tar"},
		{Model: "c", Object: "models/c/1.tar", Inputs: []string{"hi"}},
		{Model: "nope", Object: "models/nope/1.tar", Inputs: []string{"hi"}},
	} {
		b, _ := json.Marshal(req)
		resp := w.predict(ctx, pool, b)
		if want := req.Model == "nope"; resp.MissingModel != want || !want && (resp.Error != "" || len(resp.Results) != 1) {
			t.Fatalf("predict %s: %+v", req.Model, resp)
		}
	}
	for obj, n := range map[string]int{"models/a/1.tar": 0, "models/b/1.tar": 1, "models/x/1.tar": 1, "models/c/1.tar": 1} {
		if got := refs(c, obj); got != n {
			t.Errorf("%s: %d uses, want %d", obj, got, n)
		}
	}
	if n := pool.Stats().Loaded; n != 2 {
		t.Errorf("%d models loaded, want 2", n)
	}
	d, err := c.acquire(ctx, "d", "models/d/1.tar") // 350 cached + 100: a goes
	if err != nil {
		t.Fatal(err)
	}
	defer d.Release()
	names := []string{"models/a/1.tar", "models/b/1.tar", "models/c/1.tar", "models/x/1.tar", "models/d/1.tar"}
	if got, want := cached(t, dir, names...), []string{"models/b/1.tar", "models/c/1.tar", "models/d/1.tar", "models/x/1.tar"}; !slices.Equal(got, want) {
		t.Errorf("cached %v, want %v", got, want)
	}
}
