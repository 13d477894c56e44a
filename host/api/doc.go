// Package api is whet's HTTP API on fiber v2: the routes of DESIGN.md, API-key authentication, request limits
// and timeouts, structured request logs, Prometheus metrics, /healthz and the web UI.
//
// Handlers only decode, validate, call host/jobs, host/store, host/predict or host/sandbox, and encode; they
// return errors, and one ErrorHandler (errors.go) maps typed errors to a status and an sdk.ErrorResponse body
// in the OpenAI shape {"error":{"message","type","param","code"}}. Request and response bodies are the sdk
// package's wire types. api never imports native/: training and prediction run in subprocesses.
//
//	srv, err := api.New(api.Config{Store: st, Queue: q, Predictor: pool, Sandbox: rt, APIKeys: keys})
//	app := srv.App()                 // fiber app with every route
//	go app.Listener(ln)
//	...
//	srv.Close(ctx)                   // end event streams
//	app.ShutdownWithContext(ctx)     // drain requests
//
// # Authentication
//
// When Config.APIKeys is non-empty or the store holds keys (`whet keys create`), every /v1 route needs
// "Authorization: Bearer <key>"; /healthz, /metrics and the web UI stay open. Stored keys are sha256 hashes.
package api
