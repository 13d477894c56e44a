// Package server assembles the whet server from its parts: the store (host/store), the WASM sandbox
// (host/sandbox), the job queue (host/jobs), the prediction pool (host/predict) and the HTTP API (host/api), and
// runs it until its context ends, then shuts down without losing state: event streams end, HTTP drains, running
// trainers checkpoint and their jobs are requeued, prediction workers stop, the database closes.
//
// `whet serve` is a thin flag parser around Run; tests run the same code in a child process to kill it.
//
//	err := server.Run(ctx, server.Config{Addr: "127.0.0.1:8080", DataDir: "/var/lib/whet"})
//
// server never imports native/: training and prediction run as subprocesses of Config.Bin.
package server
