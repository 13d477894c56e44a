package api

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/whetml/whet/host/modeldir"
	"github.com/whetml/whet/host/store"
)

// from_path imports (POST /v1/models {"from_path"}): an admin operation that copies a folder of the server's disk
// into the data folder. Every way of not being an importable folder (missing, a file, unreadable, no config.json,
// outside Config.ImportRoots) answers the same message, so the route cannot probe the disk; symbolic links are
// resolved and refused when they lead out of the folder (or out of its import root).

// within reports whether path is root or inside it (both absolute and clean).
func within(path, root string) bool {
	return path == root || root == string(filepath.Separator) || strings.HasPrefix(path, root+string(filepath.Separator))
}

// importArea resolves dir and returns it with the folder its symbolic links may lead into (its import root, or dir
// itself without roots); ok is false when dir is not an importable model folder.
func (s *Server) importArea(dir string) (real, area string, ok bool) {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", "", false
	}
	area = real
	if len(s.cfg.ImportRoots) > 0 {
		area = ""
		for _, r := range s.cfg.ImportRoots {
			if rr, err := filepath.EvalSymlinks(r); err == nil && within(real, rr) {
				area = rr
				break
			}
		}
	}
	if fi, err := os.Stat(real); area == "" || err != nil || !fi.IsDir() {
		return "", "", false
	}
	if fi, err := os.Stat(filepath.Join(real, "config.json")); (err != nil || !fi.Mode().IsRegular()) && !modeldir.IsAdapter(real) {
		return "", "", false
	}
	return real, area, true
}

// importFolder copies the model folder dir (as the client named it) into a new folder under the data folder's tmp/
// and returns that folder; the caller moves or removes it.
func (s *Server) importFolder(dir string) (string, error) {
	real, area, ok := s.importArea(dir)
	if !ok {
		where := ""
		if len(s.cfg.ImportRoots) > 0 {
			where = ", inside a folder given with --import-root"
		}
		return "", badRequest("from_path", "invalid_path", "from_path %q is not a model folder this server imports: it must be an existing folder holding config.json (or a LoRA adapter's adapter_config.json), readable by the server%s", dir, where)
	}
	limit := "the folder"
	if area != real {
		limit = "the import root"
	}
	staging, err := s.st.TempDir("import-*")
	if err != nil {
		return "", err
	}
	err = filepath.WalkDir(real, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(real, path)
		dst := filepath.Join(staging, rel)
		bad := func(format string, args ...any) error {
			return badRequest("from_path", "invalid_model", "from_path %q: %s %s", dir, rel, fmt.Sprintf(format, args...))
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, 0o755)
		case d.Type().IsRegular():
			return copyFile(path, dst)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := filepath.EvalSymlinks(path)
			if err != nil {
				return bad("is a broken symbolic link")
			}
			if !within(target, area) {
				return bad("is a symbolic link leading out of %s", limit)
			}
			if fi, err := os.Stat(target); err != nil || !fi.Mode().IsRegular() {
				return bad("is a symbolic link to something other than a file")
			}
			return copyFile(target, dst)
		}
		return bad("is not a regular file")
	})
	if err != nil {
		os.RemoveAll(staging)
		var ae *Error
		if !errors.As(err, &ae) {
			err = fmt.Errorf("from_path %q: copy into the data folder: %w", dir, err)
		}
		return "", err
	}
	return staging, nil
}

// copyFile copies src to the new file dst (not a hard link: later changes to src must not reach the store).
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// requireAdmin answers 403 unless c's principal has the admin scope.
func requireAdmin(c *fiber.Ctx, what string) error {
	if p := principalOf(c); !store.ScopeAllows(p.scope, store.ScopeAdmin) {
		return forbidden(p, store.ScopeAdmin, what)
	}
	return nil
}
