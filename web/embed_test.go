package web

import (
	"io/fs"
	"path"
	"regexp"
	"strings"
	"testing"
)

// TestFS checks the embedded page without a browser: index.html and its stylesheet and entry module are there,
// every relative ES module import resolves to an embedded file, and nothing refers to another host (no CDN).
func TestFS(t *testing.T) {
	fsys := FS()
	for _, name := range []string{"index.html", "app.css", "js/app.js", "js/wasi.js", "js/preprocess.js"} {
		if _, err := fs.Stat(fsys, name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	index, err := fs.ReadFile(fsys, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range regexp.MustCompile(`(?:src|href)="([^"#][^"]*)"`).FindAllStringSubmatch(string(index), -1) {
		if strings.HasPrefix(ref[1], "data:") {
			continue
		}
		if _, err := fs.Stat(fsys, ref[1]); err != nil {
			t.Errorf("index.html refers to %s: %v", ref[1], err)
		}
	}
	imports := regexp.MustCompile(`(?m)^\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'|^\s*import\s+'([^']+)'`)
	external := regexp.MustCompile(`(?i)(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}/`)
	n := 0
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		src := string(b)
		if strings.HasSuffix(p, ".js") {
			n++
			for _, m := range imports.FindAllStringSubmatch(src, -1) {
				spec := m[1] + m[2]
				if !strings.HasPrefix(spec, "./") && !strings.HasPrefix(spec, "../") {
					t.Errorf("%s imports %q: only relative imports of embedded files work without a build step", p, spec)
					continue
				}
				if _, err := fs.Stat(fsys, path.Join(path.Dir(p), spec)); err != nil {
					t.Errorf("%s imports %q: %v", p, spec, err)
				}
			}
		}
		for _, u := range external.FindAllString(src, -1) {
			if !strings.Contains(u, "//www.w3.org/") { // the SVG namespace name, not a request
				t.Errorf("%s refers to another host: %s", p, u)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 8 {
		t.Errorf("only %d JavaScript files embedded", n)
	}
}
