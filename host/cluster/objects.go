package cluster

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// tarFile is one file of an archive: its name inside the archive and its path on disk.
type tarFile struct{ name, path string }

// dirFiles lists the regular files under dir as archive entries, skipping the top-level folders in skip.
func dirFiles(dir string, skip ...string) ([]tarFile, error) {
	var out []tarFile
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			for _, s := range skip {
				if rel == s {
					return filepath.SkipDir
				}
			}
			return nil
		}
		if d.Type().IsRegular() {
			out = append(out, tarFile{name: rel, path: p})
		}
		return nil
	})
	return out, err
}

// retried runs f until it succeeds, 6 times at most over about 6 s (JetStream takes a few seconds to elect a
// new leader when a NATS node goes), or until ctx ends or f fails for good: a *badArchiveError or a missing object.
func retried(ctx context.Context, f func() error) error {
	var err error
	for try := 0; ; try++ {
		var bad *badArchiveError
		if err = f(); err == nil || try == 5 || errors.As(err, &bad) || errors.Is(err, jetstream.ErrObjectNotFound) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(200<<try) * time.Millisecond):
		}
	}
}

// badArchiveError is an archive refused for its content: fetching it again would not help.
type badArchiveError struct{ msg string }

func (e *badArchiveError) Error() string { return e.msg }

// putFiles streams files as one tar archive into the object name of obs, trying again on failures.
func putFiles(ctx context.Context, obs jetstream.ObjectStore, name string, files []tarFile) error {
	return retried(ctx, func() error { return putFilesOnce(ctx, obs, name, files) })
}

func putFilesOnce(ctx context.Context, obs jetstream.ObjectStore, name string, files []tarFile) error {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := func() error {
			for _, f := range files {
				if err := addFile(tw, f); err != nil {
					return err
				}
			}
			return tw.Close()
		}()
		pw.CloseWithError(err)
	}()
	_, err := obs.Put(ctx, jetstream.ObjectMeta{Name: name}, pr)
	pr.CloseWithError(err) // unblocks the writer when Put failed early
	if err != nil {
		return fmt.Errorf("upload %s: %w", name, err)
	}
	return nil
}

func addFile(tw *tar.Writer, f tarFile) error {
	in, err := os.Open(f.path)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: st.Size(), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err = io.Copy(tw, in)
	return err
}

// getFiles downloads the tar archive name from obs into the folder dst (created), writing at most limit bytes.
// Only regular files with relative names that stay inside dst are accepted. Failures are tried again.
func getFiles(ctx context.Context, obs jetstream.ObjectStore, name, dst string, limit int64) error {
	return retried(ctx, func() error { return getFilesOnce(ctx, obs, name, dst, limit) })
}

func getFilesOnce(ctx context.Context, obs jetstream.ObjectStore, name, dst string, limit int64) error {
	res, err := obs.Get(ctx, name)
	if err != nil {
		return fmt.Errorf("download %s: %w", name, err)
	}
	defer res.Close()
	if err := extract(res, dst, limit); err != nil {
		return fmt.Errorf("download %s: %w", name, err)
	}
	return nil
}

func extract(r io.Reader, dst string, limit int64) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	tr := tar.NewReader(r)
	var written int64
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		clean := path.Clean(h.Name)
		if h.Typeflag != tar.TypeReg || path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") ||
			strings.ContainsAny(clean, "\\\x00") {
			return &badArchiveError{fmt.Sprintf("archive entry %q: only regular files inside the archive are allowed", h.Name)}
		}
		target := filepath.Join(dst, filepath.FromSlash(clean))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		n, err := io.Copy(f, io.LimitReader(tr, limit-written+1))
		written += n
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if written > limit {
			return &badArchiveError{fmt.Sprintf("archive is larger than the limit of %d bytes", limit)}
		}
	}
}

// replaceDir downloads the archive name into a fresh folder next to dst, then swaps it in for dst.
func replaceDir(ctx context.Context, obs jetstream.ObjectStore, name, dst string, limit int64) error {
	tmp := dst + ".part"
	_ = os.RemoveAll(tmp)
	if err := getFiles(ctx, obs, name, tmp, limit); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	_ = os.RemoveAll(dst)
	return os.Rename(tmp, dst)
}

// objModel names the archive of model id's folder dir in the bucket, by the id and the fingerprint of the folder's
// files: a model deleted and registered again under the same id gets a new name, so neither the bucket nor a
// worker's cache (keyed by the name) serves the old folder.
func objModel(id, dir string) (string, error) {
	files, err := dirFiles(dir, "checkpoints")
	if err != nil {
		return "", fmt.Errorf("model[%s]: %w", id, err)
	}
	fp, err := fingerprint(files)
	if err != nil {
		return "", fmt.Errorf("model[%s]: %w", id, err)
	}
	return "models/" + id + "/" + fp + ".tar", nil
}

// fingerprint identifies files' contents without reading them: a hash of each one's archive name, path on this
// server, size and modification time (24 hex digits). Rewriting a file, or replacing a folder by another, changes it.
func fingerprint(files []tarFile) (string, error) {
	h := sha256.New()
	for _, f := range files {
		st, err := os.Stat(f.path)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d\x00", f.name, f.path, st.Size(), st.ModTime().UnixNano())
	}
	return hex.EncodeToString(h.Sum(nil)[:12]), nil
}
