# Live migration tests, as a fragment for suite.sh to source after lib.sh (it needs
# $ARMVMM, $GUESTS, $TMPDIR, $MIG_PROXY, $MODULES, and $ic, $hgic from suite.sh).
#
#   migration_tests
#
# mig_writer.bin keeps rewriting its memory and ticking while it moves; the destination's
# script then sends 'g' and the guest checks every page it wrote and its tick count.
# Failed migrations (nobody listening, a destination without the irqchip, a corrupted
# stream, a destination killed mid-stream) must leave the source running with nothing
# lost: the same source takes them all, then finishes its own checks. Results are named
# mig-*; every armvmm runs under a timeout.

MIG_PROXY=${MIG_PROXY:-$(dirname "$ARMVMM")/mig-proxy}

# _mig_wait FILE TEXT SECONDS: until TEXT is in FILE (0), or the time is up (1).
_mig_wait() {
	_i=0
	while [ $_i -lt $(($3 * 10)) ]; do
		grep -qF -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
		_i=$((_i + 1))
	done
	return 1
}

# _mig_src NAME IRQCHIP [RUN-ARGS...]: mig_writer.bin as VM NAME, its console input on fd 8.
# Sets SRC (pid) and SRC_OUT; waits for the guest to be ready.
_mig_src() {
	_n=$1 _ic=$2
	shift 2
	SRC_OUT="$TMPDIR/$_n.src.out"
	rm -f "$TMPDIR/$_n.fifo"
	mkfifo "$TMPDIR/$_n.fifo"
	timeout -s KILL 600 "$ARMVMM" run -k "$GUESTS/mig_writer.bin" -m 256 --irqchip "$_ic" --name "$_n" \
		--loglevel info "$@" < "$TMPDIR/$_n.fifo" > "$SRC_OUT" 2>&1 &
	SRC=$!
	exec 8> "$TMPDIR/$_n.fifo"
	_mig_wait "$SRC_OUT" "mig-writer: ready" 60
}

# _mig_dst NAME ADDR [RESTORE-ARGS...]: "restore --incoming ADDR" as VM NAME; sets DST, DST_OUT.
_mig_dst() {
	_n=$1 _a=$2
	shift 2
	DST_OUT="$TMPDIR/$_n.dst.out"
	timeout -s KILL 600 "$ARMVMM" restore --incoming "$_a" --name "$_n" --loglevel info "$@" \
		< /dev/null > "$DST_OUT" 2>&1 &
	DST=$!
	_mig_wait "$DST_OUT" "waiting for an incoming VM" 30
}

# _mig_summary OUT NAME ADDR: the migrate command printed its one summary line (and the
# source's rounds go to the TAP log as figures).
_mig_summary() {
	[ "$(wc -l < "$1")" -eq 1 ] || why "migrate printed $(wc -l < "$1") lines"
	_rest=$(sed -n "s|^$2: migrated to \(.*\): |\1 |p" "$1")
	[ "${_rest%% *}" = "$3" ] && echo "${_rest#* }" | grep -Eq '^[0-9]+ rounds, [0-9.]+ MiB sent, downtime [0-9]+ ms, total [0-9]+ ms$' ||
		why "no summary line: '$(head -n1 "$1")'"
	diag "$(head -n1 "$1")"
	grep "migration round" "$SRC_OUT" | sed 's/^armvmm: /  /' | while IFS= read -r _l; do diag "$_l"; done
}

# _mig_migrate NAME ADDR: "armvmm migrate NAME ADDR" succeeds with its one summary line
# (its output stays in OUT).
_mig_migrate() {
	OUT="$TMPDIR/$1.migrate.out"
	timeout -s KILL 300 "$ARMVMM" migrate "$1" "$2" > "$OUT" 2>&1
	RC=$?
	want_rc 0
	_mig_summary "$OUT" "$1" "$2"
}

# _mig_checks: the guest at the destination found its memory and ticks intact (OUT: its output).
_mig_checks() {
	want "mig-writer: ticks ok" "mig-writer: before ok" "mig-writer: during ok" "mig-writer: all ok"
	want_none "FAIL"
}

_mig_finish_script() {
	cat > "$TMPDIR/mig-finish.script" <<'EOS'
timeout 120
send g
wait mig-writer: all ok
expect-exit 0
EOS
}

