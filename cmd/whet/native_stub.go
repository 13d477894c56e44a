package main

import "errors"

// Placeholders, replaced by the native helper's native_*.go files.
var errNotBuilt = errors.New("not implemented yet")

func runModel(args []string) error    { return errNotBuilt }
func runTrain(args []string) error    { return errNotBuilt }
func runPredict(args []string) error  { return errNotBuilt }
func runEval(args []string) error     { return errNotBuilt }
func runPretrain(args []string) error { return errNotBuilt }
func runWorker(args []string) error   { return errNotBuilt }
