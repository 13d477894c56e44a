// Package web holds whet's in-browser demo and training dashboard: plain ES modules, HTML and CSS embedded in the
// binary with go:embed (no build step, no CDN, no external network).
//
// The page talks to the server only through the HTTP API under /v1 (DESIGN.md), sending the API key the user typed
// as `Authorization: Bearer`. It tokenizes text in the browser with the model's own preprocess .wasm (the module the
// server runs) through a small WASI shim (static/js/wasi.js) and the whet module ABI (static/js/preprocess.js,
// following wasm/ABI.md), shows the word pieces, and calls the predict API. The dashboard lists jobs, draws live
// loss and learning-rate curves from the job event stream, shows per-epoch validation metrics, the confusion matrix
// as a heat map and the checkpoints, and starts and cancels fine-tuning jobs. Routes are hash-based: #/demo,
// #/jobs, #/jobs/ID, #/new, #/models.
//
// It may not import anything from whet: the server mounts FS at `/`.
//
//	app.Use("/", filesystem.New(filesystem.Config{Root: http.FS(web.FS())}))
//
// The browser tests (browser_test.go, test/browser.mjs) drive Debian's chromium with playwright-core against a real
// server started from $WHET_BIN; the shim test (shim_test.go, test/shim.mjs) runs the built bert-wordpiece module in
// node through the same shim and compares its ids with the Go tokenizer.
package web
