package cluster

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

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

// putFiles streams files as one tar archive into the object name of obs.
func putFiles(ctx context.Context, obs jetstream.ObjectStore, name string, files []tarFile) error {
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
// Only regular files with relative names that stay inside dst are accepted.
func getFiles(ctx context.Context, obs jetstream.ObjectStore, name, dst string, limit int64) error {
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
			return fmt.Errorf("archive entry %q: only regular files inside the archive are allowed", h.Name)
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
			return fmt.Errorf("archive is larger than the limit of %d bytes", limit)
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
