//go:build cgo

package main

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/whetml/whet/host/modeldir"
	"github.com/whetml/whet/native/infer"
)

// DefaultMaxAdapters is `whet worker predict --max-adapters`' default.
const DefaultMaxAdapters = 64

// adapterSet holds a worker's LoRA adapters of its one base model. Adapters load on first use and share the base's
// weights (each applies its update unmerged, so switching adapters between batches costs nothing); beyond max the
// least recently used is unloaded. Adapters that tokenize alike (same module, vocabulary, casing and length) share
// one tokenizer. Not safe for concurrent use (the worker serves one request at a time).
type adapterSet struct {
	base    *classifier
	baseDir string // the base model folder, which adapters are read against
	module  string // --preprocess-module ("" : each adapter folder's own, else the built-in)
	maxLen  int    // --max-seq-length (0: each adapter folder's own)
	max     int
	byDir   map[string]*list.Element // of *adapterEntry
	lru     *list.List               // front: most recently used
	toks    map[string]*sharedTok
}

type adapterEntry struct {
	dir    string
	c      *classifier
	tokKey string
}

type sharedTok struct {
	tok  tokenizer
	refs int
}

func newAdapterSet(base *classifier, baseDir string, module string, maxLen, maxAdapters int) *adapterSet {
	if maxAdapters <= 0 {
		maxAdapters = DefaultMaxAdapters
	}
	s := &adapterSet{base: base, baseDir: baseDir, module: module, maxLen: maxLen, max: maxAdapters,
		byDir: map[string]*list.Element{}, lru: list.New(), toks: map[string]*sharedTok{}}
	if base.tok != nil {
		// Adapters that tokenize as the base model does use its tokenizer (one reference held by the base, which
		// closes it).
		s.toks[tokKey(base.rt, moduleUsed(module, base.rt), base.maxLen)] = &sharedTok{tok: base.tok, refs: 1}
	}
	return s
}

// tokKey identifies how a folder tokenizes: casing, length, module and the module, vocabulary and tokenizer.json bytes.
func tokKey(rt *modeldir.Runtime, module string, maxLen int) string {
	key := strconv.FormatBool(rt.DoLowerCase) + "|" + strconv.Itoa(maxLen) + "|" + module
	mod, _ := os.ReadFile(module)
	for _, b := range [][]byte{mod, rt.Vocab, rt.TokenizerJSON} {
		h := sha256.Sum256(b)
		key += "|" + hex.EncodeToString(h[:])
	}
	return key
}

// get returns the classifier of the adapter folder dir, loading it when needed.
func (s *adapterSet) get(ctx context.Context, dir string) (*classifier, error) {
	dir = filepath.Clean(dir)
	if el, ok := s.byDir[dir]; ok {
		s.lru.MoveToFront(el)
		return el.Value.(*adapterEntry).c, nil
	}
	ad, labels, err := infer.LoadAdapter(s.base.model, dir)
	if err != nil {
		return nil, err
	}
	e, err := s.open(ctx, dir)
	if err != nil {
		ad.Close()
		return nil, err
	}
	e.c.adapter, e.c.labels = ad, labels
	s.byDir[dir] = s.lru.PushFront(e)
	for s.lru.Len() > s.max {
		s.drop(ctx, s.lru.Back())
	}
	return e.c, nil
}

// open makes the entry of adapter folder dir with its (possibly shared) tokenizer.
func (s *adapterSet) open(ctx context.Context, dir string) (*adapterEntry, error) {
	rt, err := modeldir.ReadAdapterRuntime(dir, s.baseDir)
	if err != nil {
		return nil, err
	}
	maxLen := s.maxLen
	if maxLen <= 0 {
		maxLen = rt.MaxLength
	}
	if maxLen > rt.MaxPositionEmbeddings {
		return nil, fmt.Errorf("adapter[%s]: max sequence length %d is more than max_position_embeddings %d", dir, maxLen, rt.MaxPositionEmbeddings)
	}
	module := moduleUsed(s.module, rt)
	key := tokKey(rt, module, maxLen)
	st := s.toks[key]
	if st == nil {
		tok, err := newTokenizer(ctx, rt, module, maxLen)
		if err != nil {
			return nil, err
		}
		st = &sharedTok{tok: tok}
		s.toks[key] = st
	}
	st.refs++
	c := &classifier{rt: rt, model: s.base.model, tok: st.tok, maxLen: maxLen, batch: s.base.batch}
	return &adapterEntry{dir: dir, c: c, tokKey: key}, nil
}

// unload drops the adapter folder dir; it reports whether it was loaded.
func (s *adapterSet) unload(ctx context.Context, dir string) bool {
	el, ok := s.byDir[filepath.Clean(dir)]
	if ok {
		s.drop(ctx, el)
	}
	return ok
}

func (s *adapterSet) drop(ctx context.Context, el *list.Element) {
	e := el.Value.(*adapterEntry)
	s.lru.Remove(el)
	delete(s.byDir, e.dir)
	e.c.adapter.Close()
	if st := s.toks[e.tokKey]; st != nil {
		if st.refs--; st.refs == 0 {
			st.tok.Close(ctx)
			delete(s.toks, e.tokKey)
		}
	}
}

// loaded returns the adapter folders loaded, most recently used first.
func (s *adapterSet) loaded() []string {
	out := make([]string, 0, s.lru.Len())
	for el := s.lru.Front(); el != nil; el = el.Next() {
		out = append(out, el.Value.(*adapterEntry).dir)
	}
	return out
}

func (s *adapterSet) close(ctx context.Context) {
	for s.lru.Len() > 0 {
		s.drop(ctx, s.lru.Back())
	}
}
