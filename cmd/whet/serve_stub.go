package main

// Placeholders, replaced by serve.go and client.go.
func runServe(args []string) error   { return errNotBuilt }
func runJobs(args []string) error    { return errNotBuilt }
func runFiles(args []string) error   { return errNotBuilt }
func runModules(args []string) error { return errNotBuilt }
func runModels(args []string) error  { return errNotBuilt }
func runKeys(args []string) error    { return errNotBuilt }
