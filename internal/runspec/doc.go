// Package runspec is the one definition of a fine-tuning run: every hyperparameter's name, default, range and
// command-line flag, and the resolved Spec handed to the trainer as a file (`whet train --spec FILE`), stored with
// a server job (DATA/jobs/<id>/spec.json) and written into the model folder as training_args.json (HF's name).
//
// The HTTP API (host/jobs), `whet jobs create`, `whet train` and native/train all take their defaults and checks
// from here, so the same request gives the same run by every route. The defaults follow HuggingFace's Trainer
// (learning rate 5e-5, no warmup, 3 epochs, gradient clipping at 1.0, seed 42, linear decay) except batch size 32
// (the BERT paper's; HF's per-device default is 8) and weight decay 0.01 (the BERT paper's; HF's is 0).
//
// To add a hyperparameter: a field in Hyperparameters (JSON name = the API's, in sdk.Hyperparameters too), its
// default in Default, and a row in params (flag, usage, check). Pure Go; imports sdk for the API's wire type only.
//
//	s := runspec.Default()
//	s.Model, s.TrainFile, s.OutputDir = "base", "train.jsonl", "out"
//	if err := s.Resolve(maxPositionEmbeddings); err != nil { ... }
//	err = s.Write("spec.json")
package runspec
