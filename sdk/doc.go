// Package sdk is the typed Go client for whet's HTTP API, and the owner of its wire types.
//
// The whet CLI itself (`whet jobs`, `whet files`, `whet modules`, `whet models`, `whet predict --server`) and the
// end-to-end tests talk to the server only through this package, and the server (host/api) decodes requests straight
// into the types of types.go, so the two cannot drift apart.
//
// sdk imports only the standard library: nothing from host, native or wasm.
//
// # Calling the API
//
// There is one Client method per endpoint, named after it, with the context first. A response whose status is not
// 2xx comes back as a *StatusError carrying the server's Error body:
//
//	c := sdk.NewClient("http://127.0.0.1:8080", sdk.WithAPIKey(key))
//	f, err := c.UploadFile(ctx, "train.jsonl", r, sdk.PurposeFineTune)
//	job, err := c.CreateJob(ctx, sdk.CreateJobRequest{Model: "tiny-bert", TrainingFile: f.ID})
//	err = c.StreamJobEvents(ctx, job.ID, 0, func(ev sdk.JobEvent) error {
//		fmt.Println(ev.Message)
//		return nil
//	})
//	preds, err := c.Predict(ctx, job.FineTunedModel, sdk.PredictRequest{Inputs: []string{"great movie"}})
//
// # Errors
//
// Every error body has the OpenAI shape {"error":{"message","type","param","code"}}. Use errors.As with
// *StatusError to branch on StatusCode or on Err.Code.
package sdk
