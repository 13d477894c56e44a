//go:build wasip1

package main

import "github.com/whetml/whet/wasm/guest/bert"

func init() {
	bert.Register("email-clean", "strip mail headers, HTML, quoted replies and signatures, then BERT WordPiece", Clean)
}
