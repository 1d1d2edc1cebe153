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

# Outside tools that tests use as independent implementations. Each is
# installed when missing; a test whose tool is missing skips, except under
# CI=true, where it fails.
apt_install() {
	local sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	if [ -z "${APT_UPDATED:-}" ]; then
		$sudo apt-get update -qq || true
		APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}
# kcat (librdkafka): produces to and consumes from our Kafka test broker.
command -v kcat >/dev/null 2>&1 || { echo "== installing kcat"; apt_install kcat; }
# DuckDB (@duckdb/node-api, run by node): reads the Parquet sink's output.
DUCKDB_NODE_API_VERSION=1.5.6-r.1
command -v npm >/dev/null 2>&1 || { echo "== installing node and npm"; apt_install nodejs npm; }
if ! grep -qs "\"version\": \"$DUCKDB_NODE_API_VERSION\"" .tools/duckdb/node_modules/@duckdb/node-api/package.json; then
	echo "== installing @duckdb/node-api@$DUCKDB_NODE_API_VERSION"
	npm install --prefix .tools/duckdb --no-audit --no-fund --loglevel=error "@duckdb/node-api@$DUCKDB_NODE_API_VERSION"
fi
export DUCKDB_NODE_MODULES="$PWD/.tools/duckdb/node_modules"

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
