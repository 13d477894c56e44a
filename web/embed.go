package web

import (
	"embed"
	"errors"
	"io/fs"
	"strings"
)

//go:embed static
var static embed.FS

// ortFiles holds onnxruntime-web's files when `make build` has copied them (ortweb/README.md says which).
//
//go:embed ortweb
var ortFiles embed.FS

// ORTPrefix is where FS serves onnxruntime-web's files (the demo page imports ORTPrefix + "ort.wasm.min.mjs").
const ORTPrefix = "vendor/ort/"

// FS returns the page's static files rooted at the static folder (index.html, app.css and js/**) plus
// onnxruntime-web under ORTPrefix when the build bundled it. The server mounts it at `/`; the files are read-only
// and safe to share between requests.
func FS() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // cannot happen: "static" is a valid, embedded path
	}
	ort, err := fs.Sub(ortFiles, "ortweb")
	if err != nil {
		panic(err)
	}
	return pageFS{page: sub, ort: ort}
}

// HasORT reports whether this build bundled onnxruntime-web.
func HasORT() bool {
	_, err := fs.Stat(FS(), ORTPrefix+"ort.wasm.min.mjs")
	return err == nil
}

// pageFS serves ORTPrefix from ort and everything else from page.
type pageFS struct{ page, ort fs.FS }

func (p pageFS) Open(name string) (fs.File, error) {
	if rest, ok := strings.CutPrefix(name, ORTPrefix); ok {
		if rest == "README.md" {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		f, err := p.ort.Open(rest)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: errors.Unwrap(err)}
		}
		return f, nil
	}
	return p.page.Open(name)
}
