#!/usr/bin/env bash
# Runs the engine's benchmarks (go test -bench in ./dstream) several times
# and summarizes them with benchstat (medians and spread). The figures in
# README.md come from this command. Takes about 15 minutes on 2 cores;
# COUNT=3 halves it.
#
#   ./scripts/bench.sh            # all
#   ./scripts/bench.sh WordCount  # the benchmarks matching a pattern
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	export PATH="$PATH:/usr/local/go/bin"
fi
count=${COUNT:-6}
pattern=${1:-.}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

run() { # name benchtime
	if [[ $1 =~ $pattern ]]; then
		echo "== $1 (-benchtime $2 -count $count)" >&2
		go test -run '^$' -bench "^Benchmark$1\$" -benchtime "$2" -count "$count" ./dstream | tee -a "$out/raw.txt" | grep -E '^Benchmark' >&2
	fi
}
run WordCount 8x
run ReduceByKeyAndWindowInverse 60x
run NarrowChain 20x
run ReduceByKey 20x
run MapWithState 20x

echo
go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da "$out/raw.txt"
