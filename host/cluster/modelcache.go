package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/whetml/whet/host/modeldir"
)

// DefaultMaxModelCacheBytes is WorkerConfig.MaxModelCacheBytes' default: 4 × DefaultMaxArtifactSize (32 GiB), room
// for a training slot's base model and the prediction pool's predict.DefaultMaxLoaded bases at once at the largest
// archive size a worker accepts, and one more; of BERT-base-sized models (~0.5 GiB) it keeps about 60.
const DefaultMaxModelCacheBytes = 4 * DefaultMaxArtifactSize

// maxModelCacheFlag names the setting in the worker's errors and logs.
const maxModelCacheFlag = "whet worker --max-model-cache"

// archives is where the model cache's folders come from: the Object Store's model archives (objectArchives); tests
// use their own.
type archives interface {
	// size returns the bytes of object's archive, an upper bound of its files' (an error matching
	// jetstream.ErrObjectNotFound when there is no such object).
	size(ctx context.Context, object string) (int64, error)
	// fetch downloads object's archive into the folder dst, replacing it.
	fetch(ctx context.Context, object, dst string) error
}

// objectArchives are the archives of the Object Store obs, each downloaded up to limit bytes.
type objectArchives struct {
	obs   jetstream.ObjectStore
	limit int64
}

func (a objectArchives) size(ctx context.Context, object string) (int64, error) {
	var n int64
	err := retried(ctx, func() error {
		info, err := a.obs.GetInfo(ctx, object)
		if err != nil {
			return fmt.Errorf("download %s: %w", object, err)
		}
		n = int64(info.Size)
		return nil
	})
	return n, err
}

func (a objectArchives) fetch(ctx context.Context, object, dst string) error {
	return replaceDir(ctx, a.obs, object, dst, a.limit)
}

// modelCache is a worker's model folders, DataDir/models/<hash of the archive object's name>: one per model archive
// object (objModel: a new version of a model is a new object), downloaded on first use and kept while they fit the
// bound. Before a download that would take the folders' total size (a folder's size is the sum of its files') past
// the bound, the least recently used folders not in use are removed. A folder is in use from acquire until the
// modelRef it returned is released: a training attempt holds its base model until its trainer exits, a predict
// request its model and adapter until it is answered, and the prediction pool's bookkeeping (loadedModels) the
// models and adapters its processes may have loaded. Recency is the folder's modification time, set on every use, so
// it survives restarts; opening the cache removes partial downloads and trims it to the bound.
//
// When everything cached is in use the download proceeds past the bound, with a warning naming it, and the cache is
// trimmed as soon as folders are released: refusing would stop training and serving. An archive larger than the
// bound is refused. The zero value is not usable: see openModelCache.
type modelCache struct {
	dir  string // DataDir/models
	max  int64  // bytes; < 0: no limit
	from archives
	log  *slog.Logger

	fetchMu sync.Mutex // one download at a time

	mu      sync.Mutex
	entries map[string]*cacheEntry // the complete folders, by name
	total   int64                  // the entries' sizes
	pending int64                  // the archive size of the download under way
	trashed int                    // folders renamed for removal so far (their names' suffix)
}

// cacheEntry is one cached model folder.
type cacheEntry struct {
	name string
	size int64
	refs int       // uses not yet released
	used time.Time // last use; the folder's modification time
}

// modelRef is one use of a cached model folder, which stays on disk until Release.
type modelRef struct {
	c    *modelCache
	e    *cacheEntry
	once sync.Once
}

// Dir is the model folder.
func (r *modelRef) Dir() string { return filepath.Join(r.c.dir, r.e.name) }

// Release ends this use; the folder may be evicted once no use remains. Idempotent.
func (r *modelRef) Release() { r.once.Do(func() { r.c.release(r.e) }) }

// Retain returns another use of the same folder, released on its own.
func (r *modelRef) Retain() *modelRef {
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	r.e.refs++
	return &modelRef{c: r.c, e: r.e}
}

// openModelCache opens the model cache in dir, bounded to max bytes (< 0: no limit), downloading its folders from
// from. It removes what an interrupted download or eviction left and folders without a model (neither config.json
// nor adapter_config.json), then evicts the least recently used folders beyond max.
func openModelCache(dir string, max int64, from archives, log *slog.Logger) (*modelCache, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("model cache: %w", err)
	}
	ds, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("model cache: %w", err)
	}
	c := &modelCache{dir: dir, max: max, from: from, log: log, entries: map[string]*cacheEntry{}}
	for _, d := range ds {
		if !d.IsDir() {
			continue
		}
		p := filepath.Join(dir, d.Name())
		if !strings.Contains(d.Name(), ".") && modeldir.IsModelFolder(p) { // not a .part or .evicted-N folder
			info, ierr := d.Info()
			size, serr := dirSize(p)
			if ierr == nil && serr == nil {
				c.entries[d.Name()] = &cacheEntry{name: d.Name(), size: size, used: info.ModTime()}
				c.total += size
				continue
			}
		}
		if err := os.RemoveAll(p); err != nil {
			log.Warn("model cache: remove a partial folder", "dir", p, "err", err)
		}
	}
	c.mu.Lock()
	trash, _ := c.trimLocked(0)
	c.mu.Unlock()
	c.remove(trash)
	log.Info("model cache opened", "dir", dir, "models", len(c.entries), "bytes", c.total, "max_bytes", max)
	return c, nil
}

