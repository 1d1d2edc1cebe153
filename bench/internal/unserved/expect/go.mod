// This directory stands in for github.com/rickb777/expect v1.2.1 in the
// workspace (see the replace in ../../../../go.work). The module is a
// test-only requirement of github.com/rickb777/period, which Benthos's
// pure components import; no package of it is ever compiled here. The
// module proxy this project builds with does not serve it, so without
// the replace `go list -m all` at the repository's root, and therefore
// the package lookup of `go doc`, fail with a 403 for its .info file.
module github.com/rickb777/expect

go 1.21