# A live migration to ADDR of a guest on IRQCHIP, rewriting memory all along.
_mig_live() {
	_name=$1 _ic=$2 _addr=$3
	shift 3
	_mig_dst "d-$_name" "$_addr" --script "$TMPDIR/mig-finish.script" || why "the destination never listened"
	_mig_src "s-$_name" "$_ic" "$@" || why "the source guest never got ready"
	_mig_migrate "s-$_name" "$_addr"
	exec 8>&-
	wait $SRC
	_src_rc=$?
	[ "$_src_rc" = 0 ] || why "the source exited with status $_src_rc, expected 0 once the VM moved"
	wait $DST
	RC=$?
	OUT=$DST_OUT
	want_rc 0
	_mig_checks
	grep -q "dirty-page logging on" "$SRC_OUT" || why "the source never turned on KVM's dirty-page log"
	verdict "$_name"
}

# Linux on a virtio root disk, writing and reading the disk back in a loop while it moves:
# the disk's lock goes from source to destination, and what virtio-blk wrote into guest RAM
# during the rounds (which KVM's dirty log does not see) arrives too, or the loop's md5sums
# (and the file system) would tell.
_mig_linux_disk() {
	_ic=$1 _root="$TMPDIR/mig-root.ext4"
	cp "$GUEST_ROOTFS" "$_root"
	cat > "$TMPDIR/mig-linux.script" <<'EOS'
timeout 120
wait diskloop: round
sendline stop
wait diskloop: stopped after
wait rootfs: done, 0 failure(s)
expect-exit 0
EOS
	_mig_dst "linux-d-$_ic" "unix:$TMPDIR/linux.sock" --script "$TMPDIR/mig-linux.script" ||
		why "the destination never listened"
	SRC_OUT="$TMPDIR/linux-s.src.out"
	timeout -s KILL 600 "$ARMVMM" run -k "$KERNEL" -i "$GUEST_MODS_INITRD" -m 256 -d "$_root" --irqchip "$_ic" \
		--name "linux-s-$_ic" --loglevel info -p "panic=-1 armvmm.run=diskloop" < /dev/null > "$SRC_OUT" 2>&1 &
	SRC=$!
	_mig_wait "$SRC_OUT" "diskloop: round 2 ok" 240 || why "the guest's disk loop never got going"
	_mig_migrate "linux-s-$_ic" "unix:$TMPDIR/linux.sock"
	wait $SRC
	_src_rc=$?
	[ "$_src_rc" = 0 ] || why "the source exited with status $_src_rc"
	wait $DST
	RC=$?
	OUT=$DST_OUT
	want_rc 0
	want "diskloop: stopped after" "rootfs: done, 0 failure(s)"
	want_none "FAIL"
	_r=$(grep -c "diskloop: round .* ok" "$DST_OUT")
	[ "$_r" -ge 1 ] || why "no round of the disk loop completed after the migration"
	verdict "mig-linux-disk-$_ic"
	rm -f "$_root"
}

# pmu.bin with --pmu: the destination learns from the configuration (before any state) that
# the vCPUs have a PMU, and the counters and their overflow interrupts carry on.
_mig_pmu() {
	_ic=$1
	cat > "$TMPDIR/mig-pmu.script" <<'EOS'
timeout 120
send g
wait pmu: all ok
expect-exit 0
EOS
	_mig_dst "pmu-d-$_ic" "unix:$TMPDIR/pmu.sock" --script "$TMPDIR/mig-pmu.script" || why "the destination never listened"
	SRC_OUT="$TMPDIR/pmu-s.src.out"
	timeout -s KILL 300 "$ARMVMM" run -k "$GUESTS/pmu.bin" --pmu --irqchip "$_ic" --name "pmu-s-$_ic" --loglevel info \
		< /dev/null > "$SRC_OUT" 2>&1 &
	SRC=$!
	_mig_wait "$SRC_OUT" "pmu: ready" 60 || why "the guest never got ready"
	_mig_migrate "pmu-s-$_ic" "unix:$TMPDIR/pmu.sock"
	wait $SRC
	wait $DST
	RC=$?
	OUT=$DST_OUT
	want_rc 0
	want "pmu: state ok after g" "pmu: counting ok after g" "pmu: overflow irq ok (after g)" "pmu: all ok"
	want_none "FAIL"
	verdict "mig-pmu-$_ic"
}

