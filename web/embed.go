package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// FS returns the page's static files rooted at the static folder: index.html, app.css and js/**. The server mounts
// it at `/`; the files are read-only and safe to share between requests.
func FS() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // cannot happen: "static" is a valid, embedded path
	}
	return sub
}
