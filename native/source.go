package native

import _ "embed"

// moduleSource is the Python side of tandem, executed as module "tandem" in
// every interpreter. Tests may point it at another source before creating
// a pool.
//
//go:embed python/tandem.py
var moduleSource string
