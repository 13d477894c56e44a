// Package infer runs a classifier over many tokenized rows: batched, without autograd (torch.NoGrad), rows sorted by
// length so each batch is padded only to its own longest row, results returned in input order.
//
// It may import native/bert and gotch, nothing above native/.
//
//	p := infer.New(model, infer.Options{BatchSize: 64})
//	out, err := p.Logits(ctx, ids, typeIDs) // [][]float32, one row of logits per input row
//	probs := protocol.Softmax(out[0])   // internal/protocol
package infer
