// Package protocol is the one definition of how the server talks to its native subprocesses (docs/contracts.md):
//
//   - `whet train --progress json`: one Event per stderr line (log, step, eval, checkpoint, done, error) and a
//     TrainSummary as the last stdout line. An error Event carries a Code saying whose fault the failure is.
//   - `whet worker predict`: a Ready line, then one Response per Request, in order. Each row of a Response is a
//     Result or a per-row error; one bad text fails only its own row.
//
// Serve is the worker's request loop with the model behind the Model interface, so the loop runs (and is tested)
// without libtorch. The package is pure Go and imports only the standard library.
//
//	ev, ok := protocol.ParseEvent(line)          // host side: one stderr line of a trainer
//	err := protocol.Serve(ctx, model, os.Stdin, os.Stdout) // worker side
package protocol
