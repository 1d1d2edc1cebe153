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
# nfdump and nfpcapd (Debian's nfdump): turn generated packet captures
# into real nfcapd files and convert them, for the Spot flow pipeline.
command -v nfpcapd >/dev/null 2>&1 || { echo "== installing nfdump"; apt_install nfdump; }
# tshark: converts DNS captures for the Spot dns pipeline.
command -v tshark >/dev/null 2>&1 || { echo "== installing tshark"; apt_install tshark; }
# chromium: loads the streaming status page (ui/) headless, for the
# browser test of its charts and the screenshot it saves.
command -v chromium >/dev/null 2>&1 || { echo "== installing chromium"; apt_install chromium; }
# MIT Kerberos: krb5kdc, kdb5_util and kadmin.local (krb5-kdc,
# krb5-admin-server) and kinit and klist (krb5-user). internal/krbtest runs
# a throwaway realm on loopback with them, the KDC every authenticated
# test path gets its tickets from. The KDC programs are in /usr/sbin,
# which a user other than root often lacks on PATH.
have_sbin() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
have_sbin krb5kdc && have_sbin kadmin.local && command -v kinit >/dev/null 2>&1 ||
	{ echo "== installing MIT Kerberos (krb5-kdc krb5-admin-server krb5-user)"; apt_install krb5-kdc krb5-admin-server krb5-user; }

# npm tools, each in .tools/<tool> (git-ignored), named to the tests by an
# environment variable.
command -v npm >/dev/null 2>&1 || { echo "== installing node and npm"; apt_install nodejs npm; }
npm_tool() { # npm_tool <dir under .tools> <package> <version>
	if ! grep -qs "\"version\": \"$3\"" ".tools/$1/node_modules/$2/package.json"; then
		echo "== installing $2@$3"
		npm install --prefix ".tools/$1" --no-audit --no-fund --loglevel=error "$2@$3"
	fi
}
# DuckDB (@duckdb/node-api): reads the Parquet the sinks and apps write.
npm_tool duckdb @duckdb/node-api 1.5.6-r.1
export DUCKDB_NODE_MODULES="$PWD/.tools/duckdb/node_modules"
# avsc: an Avro implementation independent of hamba/avro.
npm_tool avsc avsc 5.7.9
export AVSC_NODE_MODULES="$PWD/.tools/avsc/node_modules"

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi

echo "== go vet"
GOWORK=off go vet ./...

echo "== go test -race"
GOWORK=off go test -race -count=1 "$@" ./...

# The benchmark suite (bench/, its own module with the Go peers it
# compares against, joined to this one by go.work): vet, its unit tests
# (one runs a small scenario end to end) and the build of `go run ./bench`.
# The peers compile slowly (Beam about 90 s); the build cache keeps them
# for the three steps.
echo "== bench: go vet, go test, go build"
(cd bench && go vet ./... && go test -count=1 ./...)
go build -o /dev/null ./bench
