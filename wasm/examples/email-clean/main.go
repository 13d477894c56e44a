// Command email-clean is an example custom preprocess module: it strips e-mail headers, HTML tags, quoted replies
// ("> ..." lines, "On ... wrote:" and "-----Original Message-----" blocks) and signatures ("-- " and what follows)
// before BERT WordPiece tokenization, as the demo's SpamAssassin mails need.
//
// Build it (from the repository root) with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags="-s -w" -o build/wasm/email-clean.wasm ./wasm/examples/email-clean
//
// or `whet module build wasm/examples/email-clean -o build/wasm/email-clean.wasm`, then upload it with
// kind=preprocess. The cleaning itself (Clean, in clean.go) is plain Go with host-side unit tests; only the
// registration in register.go is wasip1-specific.
package main

func main() {}
