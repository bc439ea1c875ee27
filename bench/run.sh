#!/bin/sh
# "ninja -C build bench": the benchmarks on both nested host GIC versions; prints figures.
set -eu
build=$1
here=$(cd "$(dirname "$0")" && pwd)
status=0
for gic in 3 2; do
	if "$here/../tests/system/nested.sh" --build "$build" --gic "$gic" --payload "$here/bench.sh" --quiet; then :; else status=1; fi
	grep '^BENCH: ' "$build/nested/gic$gic/console.log.txt" || true
done
exit $status
