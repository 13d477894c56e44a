// Package predict serves predictions from model folders through long-lived `whet worker predict` subprocesses
// (docs/contracts.md): the server never loads native code itself.
//
// A Pool keeps up to Config.MaxLoaded workers, one per model, unloading the least recently used. LoRA adapter models
// are served by their base model's worker (PredictAdapter): one process holds the base weights once for the base and
// all its adapters, which the worker loads on first use; Unload of an adapter unloads it there without a restart. Concurrent
// Predict calls for one model are batched dynamically: while the worker computes a batch, new requests queue, and
// the next batch takes all of them up to Config.MaxBatch inputs, as one NDJSON request; an idle worker gets a
// request at once (Config.BatchWait > 0 makes a batch wait that long for more). The worker answers each row on its
// own (internal/protocol), so a rejected input fails only its own caller. A worker that dies fails the requests it
// held and is restarted on next use. Config.Start replaces the subprocess (tests run the worker loop in process).
//
// predict imports sdk and internal/protocol; never native/.
//
//	p, err := predict.New(predict.Config{Bin: "/usr/local/bin/whet"})
//	defer p.Close(ctx)
//	preds, err := p.Predict(ctx, "ft:tiny:sst2:ftjob-1", "/data/jobs/ftjob-1/out", []string{"great movie"})
package predict
