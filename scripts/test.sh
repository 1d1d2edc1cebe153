#!/usr/bin/env bash
# The project's test command (see README.md). It installs what the tests
# need when it is missing, then checks formatting, runs go vet and runs the
# whole test suite with the race detector. CI runs it through .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

# Go: a fresh machine has it in /usr/local/go without it on PATH.
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	export PATH="$PATH:/usr/local/go/bin"
fi
command -v go >/dev/null 2>&1 || { echo "test.sh: Go is not installed (https://go.dev/dl/)" >&2; exit 1; }

# Outside tools: the engine's tests need none. Tests that need one (kcat,
# nfdump, DuckDB, ...) install it here when it is missing.

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test -race"
go test -race -count=1 "$@" ./...
