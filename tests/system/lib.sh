# Helpers for payload scripts run by nested.sh (busybox sh inside the nested host, or
# the host's sh on a native arm64 KVM host). Results are TAP lines prefixed
# "ARMVMM-TAP: " so they survive the console they travel over.
#
# Environment: ARMVMM (the binary), GUESTS (bare-metal .bin dir), KERNEL (Debian Image),
# GUEST_INITRD (busybox initramfs), GUEST_MODS_INITRD (virtio modules initramfs that
# boots from /dev/vda), GUEST_ROOTFS (ext4 root image; copy before use), TMPDIR.

T=0
FAILED=0

tap() { echo "ARMVMM-TAP: $*"; }
diag() { tap "# $*"; }

# report NAME WHY OUTFILE: ok when WHY is empty, else not ok with the output's tail.
report() {
	T=$((T + 1))
	if [ -z "$2" ]; then
		tap "ok $T - $1"
	else
		FAILED=$((FAILED + 1))
		tap "not ok $T - $1"
		diag "$2"
		if [ -f "$3" ]; then
			tail -n 25 "$3" | tr -d '\r' | while IFS= read -r l; do diag "  | $l"; done
		fi
	fi
}

# load_host_modules: the nested host kernel's tun, vhost-net and vhost-vsock modules (and what
# they need), in the order nested.sh wrote; nothing on a host that has them already.
load_host_modules() {
	[ -n "${HOST_MODULES:-}" ] && [ -f "$HOST_MODULES/order" ] || return 0
	for _m in $(cat "$HOST_MODULES/order"); do
		grep -q "^$_m " /proc/modules 2>/dev/null || insmod "$HOST_MODULES/$_m.ko" 2>/dev/null ||
			{ diag "insmod $_m failed"; return 1; }
	done
}

# host_gic: v2 or v3, the interrupt controller of the machine armvmm runs on.
host_gic() {
	if grep -q GICv3 /proc/interrupts; then echo v3; else echo v2; fi
}

# check NAME RC TIMEOUT PATTERN... -- ARMVMM-ARGS...
# Runs armvmm with stdin from /dev/null; passes when it exits with RC within TIMEOUT
# seconds and its output holds every PATTERN (fixed strings).
check() {
	_name=$1 _rc=$2 _to=$3
	shift 3
	_n=0
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do
		_n=$((_n + 1))
		eval "_pat_$_n=\$1"
		shift
	done
	shift
	_out="$TMPDIR/$_name.out"
	timeout -s KILL "$_to" "$ARMVMM" "$@" < /dev/null > "$_out" 2>&1
	_got=$?
	_why=""
	[ "$_got" = "$_rc" ] || _why="exit status $_got, expected $_rc"
	_i=1
	while [ $_i -le $_n ]; do
		eval "_p=\$_pat_$_i"
		grep -qF -- "$_p" "$_out" || _why="${_why:+$_why; }missing '$_p'"
		_i=$((_i + 1))
	done
	report "$_name" "$_why" "$_out"
}

# check_error NAME PATTERN -- ARMVMM-ARGS...
# Bad input: exit status 1, exactly one line of output, an "armvmm: error:" line holding PATTERN.
check_error() {
	_name=$1 _pat=$2
	shift 3
	_out="$TMPDIR/$_name.out"
	timeout -s KILL 30 "$ARMVMM" "$@" < /dev/null > "$_out" 2>&1
	_got=$?
	_why=""
	[ "$_got" = 1 ] || _why="exit status $_got, expected 1"
	[ "$(wc -l < "$_out")" -eq 1 ] || _why="${_why:+$_why; }expected one line of output, got $(wc -l < "$_out")"
	grep -q '^armvmm: error: ' "$_out" || _why="${_why:+$_why; }no 'armvmm: error:' line"
	grep -qF -- "$_pat" "$_out" || _why="${_why:+$_why; }missing '$_pat'"
	report "$_name" "$_why" "$_out"
}

# check_input NAME TIMEOUT READY-TEXT INPUT EXPECT -- ARMVMM-ARGS...
# Starts armvmm with a pipe on stdin, waits for READY-TEXT on its console, sends
# INPUT and a newline, and passes when EXPECT appears and armvmm exits 0.
check_input() {
	_name=$1 _to=$2 _ready=$3 _input=$4 _expect=$5
	shift 6
	_out="$TMPDIR/$_name.out"
	_fifo="$TMPDIR/$_name.fifo"
	rm -f "$_fifo"
	mkfifo "$_fifo"
	timeout -s KILL "$_to" "$ARMVMM" "$@" < "$_fifo" > "$_out" 2>&1 &
	_pid=$!
	exec 9> "$_fifo"
	_why="'$_ready' never appeared"
	_waited=0
	while [ $_waited -lt "$_to" ] && kill -0 $_pid 2>/dev/null; do
		if grep -qF -- "$_ready" "$_out"; then
			printf '%s\n' "$_input" >&9
			_why=""
			break
		fi
		sleep 1
		_waited=$((_waited + 1))
	done
	wait $_pid
	_got=$?
	exec 9>&-
	rm -f "$_fifo"
	if [ -z "$_why" ]; then
		[ "$_got" = 0 ] || _why="exit status $_got, expected 0"
		grep -qF -- "$_expect" "$_out" || _why="${_why:+$_why; }missing '$_expect'"
	fi
	report "$_name" "$_why" "$_out"
}

