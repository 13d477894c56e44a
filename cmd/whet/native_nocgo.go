//go:build !cgo

package main

import (
	"errors"
	"slices"
	"strings"
)

// errNoNative is returned by the native subcommands in a binary built without cgo (CGO_ENABLED=0): they need
// libtorch.
var errNoNative = errors.New("this whet binary was built without cgo/libtorch: native training and prediction are unavailable (build with `make build`)")

func runModel(args []string) error    { return errNoNative }
func runTrain(args []string) error    { return errNoNative }
func runEval(args []string) error     { return errNoNative }
func runPretrain(args []string) error { return errNoNative }
func runWorker(args []string) error   { return errNoNative }

// runPredict can still predict through a server.
func runPredict(args []string) error {
	if slices.ContainsFunc(args, func(a string) bool {
		return a == "--server" || a == "-server" || strings.HasPrefix(a, "--server=") || strings.HasPrefix(a, "-server=")
	}) {
		return predictViaServer(args)
	}
	return errNoNative
}