# The GICv3 ITS across a live migration: its.bin maps devices and events to LPIs and takes
# an MSI before the move; at the destination, INT commands, a second MSI and an LPI left
# pending must still arrive where the mapping says (the ITS tables travel in guest RAM).
_mig_its() {
	cat > "$TMPDIR/mig-its-src.script" <<'EOS'
timeout 300
wait its: msi wanted: device 32 event 2
msi 32 2
wait its: ready
expect-exit 0
EOS
	cat > "$TMPDIR/mig-its-dst.script" <<'EOS'
timeout 120
send g
wait its: msi wanted: device 32 event 2
msi 32 2
wait its: all ok
expect-exit 0
EOS
	_mig_dst "its-d" "unix:$TMPDIR/its.sock" --script "$TMPDIR/mig-its-dst.script" || why "the destination never listened"
	SRC_OUT="$TMPDIR/its-s.src.out"
	timeout -s KILL 300 "$ARMVMM" run -k "$GUESTS/its.bin" -c 2 --irqchip gicv3-its --name its-s --loglevel info \
		--script "$TMPDIR/mig-its-src.script" < /dev/null > "$SRC_OUT" 2>&1 &
	SRC=$!
	_mig_wait "$SRC_OUT" "its: ready" 60 || why "the guest never got ready"
	_mig_migrate its-s "unix:$TMPDIR/its.sock"
	wait $SRC
	RC=$?
	OUT=$SRC_OUT
	want_rc 0
	want "its: int ok (LPI 8192 on cpu 0, LPI 8193 on cpu 1)" "its: msi ok (LPI 8194 on cpu 1)"
	wait $DST
	RC=$?
	OUT=$DST_OUT
	want_rc 0
	want "in-kernel GICv3 with ITS" "its: int after g ok" "its: msi ok (LPI 8194 on cpu 1)" \
		"its: pending lpi ok (LPI 8195 on cpu 0 once enabled)" "its: all ok"
	want_none "FAIL"
	verdict "mig-its"
}

# A -> B -> A: the VM leaves, and comes back to a new process on the first host.
_mig_round_trip() {
	_ic=$1
	_mig_dst "b-$_ic" "unix:$TMPDIR/ab.sock" || why "B never listened"
	_b=$DST _b_out=$DST_OUT
	_mig_src "a-$_ic" "$_ic" -p "mig.rate=1000" || why "A never got ready"
	"$ARMVMM" migrate "a-$_ic" "unix:$TMPDIR/ab.sock" > "$TMPDIR/ab.out" 2>&1 || why "A -> B: $(cat "$TMPDIR/ab.out")"
	exec 8>&-
	wait $SRC || why "A did not exit 0 after the VM left"
	_mig_dst "a2-$_ic" "unix:$TMPDIR/ba.sock" --script "$TMPDIR/mig-finish.script" || why "A' never listened"
	_mig_wait "$_b_out" "restore: vCPUs running" 10 || _mig_wait "$_b_out" "received the VM" 10
	sleep 1
	"$ARMVMM" migrate "b-$_ic" "unix:$TMPDIR/ba.sock" > "$TMPDIR/ba.out" 2>&1 || why "B -> A: $(cat "$TMPDIR/ba.out")"
	wait $_b || why "B did not exit 0 after the VM left"
	wait $DST
	RC=$?
	OUT=$DST_OUT
	want_rc 0
	_mig_checks
	diag "A -> B: $(cat "$TMPDIR/ab.out")"
	diag "B -> A: $(cat "$TMPDIR/ba.out")"
	verdict "mig-a-b-a-$_ic"
}

# _mig_refused NAME ADDR PATTERN: a migrate that must fail: status 1, one error line with PATTERN,
# and the source still listed as running.
_mig_refused() {
	OUT="$TMPDIR/$1.out"
	timeout -s KILL 300 "$ARMVMM" migrate "$SRC_NAME" "$2" > "$OUT" 2>&1
	RC=$?
	want_rc 1
	[ "$(wc -l < "$OUT")" -eq 1 ] || why "expected one line, got $(wc -l < "$OUT")"
	grep -q '^armvmm: error: ' "$OUT" || why "no 'armvmm: error:' line"
	want "$3"
	"$ARMVMM" list 2>&1 | grep -Eq "^$SRC_NAME +$SRC +running" || why "the source is not running any more"
}