// dirSize is the sum of the sizes of the files under dir.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	return n, err
}

// acquire returns a use of the folder of model id's archive object, downloading it first when it is not cached.
// The caller releases it once done with the folder.
//
// # Errors
//
// An archive larger than the cache's bound (naming the flag that sets it), or the download's error (matching
// jetstream.ErrObjectNotFound when there is no such object).
func (c *modelCache) acquire(ctx context.Context, id, object string) (*modelRef, error) {
	name := cacheName(object)
	if r := c.hold(name); r != nil {
		return r, nil
	}
	c.fetchMu.Lock()
	defer c.fetchMu.Unlock()
	if r := c.hold(name); r != nil { // downloaded while this waited
		return r, nil
	}
	need, err := c.from.size(ctx, object)
	if err != nil {
		return nil, err
	}
	if c.max >= 0 && need > c.max {
		return nil, fmt.Errorf("model[%s]: its archive (%d bytes) is larger than this worker's model cache may hold (%d bytes): raise %s",
			id, need, c.max, maxModelCacheFlag)
	}
	c.mu.Lock()
	trash, fits := c.trimLocked(need)
	c.pending = need
	total := c.total
	c.mu.Unlock()
	c.remove(trash)
	if !fits {
		c.log.Warn("model cache over its limit: every cached model is in use", "model", id, "bytes", total+need,
			"max_bytes", c.max, "limit", maxModelCacheFlag)
	}
	dir := filepath.Join(c.dir, name)
	err = c.from.fetch(ctx, object, dir)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending = 0
	if err != nil {
		return nil, err
	}
	size, err := dirSize(dir)
	if err != nil {
		size = need
	}
	e := &cacheEntry{name: name, size: size}
	c.entries[name] = e
	c.total += size
	c.touchLocked(e)
	e.refs++
	c.log.Info("model cached", "model", id, "dir", dir, "bytes", size, "cache_bytes", c.total)
	return &modelRef{c: c, e: e}, nil
}

// cacheName is the name of archive object's folder in the cache.
func cacheName(object string) string {
	sum := sha256.Sum256([]byte(object))
	return hex.EncodeToString(sum[:8])
}

// hold returns a use of the cached folder name, or nil when it is not cached (or was removed behind the cache's
// back: it is forgotten and downloaded again).
func (c *modelCache) hold(name string) *modelRef {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[name]
	if e == nil {
		return nil
	}
	if e.refs == 0 && !modeldir.IsModelFolder(filepath.Join(c.dir, name)) {
		delete(c.entries, name)
		c.total -= e.size
		return nil
	}
	e.refs++
	c.touchLocked(e)
	return &modelRef{c: c, e: e}
}

func (c *modelCache) release(e *cacheEntry) {
	c.mu.Lock()
	e.refs--
	c.touchLocked(e)
	trash, _ := c.trimLocked(0) // past the bound while everything was in use
	c.mu.Unlock()
	c.remove(trash)
}

// touchLocked records a use of e now, in memory and as its folder's modification time.
func (c *modelCache) touchLocked(e *cacheEntry) {
	e.used = time.Now()
	if err := os.Chtimes(filepath.Join(c.dir, e.name), e.used, e.used); err != nil {
		c.log.Warn("model cache: record a use", "dir", e.name, "err", err)
	}
}

// trimLocked evicts the least recently used folders not in use until need more bytes fit the bound, renaming each
// out of the way (the caller removes the returned folders without c.mu). It reports whether need fits.
func (c *modelCache) trimLocked(need int64) (trash []string, fits bool) {
	if c.max < 0 || c.total+c.pending+need <= c.max {
		return nil, true
	}
	var idle []*cacheEntry
	for _, e := range c.entries {
		if e.refs == 0 {
			idle = append(idle, e)
		}
	}
	slices.SortFunc(idle, func(a, b *cacheEntry) int {
		if d := a.used.Compare(b.used); d != 0 {
			return d
		}
		return strings.Compare(a.name, b.name)
	})
	for _, e := range idle {
		if c.total+c.pending+need <= c.max {
			break
		}
		c.trashed++
		p := filepath.Join(c.dir, e.name+".evicted-"+strconv.Itoa(c.trashed))
		if err := os.Rename(filepath.Join(c.dir, e.name), p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			c.log.Warn("model cache: evict", "dir", e.name, "err", err)
			continue
		}
		delete(c.entries, e.name)
		c.total -= e.size
		trash = append(trash, p)
		c.log.Info("model evicted from the cache", "dir", e.name, "bytes", e.size, "last_used", e.used,
			"cache_bytes", c.total, "max_bytes", c.max)
	}
	return trash, c.total+c.pending+need <= c.max
}

// remove deletes the folders trimLocked evicted.
func (c *modelCache) remove(trash []string) {
	for _, p := range trash {
		if err := os.RemoveAll(p); err != nil {
			c.log.Warn("model cache: remove an evicted folder", "dir", p, "err", err)
		}
	}
}
