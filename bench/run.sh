#!/bin/sh
# "ninja -C build bench": the benchmarks on both nested host GIC versions; prints figures.
# NET_BENCH_ROUNDS (default 3): rounds of the network figures; the nested host does not
# inherit this environment, so it goes in at the top of a copy of the payload. The nested
# host gets 40 minutes: the network section alone takes about 7 with 3 rounds.
set -eu
build=$1
here=$(cd "$(dirname "$0")" && pwd)
payload=$here/bench.sh
case ${NET_BENCH_ROUNDS:-} in
*[!0-9]* | 0) echo "bench: NET_BENCH_ROUNDS must be a number of rounds (1 or more), not '$NET_BENCH_ROUNDS'" >&2; exit 2 ;;
esac
if [ -n "${NET_BENCH_ROUNDS:-}" ]; then
	payload=$build/bench-payload.sh
	{ echo "NET_BENCH_ROUNDS=$NET_BENCH_ROUNDS"; cat "$here/bench.sh"; } > "$payload"
fi
status=0
for gic in 3 2; do
	if "$here/../tests/system/nested.sh" --build "$build" --gic "$gic" --payload "$payload" --quiet --timeout 2400; then :; else status=1; fi
	grep '^BENCH: ' "$build/nested/gic$gic/console.log.txt" || true
done
exit $status
