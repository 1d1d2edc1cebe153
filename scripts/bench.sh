#!/usr/bin/env bash
# Runs the engine's and the sources' benchmarks (go test -bench in ./dstream
# and ./sources/kafka) several times and summarizes them with benchstat
# (medians and spread). The figures in README.md come from this command.
# Takes about 16 minutes on 2 cores; COUNT=3 halves it.
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

run() { # package name benchtime
	if [[ $2 =~ $pattern ]]; then
		echo "== $1 $2 (-benchtime $3 -count $count)" >&2
		go test -run '^$' -bench "^Benchmark$2\$" -benchtime "$3" -count "$count" "$1" | tee -a "$out/raw.txt" | grep -E '^Benchmark' >&2
	fi
}
run ./dstream WordCount 8x
run ./dstream ReduceByKeyAndWindowInverse 60x
run ./dstream NarrowChain 20x
run ./dstream ReduceByKey 20x
run ./dstream MapWithState 20x
run ./sources/kafka KafkaWordCount 6x
run ./sinks/parquet ParquetWrite 10x

echo
go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da "$out/raw.txt"
