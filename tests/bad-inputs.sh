#!/bin/sh
# The bad-input table of man/armvmm.1 (the rows between its "bad-inputs: begin"
# and "bad-inputs: end" markers), run row by row: each command must exit with
# status 1 and print exactly one line, the error line the table gives.
#
#   bad-inputs.sh ARMVMM MANPAGE [--sandbox-off] [--show]
#
# The commands run in a fresh directory holding the files the table names
# (made below). Under qemu-user, which has no seccomp, --sandbox-off adds
# "--sandbox=off" to run and restore (the system suite runs the rows exactly as
# written, on real KVM). --show prints what each row gives instead of checking.
set -u
bin=$1 man=$2
shift 2
sandbox_off=false show=false
for a in "$@"; do
	case "$a" in
	--sandbox-off) sandbox_off=true ;;
	--show) show=true ;;
	*) echo "bad-inputs.sh: unknown argument '$a'" >&2; exit 2 ;;
	esac
done
case "$bin" in /*) ;; *) bin="$(pwd)/$bin" ;; esac
case "$man" in /*) ;; *) man="$(pwd)/$man" ;; esac
wrap=""
if [ "$(uname -m)" != aarch64 ]; then
	wrap=$(command -v qemu-aarch64-static || command -v qemu-aarch64) || {
		echo "bad-inputs.sh: an aarch64 armvmm on $(uname -m) needs qemu-aarch64-static" >&2
		exit 1
	}
fi
data=$(cd "$(dirname "$0")" && pwd)/data

dir=$(mktemp -d "${TMPDIR:-/tmp}/armvmm-bad-inputs.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
export XDG_RUNTIME_DIR="$dir/run"
mkdir -m 700 run

# --- the files the table names ---------------------------------------------------------
: > empty
mkdir adir
head -c 4096 /dev/zero > hello.bin				# a flat binary: a valid kernel
printf 'MZ' > short.img; head -c 38 /dev/zero >> short.img	# a cut-short EFI Image
printf 'MZ' > efi.img; head -c 4094 /dev/zero >> efi.img	# EFI, no arm64 magic
# An arm64 Image header whose text_offset is no page offset.
{ head -c 8 /dev/zero; printf '\001\000\010\000\000\000\000\000'; printf '\000\020\000\000\000\000\000\000'
  head -c 32 /dev/zero; printf 'ARM\144'; head -c 4036 /dev/zero; } > badhdr.img
printf '\037\213\010\000\000\000\000\000\000\003garbage-not-deflate' > corrupt.gz
head -c 65536 /dev/zero | gzip -c > full.gz; head -c 40 full.gz > trunc.gz; rm full.gz
head -c 3145728 /dev/zero > big.bin				# 3 MiB: too big for -m 4
truncate -s 600M huge.img					# sparse: past the kernel size cap
head -c 1000 /dev/zero > odd.img
printf 'frobnicate\n' > unknown.script
printf 'timeout 0\n' > timeout0.script
printf 'pause now\n' > pausearg.script
printf 'send "unterminated\n' > quote.script
printf 'wait ok\nexpect-exit 256\n' > exit256.script
printf 'wait ok\nmigrate\n' > migrate.script
mkdir notasnap
cp -r "$data/snapshot-v1-v3-gicv3" goodsnap
cp -r goodsnap badmagic; printf 'XRMVMMSN' | dd of=badmagic/state bs=1 seek=0 conv=notrunc 2>/dev/null
cp -r goodsnap truncsnap; head -c 100 goodsnap/state > truncsnap/state
cp -r goodsnap nomem; rm -f nomem/memory nomem/memory.gz

# --- the rows ----------------------------------------------------------------------------
rows=$(awk '/^\.\\" bad-inputs: begin/ { on = 1; next } /^\.\\" bad-inputs: end/ { on = 0 } on' "$man")
unescape() { sed -e 's/\\-/-/g' -e "s/\\\\(aq/'/g" -e 's/\\(dq/"/g' -e 's/\\&//g' -e 's/\\e/\\/g'; }

total=0 failed=0 state=cmd cmd=""
printf '%s\n' "$rows" > rows.txt
while IFS= read -r line; do
	case "$line" in
	"T{") continue ;;
	"T}"*"T{") state=err; continue ;;
	"T}") ;;
	*)
		if [ $state = cmd ]; then cmd=$(printf '%s\n' "$line" | unescape); else want=$(printf '%s\n' "$line" | unescape); fi
		continue
		;;
	esac
	state=cmd
	total=$((total + 1))
	run=$cmd
	if $sandbox_off; then
		case "$run" in
		"armvmm run"*) run="armvmm run --sandbox=off${run#armvmm run}" ;;
		"armvmm restore"*) run="armvmm restore --sandbox=off${run#armvmm restore}" ;;
		esac
	fi
	run="$wrap \"\$bin\"${run#armvmm}"
	got=$(eval "$run" < /dev/null 2>&1)
	rc=$?
	if $show; then
		printf '%s\n  -> [%s] %s\n' "$cmd" "$rc" "$got"
		continue
	fi
	if [ "$rc" != 1 ] || [ "$got" != "$want" ]; then
		failed=$((failed + 1))
		printf 'FAIL: %s\n  want (1): %s\n  got (%s): %s\n' "$cmd" "$want" "$rc" "$got"
	fi
done < rows.txt
echo "bad-inputs: $total rows, $failed failed"
[ "$total" -ge 40 ] || { echo "bad-inputs: the table has only $total rows (at least 40 wanted)"; exit 1; }
[ "$failed" -eq 0 ]
