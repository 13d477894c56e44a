package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// indexDir is the sub-folder of Config.CacheDir that lists, per uploaded module, the cache files its compilation
// wrote (wazero names them by an internal key), so that Forget can remove them.
const indexDir = "whet-index"

// cacheFiles lists the files under the cache folder (the index excluded), relative to it.
func (rt *Runtime) cacheFiles() map[string]bool {
	out := map[string]bool{}
	if rt.cfg.CacheDir == "" {
		return out
	}
	_ = filepath.WalkDir(rt.cfg.CacheDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(rt.cfg.CacheDir, p)
		if d.IsDir() && rel == indexDir {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			out[rel] = true
		}
		return nil
	})
	return out
}

// recordCacheFiles writes the index of the cache files that appeared since before (nothing when none did: the
// module came from the cache, whose index exists).
func (rt *Runtime) recordCacheFiles(sum string, before map[string]bool) {
	var added []string
	for f := range rt.cacheFiles() {
		if !before[f] {
			added = append(added, f)
		}
	}
	if len(added) == 0 {
		return
	}
	b, _ := json.Marshal(added)
	dir := filepath.Join(rt.cfg.CacheDir, indexDir)
	if err := os.MkdirAll(dir, 0o755); err == nil {
		_ = os.WriteFile(filepath.Join(dir, sum+".json"), b, 0o644)
	}
}

// Forget releases the compiled code of the module with this sha256 (both trust levels) and removes its on-disk
// cache files, so that a deleted module costs neither memory nor disk. Instances still running finish their calls;
// a later Compile of the same bytes compiles them again.
func (rt *Runtime) Forget(ctx context.Context, sum string) error {
	rt.mu.Lock()
	var errs []error
	for _, trusted := range []bool{false, true} {
		key := cacheKey(sum, trusted)
		if c, ok := rt.byKey[key]; ok {
			errs = append(errs, c.cm.Close(ctx))
			delete(rt.byKey, key)
		}
	}
	rt.mu.Unlock()
	return errors.Join(append(errs, rt.removeCacheFiles(sum))...)
}

func (rt *Runtime) removeCacheFiles(sum string) error {
	if rt.cfg.CacheDir == "" || strings.ContainsAny(sum, `/\.`) {
		return nil
	}
	index := filepath.Join(rt.cfg.CacheDir, indexDir, sum+".json")
	b, err := os.ReadFile(index)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var files []string
	if err := json.Unmarshal(b, &files); err != nil {
		return os.Remove(index)
	}
	var errs []error
	for _, f := range files {
		if !filepath.IsLocal(f) {
			continue
		}
		if err := os.Remove(filepath.Join(rt.cfg.CacheDir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(append(errs, os.Remove(index))...)
}

// ForgetAllBut removes the cache files of every indexed module whose sha256 keep does not accept (modules deleted
// while the server was down); a server calls it at start with its stored modules.
func (rt *Runtime) ForgetAllBut(ctx context.Context, keep func(sum string) bool) error {
	if rt.cfg.CacheDir == "" {
		return nil
	}
	entries, err := os.ReadDir(filepath.Join(rt.cfg.CacheDir, indexDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if sum, ok := strings.CutSuffix(e.Name(), ".json"); ok && !keep(sum) {
			errs = append(errs, rt.Forget(ctx, sum))
		}
	}
	return errors.Join(errs...)
}