# One source VM through every way a migration can fail; then it finishes its own checks.
_mig_failures() {
	_ic=$1
	SRC_NAME="f-$_ic" _fdisk="$TMPDIR/fail-disk.img"
	head -c 1048576 /dev/zero > "$_fdisk"
	_mig_src "$SRC_NAME" "$_ic" -p "mig.mib=64 mig.rate=0" -d "$_fdisk" || why "the source guest never got ready"

	_mig_refused "mig-nobody-listening-unix-$_ic" "unix:$TMPDIR/nobody.sock" "cannot connect to unix:$TMPDIR/nobody.sock"
	verdict "mig-nobody-listening-unix-$_ic"
	_mig_refused "mig-nobody-listening-tcp-$_ic" "tcp:127.0.0.1:4999" "Connection refused"
	verdict "mig-nobody-listening-tcp-$_ic"

	# A destination without the VM's irqchip (the greeting rewritten to the one this host lacks):
	# it says no before the source ever pauses.
	if [ "$_ic" = user ] || [ ! -x "$MIG_PROXY" ]; then :; else
		if [ "$hgic" = v3 ]; then _other=0 _lacks="GICv2"; else _other=1 _lacks="GICv3"; fi
		_mig_dst "noic-$_ic" "unix:$TMPDIR/noic.sock"
		"$MIG_PROXY" "$TMPDIR/proxy.sock" "$TMPDIR/noic.sock" irqchip "$_other" &
		_proxy=$!
		sleep 0.5
		_pauses=$(grep -c "VM paused" "$SRC_OUT")
		_mig_refused "mig-destination-without-irqchip-$_ic" "unix:$TMPDIR/proxy.sock" "the destination cannot take this VM"
		want "$_lacks"
		[ "$(grep -c "VM paused" "$SRC_OUT")" = "$_pauses" ] || why "the source paused before the destination said no"
		wait $DST
		_dst_rc=$?
		[ "$_dst_rc" = 1 ] || why "the destination exited with $_dst_rc, expected 1"
		wait $_proxy
		verdict "mig-destination-without-irqchip-$_ic"
	fi

	# A byte flipped in flight, a megabyte into the stream: the destination refuses the stream.
	if [ -x "$MIG_PROXY" ]; then
		_mig_dst "corrupt-$_ic" "unix:$TMPDIR/corrupt.sock"
		"$MIG_PROXY" "$TMPDIR/proxy.sock" "$TMPDIR/corrupt.sock" flip 1048576 &
		_proxy=$!
		sleep 0.5
		_mig_refused "mig-corrupted-stream-$_ic" "unix:$TMPDIR/proxy.sock" "fails its checksum"
		wait $DST
		_dst_rc=$?
		[ "$_dst_rc" = 1 ] || why "the destination exited with $_dst_rc, expected 1"
		grep -q "armvmm: error: migration stream: a frame fails its checksum" "$DST_OUT" ||
			why "the destination did not say why it refused"
		wait $_proxy
		verdict "mig-corrupted-stream-$_ic"
	fi

	# A state section spoiled, sent after the source paused the VM and let go of its disk: the
	# destination refuses it; the source takes its disk back and the guest runs on.
	if [ -x "$MIG_PROXY" ]; then
		_mig_dst "late-$_ic" "unix:$TMPDIR/late.sock"
		"$MIG_PROXY" "$TMPDIR/proxy.sock" "$TMPDIR/late.sock" flip-frame VCPU &
		_proxy=$!
		sleep 0.5
		_pauses=$(grep -c "VM paused" "$SRC_OUT")
		_mig_refused "mig-refused-after-pause-$_ic" "unix:$TMPDIR/proxy.sock" "fails its checksum (frame VCPU/0)"
		[ "$(grep -c "VM paused" "$SRC_OUT")" -gt "$_pauses" ] || why "the source never paused: not the state that failed"
		grep -q "VM resumed" "$SRC_OUT" || why "the source did not resume the guest"
		timeout -s KILL 30 "$ARMVMM" run -k "$GUESTS/hello.bin" -d "$_fdisk" < /dev/null > "$TMPDIR/late-lock.out" 2>&1 &&
			why "another VM got the disk: the source did not take its lock back"
		grep -q "in use by another process" "$TMPDIR/late-lock.out" || why "no lock refusal: $(cat "$TMPDIR/late-lock.out")"
		wait $DST
		wait $_proxy
		verdict "mig-refused-after-pause-$_ic"
	fi

	# The destination killed in the middle of the memory rounds: the proxy holds the stream
	# 4 MiB in (past the handshake, well before the end) while the destination dies.
	if [ -x "$MIG_PROXY" ]; then
		_mig_dst "killed-$_ic" "unix:$TMPDIR/killed.sock"
		_killed=$DST
		"$MIG_PROXY" "$TMPDIR/proxy.sock" "$TMPDIR/killed.sock" hold 4194304 2> "$TMPDIR/proxy.err" &
		_proxy=$!
		sleep 0.5
		(
			_mig_wait "$TMPDIR/proxy.err" "holding" 120 && kill -KILL $_killed
		) &
		_killer=$!
		_mig_refused "mig-destination-killed-$_ic" "unix:$TMPDIR/proxy.sock" "the destination went away"
		wait $_killer
		wait $_killed
		wait $_proxy
		grep -q "accepted a VM" "$DST_OUT" || why "the destination was killed before the memory rounds"
		grep -q "received the VM" "$DST_OUT" && why "the destination got the whole VM before it was killed"
		verdict "mig-destination-killed-$_ic"
	fi

	# After all of that the guest is intact: its memory, its ticks.
	OUT=$SRC_OUT
	printf 'g' >&8
	exec 8>&-
	wait $SRC
	RC=$?
	want_rc 0
	_mig_checks
	verdict "mig-failures-lose-nothing-$_ic"
}

