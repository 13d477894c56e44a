package main

import "errors"

// errNotBuilt is used by the remaining placeholder files (serve_stub.go) of commands other engineers are writing;
// it moved here when native_stub.go was replaced. Delete it once no stub uses it.
var errNotBuilt = errors.New("not implemented yet")
