#!/bin/sh
# "ninja -C build bench": the benchmarks on both nested host GIC versions; prints figures.
set -eu
build=$1
here=$(cd "$(dirname "$0")" && pwd)
status=0
# kvmtool for the side-by-side network figures: ARMVMM_KVMTOOL, else the shared peers
# directory next to the source tree when there is one; skipped without it.
kvmtool=${ARMVMM_KVMTOOL:-$here/../../shared/peers/lkvm-static}
add=""
if [ -x "$kvmtool" ]; then
	add="--add $kvmtool"
fi
for gic in 3 2; do
	# shellcheck disable=SC2086
	if "$here/../tests/system/nested.sh" --build "$build" --gic "$gic" --payload "$here/bench.sh" --quiet $add; then :; else status=1; fi
	grep '^BENCH: ' "$build/nested/gic$gic/console.log.txt" || true
done
exit $status