# The destination in its own network namespace, joined by a veth pair, over link-local IPv6:
# two hosts, as far as the network is concerned.
_mig_netns() {
	_ko="${MODULES:-}/veth.ko"
	if [ "$(id -u)" != 0 ] || ! command -v unshare > /dev/null || ! command -v nsenter > /dev/null; then
		diag "mig-netns-veth-ipv6: skipped (needs root, unshare and nsenter)"
		return 0
	fi
	[ -f "$_ko" ] && insmod "$_ko" 2> /dev/null
	ip link del mig0 2> /dev/null
	# busybox ip names a veth peer itself ("veth<N>"): take whichever it made.
	_before=$(ip -o link show 2> /dev/null | sed -n 's/^[0-9]*: \([^:@]*\).*/\1/p' | tr '\n' ' ')
	if ! ip link add name mig0 type veth 2> /dev/null; then
		diag "mig-netns-veth-ipv6: skipped (no veth pairs in this kernel)"
		return 0
	fi
	_peer=$(ip -o link show 2> /dev/null | sed -n 's/^[0-9]*: \([^:@]*\).*/\1/p' | while read -r _l; do
		case " $_before mig0 " in *" $_l "*) ;; *) echo "$_l" ;; esac
	done | head -n1)
	unshare -n sleep 600 &
	_ns=$!
	sleep 0.5
	echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad 2> /dev/null
	echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad 2> /dev/null
	ip link set "$_peer" netns $_ns || why "cannot move $_peer into the namespace"
	nsenter -t $_ns -n sh -c "echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad; echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad;
		ip link set lo up; ip link set $_peer name mig1; ip link set mig1 up; ip addr add fe80::2/64 dev mig1" ||
		why "cannot set up the namespace's end"
	ip link set mig0 up
	ip addr add fe80::1/64 dev mig0
	sleep 2
	_addr="tcp:[fe80::2%mig0]:4455"
	DST_OUT="$TMPDIR/netns.dst.out"
	nsenter -t $_ns -n timeout -s KILL 300 "$ARMVMM" restore --incoming "tcp:[fe80::2%mig1]:4455" --name netns-dst \
		--script "$TMPDIR/mig-finish.script" --loglevel info < /dev/null > "$DST_OUT" 2>&1 &
	DST=$!
	_mig_wait "$DST_OUT" "waiting for an incoming VM" 30 || why "the destination never listened"
	_mig_src netns-src "$ic" || why "the source guest never got ready"
	_mig_migrate netns-src "$_addr"
	exec 8>&-
	wait $SRC
	wait $DST
	RC=$?
	OUT=$DST_OUT
	want_rc 0
	_mig_checks
	kill $_ns 2> /dev/null
	wait $_ns 2> /dev/null
	ip link del mig0 2> /dev/null
	verdict "mig-netns-veth-ipv6"
}

migration_tests() {
	# The nested host's loopback interface starts down.
	ip link set lo up 2> /dev/null
	export XDG_RUNTIME_DIR="$TMPDIR/xdg-mig"
	mkdir -p "$XDG_RUNTIME_DIR"
	chmod 700 "$XDG_RUNTIME_DIR"
	_mig_finish_script
	_mig_live "mig-unix-$ic" "$ic" "unix:$TMPDIR/mig-$ic.sock"
	_mig_live "mig-tcp-$ic" "$ic" "tcp:127.0.0.1:4401" -p "mig.rate=4000"
	_mig_live "mig-unix-user" user "unix:$TMPDIR/mig-user.sock"
	_mig_live "mig-tcp-user" user "tcp:127.0.0.1:4402" -p "mig.rate=4000"
	_mig_round_trip "$ic"
	_mig_pmu "$ic"
	_mig_linux_disk "$ic"
	_mig_failures "$ic"
	# The userspace GIC too, on one host (its model is the same on both).
	if [ "$hgic" = v2 ]; then
		_mig_round_trip user
		_mig_failures user
	fi
	[ "$hgic" = v3 ] && _mig_its
	[ "$hgic" = v3 ] && _mig_netns
	unset XDG_RUNTIME_DIR
}