# check_stop NAME SIGNAL RC
# Runs the idle guest with a terminal on stdin (the console, when there is one), sends
# SIGNAL once it runs; passes when armvmm exits with RC, says why, and the terminal's
# settings afterwards equal those before (and differed while the guest ran).
check_stop() {
	_name=$1 _sig=$2 _rc=$3
	_out="$TMPDIR/$_name.out"
	_tty=/dev/console
	stty -g < "$_tty" > /dev/null 2>&1 || _tty=/dev/null
	_before=$(stty -g < "$_tty" 2>/dev/null)
	"$ARMVMM" run -k "$GUESTS/wait.bin" --loglevel info < "$_tty" > "$_out" 2>&1 &
	_pid=$!
	_why="the guest never started"
	_waited=0
	while [ $_waited -lt 30 ] && kill -0 $_pid 2>/dev/null; do
		if grep -qF "wait: running until stopped" "$_out"; then
			_why=""
			break
		fi
		sleep 1
		_waited=$((_waited + 1))
	done
	_during=$(stty -g < "$_tty" 2>/dev/null)
	kill -"$_sig" $_pid 2>/dev/null
	_t=0
	while kill -0 $_pid 2>/dev/null && [ $_t -lt 20 ]; do sleep 1; _t=$((_t + 1)); done
	kill -KILL $_pid 2>/dev/null && _why="${_why:+$_why; }armvmm ignored SIG$_sig"
	wait $_pid
	_got=$?
	_after=$(stty -g < "$_tty" 2>/dev/null)
	[ "$_got" = "$_rc" ] || _why="${_why:+$_why; }exit status $_got, expected $_rc"
	grep -qF "stopping the VM on signal" "$_out" || _why="${_why:+$_why; }no 'stopping the VM on signal' line"
	if [ "$_tty" != /dev/null ]; then
		[ "$_before" != "$_during" ] || _why="${_why:+$_why; }terminal was not switched to raw input while running"
		[ "$_before" = "$_after" ] || _why="${_why:+$_why; }terminal settings not restored"
	fi
	report "$_name" "$_why" "$_out"
}

# boot NAME TIMEOUT [--send READY TEXT] [--stamp PATTERN] -- ARMVMM-ARGS...
# Runs armvmm and records what happened, for the verdict helpers below (one boot can
# feed several results). Output goes to OUT=$TMPDIR/NAME.out; RC is the exit status;
# T0 and T1 are the nested host's clock (date +%s) at start and exit. --send: stdin is
# a pipe and TEXT plus a newline go in once READY appears (SENT=yes), else stdin is
# /dev/null. --stamp: STAMP is the host's clock when PATTERN first appeared (polled
# five times a second; empty if it never did).
boot() {
	_name=$1 _to=$2
	shift 2
	_ready="" _input="" _stamp_pat=""
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do
		case "$1" in
		--send) _ready=$2 _input=$3; shift 3 ;;
		--stamp) _stamp_pat=$2; shift 2 ;;
		*) echo "boot: unknown option $1" >&2; return 2 ;;
		esac
	done
	shift
	OUT="$TMPDIR/$_name.out" SENT="" STAMP="" WHY=""
	_fifo="$TMPDIR/$_name.fifo"
	rm -f "$_fifo" "$OUT"
	: > "$OUT"
	T0=$(date +%s)
	if [ -n "$_ready" ]; then
		mkfifo "$_fifo"
		timeout -s KILL "$_to" "$ARMVMM" "$@" < "$_fifo" > "$OUT" 2>&1 &
		_pid=$!
		exec 9> "$_fifo"
	else
		timeout -s KILL "$_to" "$ARMVMM" "$@" < /dev/null > "$OUT" 2>&1 &
		_pid=$!
	fi
	while kill -0 $_pid 2>/dev/null; do
		if [ -n "$_stamp_pat" ] && [ -z "$STAMP" ] && grep -qF -- "$_stamp_pat" "$OUT"; then
			STAMP=$(date +%s)
		fi
		if [ -n "$_ready" ] && [ -z "$SENT" ] && grep -qF -- "$_ready" "$OUT"; then
			printf '%s\n' "$_input" >&9
			SENT=yes
		fi
		sleep 0.2
	done
	wait $_pid
	RC=$?
	T1=$(date +%s)
	if [ -n "$_ready" ]; then
		exec 9>&-
		rm -f "$_fifo"
	fi
	if [ -n "$_stamp_pat" ] && [ -z "$STAMP" ] && grep -qF -- "$_stamp_pat" "$OUT"; then
		STAMP=$T1
	fi
	return 0
}

