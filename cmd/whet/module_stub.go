package main

// Placeholder, replaced by module.go.
func runModule(args []string) error { return errNotBuilt }
