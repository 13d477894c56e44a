// Package reftest drives the plain-PyTorch reference model (native/testdata/ref_bert.py) from Go tests and holds
// small helpers they share: a word-level test vocabulary, padding and logits comparison. Test support only: only
// _test.go files import it.
//
// The reference runs under /usr/bin/python3 (Debian's python3-torch); tests skip with the reason when that
// interpreter cannot import torch. The package imports only the standard library.
//
//	reftest.SkipWithoutTorch(t)
//	var resp reftest.ForwardResponse
//	reftest.Run(t, "forward", reftest.ForwardRequest{Model: dir, InputIDs: ids, AttentionMask: mask}, &resp)
package reftest