# Verdict helpers: each adds to WHY what is wrong; verdict NAME reports and clears WHY.
why() { WHY="${WHY:+$WHY; }$*"; }
want_rc() { [ "$RC" = "$1" ] || why "exit status $RC, expected $1"; }
# want TEXT...: every TEXT (fixed string) is in the output
want() {
	for _p in "$@"; do
		grep -qF -- "$_p" "$OUT" || why "missing '$_p'"
	done
}
# want_none TEXT: TEXT is nowhere in the output
want_none() { ! grep -qF -- "$1" "$OUT" || why "unexpected '$(grep -F -- "$1" "$OUT" | head -n1 | tr -d '\r')'"; }
# field KEY [PREFIX]: the word after "KEY=" on the last output line holding it (and PREFIX)
field() {
	grep -F -- "${2:-$1=}" "$OUT" | grep -F -- "$1=" | tail -n1 | tr -d '\r' |
		sed -n "s/.*[ :]$1=\([^ ]*\).*/\1/p"
}
# is_num VALUE: a non-negative decimal number
is_num() { case "$1" in ''|*[!0-9]*) return 1 ;; esac; }
verdict() {
	report "$1" "$WHY" "$OUT"
	WHY=""
}

# finish: the TAP plan, and the payload's exit status.
finish() {
	tap "1..$T"
	[ "$FAILED" -eq 0 ]
}

# A guest driven step by step (the network tests): vm_start NAME TIMEOUT ARMVMM-ARGS...
# starts armvmm in the background with a pipe on stdin (fd 8) and its output in
# VM_OUT=$TMPDIR/NAME.out; vm_wait TEXT SECONDS waits until TEXT is in the output (1 when
# it never came or armvmm ended); vm_send LINE types LINE and a newline; vm_guest CMD TAG
# SECONDS runs CMD in the guest's shell and sets GUEST_RC to its exit status ("" when it
# never answered); vm_end SECONDS waits for armvmm to end and sets RC (killing it after
# SECONDS). Output of the whole session stays in VM_OUT for the verdict helpers (OUT).
VM_TAGS=0
vm_start() {
	_vname=$1 _vto=$2
	shift 2
	VM_OUT="$TMPDIR/$_vname.out" OUT="$TMPDIR/$_vname.out"
	_vfifo="$TMPDIR/$_vname.fifo"
	rm -f "$_vfifo"
	mkfifo "$_vfifo"
	timeout -s KILL "$_vto" "$ARMVMM" "$@" < "$_vfifo" > "$VM_OUT" 2>&1 &
	VM_PID=$!
	exec 8> "$_vfifo"
}
vm_wait() {
	_wt=0
	while ! grep -qF -- "$1" "$VM_OUT"; do
		kill -0 "$VM_PID" 2>/dev/null || return 1
		[ "$_wt" -ge $(($2 * 5)) ] && return 1
		sleep 0.2
		_wt=$((_wt + 1))
	done
	return 0
}
vm_send() { printf '%s\n' "$1" >&8; }
vm_guest() {
	GUEST_RC=""
	VM_TAGS=$((VM_TAGS + 1))
	_vtag="vm$VM_TAGS"
	vm_send "$1; echo $_vtag-rc=\$?"
	_wt=0
	while [ "$_wt" -lt $(($2 * 5)) ] && kill -0 "$VM_PID" 2>/dev/null; do
		GUEST_RC=$(tr -d '\r' < "$VM_OUT" | sed -n "s/.*$_vtag-rc=\([0-9][0-9]*\).*/\1/p" | tail -n1)
		[ -n "$GUEST_RC" ] && return 0
		sleep 0.2
		_wt=$((_wt + 1))
	done
	return 1
}
vm_end() {
	_wt=0
	while kill -0 "$VM_PID" 2>/dev/null && [ "$_wt" -lt $(($1 * 5)) ]; do sleep 0.2; _wt=$((_wt + 1)); done
	kill -KILL "$VM_PID" 2>/dev/null
	wait "$VM_PID"
	RC=$?
	exec 8>&-
	rm -f "$_vfifo"
}
