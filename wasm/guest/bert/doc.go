// Package bert registers a BERT WordPiece preprocess module with the guest SDK: the host's whet_init supplies the
// vocab.txt, do_lower_case and the default max length, and each text is optionally cleaned by a hook before it is
// tokenized with wasm/wordpiece (HuggingFace-exact). Both the built-in bert-wordpiece module and custom cleaning
// modules (wasm/examples/email-clean) are one call:
//
//	func init() {
//		bert.Register("email-clean", "strip mail headers and quotes, then BERT WordPiece", cleanMail)
//	}
//
//	func main() {}
//
// Everything but this file builds only for GOOS=wasip1. It imports wasm/guest, wasm/abi and wasm/wordpiece.
package bert
