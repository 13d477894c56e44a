//go:build wasip1

// Command bert-wordpiece is the built-in preprocess module: HuggingFace-exact BERT WordPiece tokenization
// configured by the host with a model folder's vocab.txt and do_lower_case. Built for GOOS=wasip1 as a reactor
// (see wasm/ABI.md); its ids match HuggingFace tokenizers' BertTokenizerFast.
package main

import "github.com/whetml/whet/wasm/guest/bert"

func init() {
	bert.Register("bert-wordpiece", "BERT WordPiece tokenizer (HuggingFace-exact)", nil)
}

func main() {}
