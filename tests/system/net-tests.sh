# Network tests: virtio-net over taps (armvmm's I/O thread and vhost-net) and virtio-vsock,
# as a fragment for suite.sh to source after lib.sh (it needs $ARMVMM, $KERNEL,
# $GUEST_MODS_INITRD, $GUEST_ROOTFS, $NETTOOL, $TMPDIR and $ic from suite.sh).
#
#   net_tests
#
# The nested host has no NIC: every link is a tap inside it, addressed by IPv6 link-local
# addresses (no duplicate address detection: the test owns the link). One guest per
# irqchip (the host's in-kernel GIC, then the userspace GICv2) carries two NICs at once,
# eth0 on armvmm's I/O thread and eth1 on vhost-net, and a vsock device: both NICs ping
# and are pinged, and move data each way, both NICs at the same time, every byte checked
# against the sender's stream and the CRCs of both ends compared; a host client gets an
# echo over vsock. Then a live migration on this host that the destination refuses after
# the pause (the source takes its taps and CID back, the guest runs on), and one that
# succeeds with NET_MIG_BYTES moving into the guest on both NICs across it and a vsock
# connection open (which must drop); then the VM is snapshotted, stopped and restored.
# After each move pings, NET_AFTER_BYTES each way and the vsock echo must work. Results are named
# net-*-IRQCHIP-PATH and vsock-*-IRQCHIP. So each host covers its in-kernel GIC and the
# userspace GICv2, each with vhost off (eth0) and on (eth1).
#
# Sizes: NET_BYTES (64 MiB) each way on the fastest configuration, the in-kernel GIC with
# vhost-net (eth1), while eth0 moves NET_SMALL_BYTES (16 MiB) at the same time; NET_USER_BYTES
# (8 MiB) on each NIC on the userspace GICv2. Measured per NIC with both at once: in a
# nested host that runs only these tests, 11 to 19 MiB/s host to guest and 3 to 8 MiB/s
# guest to host on the in-kernel GIC; inside the whole suite about 1 MiB/s both ways. On the
# userspace GICv2 every interrupt costs the nested host several returns to armvmm (the
# guest's acknowledge and end-of-interrupt are MMIO exits) and its CPUs run saturated
# (load 3): guest to host 0.2 to 0.7 MiB/s, alone or both at once. Throughput itself is
# bench/bench.sh's (netbench).

NET_BYTES=${NET_BYTES:-67108864}
NET_SMALL_BYTES=${NET_SMALL_BYTES:-16777216}
NET_USER_BYTES=${NET_USER_BYTES:-8388608}
NET_AFTER_BYTES=${NET_AFTER_BYTES:-1048576}
NET_MIG_BYTES=${NET_MIG_BYTES:-25165824}
# _host_ll IFACE: the nested host's link-local address on IFACE ("" if none yet; waits 5 s)
_host_ll() {
	_i=0
	while [ $_i -lt 25 ]; do
		_a=$(ip -6 addr show dev "$1" scope link 2>/dev/null | sed -n 's/.*inet6 \(fe80[^/]*\).*/\1/p' | head -n1)
		[ -n "$_a" ] && { echo "$_a"; return; }
		sleep 0.2
		_i=$((_i + 1))
	done
}

# _guest_field IFACE KEY: KEY= from the guest's last "net: IFACE ..." line
_guest_field() {
	tr -d '\r' < "$VM_OUT" | grep "^net: $1 " | tail -n1 | sed -n "s/.* $2=\([^ ]*\).*/\1/p"
}

# _net_pings NAME IFACE GUEST-LL TAP: the nested host pings the guest and the guest the host.
_net_pings() {
	_name=$1 _if=$2 _g=$3 _tap=$4
	_h=$(_host_ll "$_tap")
	[ -n "$_g" ] && [ -n "$_h" ] || why "no link-local address: guest '$_g', host '$_h'"
	ping -c 3 -W 5 "$_g%$_tap" > "$TMPDIR/ping-$_name.out" 2>&1 || why "the nested host cannot ping the guest ($_g%$_tap)"
	verdict_out "net-ping-host-to-guest-$_name" "$TMPDIR/ping-$_name.out"
	vm_guest "ping -c 3 -W 5 -I $_if $_h" 60 || why "the guest's shell did not answer"
	[ "$GUEST_RC" = 0 ] || why "the guest cannot ping the nested host ($_h on $_if): ping status '$GUEST_RC'"
	verdict "net-ping-guest-to-host-$_name"
}

# _net_bulk DIRECTION NAME GUEST-LL TAP BYTES [NAME GUEST-LL TAP BYTES]: BYTES on each NIC
# given, all NICs at once; DIRECTION send (host to guest) or fetch (guest to host). One
# result per NIC: every byte checked against the stream and the CRCs of both ends equal.
_net_bulk() {
	_dir=$1
	shift
	_pids=""
	_k=0
	while [ $# -ge 4 ]; do
		_k=$((_k + 1))
		"$NETTOOL" "$_dir" "$2%$3" 5001 "$4" "$((_k + 10))" > "$TMPDIR/bulk-$1.out" 2>&1 &
		_pids="$_pids $!"
		eval "_bulk_name_$_k=\$1"
		shift 4
	done
	_i=0
	for _p in $_pids; do
		_i=$((_i + 1))
		eval "_n=\$_bulk_name_$_i"
		wait "$_p" || why "$(tail -n1 "$TMPDIR/bulk-$_n.out")"
		grep -q " match in " "$TMPDIR/bulk-$_n.out" || why "no matching checksums"
		[ "$_dir" = send ] && _what=host-to-guest || _what=guest-to-host
		diag "$_n $_what: $(sed -n 's/.*match in //p' "$TMPDIR/bulk-$_n.out")"
		verdict_out "net-bulk-$_what-$_n" "$TMPDIR/bulk-$_n.out"
	done
}

# verdict_out NAME FILE: like verdict, with FILE's tail as the evidence
verdict_out() {
	report "$1" "$WHY" "$2"
	WHY=""
}

# _vsock_echo IC SUFFIX: a host client reaches the guest's echo server on vsock port 5003
_vsock_echo() {
	"$NETTOOL" vsock-echo "$NET_CID" 5003 "echo-$1$2" 20 > "$TMPDIR/vsock-$1$2.out" 2>&1 ||
		why "$(tail -n1 "$TMPDIR/vsock-$1$2.out")"
	verdict_out "vsock-echo-$1$2" "$TMPDIR/vsock-$1$2.out"
}

# _vsock_hold_start NAME: a host connection to the guest's vsock echo server, held open
# (nettool vsock-hold) until the VM moves; _vsock_hold_end NAME: it must have dropped.
# The guest's echo server answers one connection at a time, so a later _vsock_echo
# succeeds only if the guest's end of the held connection dropped too (the transport reset).
_vsock_hold_start() {
	rm -f "$TMPDIR/vsock-hold-$1.out"
	"$NETTOOL" vsock-hold "$NET_CID" 5003 240 > "$TMPDIR/vsock-hold-$1.out" 2>&1 &
	_hold_pid=$!
	_i=0
	while [ $_i -lt 100 ] && ! grep -q " open$" "$TMPDIR/vsock-hold-$1.out"; do sleep 0.2; _i=$((_i + 1)); done
	grep -q " open$" "$TMPDIR/vsock-hold-$1.out" || why "the held vsock connection never opened: $(tail -n1 "$TMPDIR/vsock-hold-$1.out")"
}
_vsock_hold_end() {
	_i=0
	while [ $_i -lt 150 ] && kill -0 "$_hold_pid" 2>/dev/null; do sleep 0.2; _i=$((_i + 1)); done
	kill "$_hold_pid" 2>/dev/null
	wait "$_hold_pid" || why "the vsock connection open before the move did not drop: $(tail -n1 "$TMPDIR/vsock-hold-$1.out")"
	verdict_out "vsock-open-connection-dropped-$1" "$TMPDIR/vsock-hold-$1.out"
}

# _net_live_migration IC SOURCE-NAME DEST-NAME GUEST-LL0 GUEST-LL1: the running VM (VM_PID,
# named SOURCE-NAME) moves to a new armvmm on this host named DEST-NAME, which becomes
# VM_PID / VM_OUT. NET_MIG_BYTES go host to guest on both NICs across the move (checked
# by the guest byte by byte); a vsock connection open before it drops.
_net_live_migration() {
	_ic=$1 _sock="$TMPDIR/netmig-$1.sock"
	rm -f "$_sock"
	_src=$VM_PID _src_out=$VM_OUT
	_vsock_hold_start "$_ic-migrated"
	vm_start "$3" 900 restore --incoming "unix:$_sock" --name "$3" --loglevel info
	vm_wait "waiting for an incoming VM" 60 || why "the destination never listened"
	"$NETTOOL" send "$4%armn0" 5001 "$NET_MIG_BYTES" 31 > "$TMPDIR/netmig-eth0.out" 2>&1 &
	_p0=$!
	"$NETTOOL" send "$5%armn1" 5001 "$NET_MIG_BYTES" 32 > "$TMPDIR/netmig-eth1.out" 2>&1 &
	_p1=$!
	sleep 1
	"$ARMVMM" migrate "$2" "unix:$_sock" > "$TMPDIR/netmig-$_ic.out" 2>&1 || why "migrate: $(cat "$TMPDIR/netmig-$_ic.out")"
	# Which transfers were still moving when the VM had moved (the rest ended during it).
	_inflight=""
	kill -0 "$_p0" 2>/dev/null && _inflight="$_inflight eth0"
	kill -0 "$_p1" 2>/dev/null && _inflight="$_inflight eth1"
	diag "transfers still in flight after the migration:${_inflight:- none}"
	_i=0
	while kill -0 "$_src" 2>/dev/null && [ $_i -lt 300 ]; do sleep 0.2; _i=$((_i + 1)); done
	kill -KILL "$_src" 2>/dev/null && why "the source did not end after the migration"
	wait "$_src" || why "the source did not end with status 0 after the migration"
	vm_wait "migration: the VM runs here" 60 || why "the destination never confirmed"
	grep -q "migrated to unix:" "$_src_out" || why "the source never said it migrated"
	diag "$(sed -n 's/.*\(migrated to unix:[^ ]*: .*\)/\1/p' "$_src_out" | head -n1)"
	verdict "net-live-migration-$_ic"
	_failed=""
	for _k in 0 1; do
		eval "_p=\$_p$_k"
		wait "$_p" || why "eth$_k, host to guest across the migration: $(tail -n1 "$TMPDIR/netmig-eth$_k.out")"
		grep -q " match in " "$TMPDIR/netmig-eth$_k.out" || why "eth$_k: no matching checksums"
		[ -n "$WHY" ] && _failed=1
		verdict_out "net-transfer-across-migration-$_ic-eth$_k" "$TMPDIR/netmig-eth$_k.out"
	done
	if [ -n "$_failed" ]; then
		# What the host's side and the guest saw of the NICs (for the failure's evidence).
		diag "host: $(ip -s link show armn0 | tr -s ' \n' ' ')"
		vm_guest "grep -i virtio /proc/interrupts; cat /sys/class/net/eth0/statistics/rx_packets /sys/class/net/eth0/statistics/tx_packets" 20
	fi
	grep -q "told the guest its vsock transport was reset" "$VM_OUT" || why "no transport reset event at the destination"
	_vsock_hold_end "$_ic-migrated"
	cp "$_src_out" "$TMPDIR/netmig-$_ic-source.out"
}

# _net_migration_refused IC SOURCE-NAME GUEST-LL0 GUEST-LL1: a migration of the running VM
# (VM_PID) that the destination refuses after the source paused it and let go of its taps
# and CID (mig_proxy spoils the first vCPU's state frame): the source takes the taps and
# the CID back (its vsock on a new vhost device, which resets the connections) and the
# guest runs on: both NICs ping, vsock echoes.
_net_migration_refused() {
	_ic=$1 _dsock="$TMPDIR/netlate.sock" _psock="$TMPDIR/netproxy.sock" _dout="$TMPDIR/netlate-$1.dst.out"
	rm -f "$_dsock" "$_psock"
	timeout -s KILL 300 "$ARMVMM" restore --incoming "unix:$_dsock" --name "net-late-$_ic" --loglevel info \
		< /dev/null > "$_dout" 2>&1 &
	_dst=$!
	_i=0
	while [ $_i -lt 150 ] && ! grep -q "waiting for an incoming VM" "$_dout"; do sleep 0.2; _i=$((_i + 1)); done
	"$MIG_PROXY" "$_psock" "$_dsock" flip-frame VCPU 2> "$TMPDIR/netproxy.err" &
	_proxy=$!
	sleep 0.5
	_resets=$(grep -c "told the guest its vsock transport was reset" "$VM_OUT")
	OUT="$TMPDIR/net-mig-refused-$_ic.out"
	timeout -s KILL 300 "$ARMVMM" migrate "$2" "unix:$_psock" > "$OUT" 2>&1
	RC=$?
	want_rc 1
	want "fails its checksum (frame VCPU/0)"
	wait "$_dst"
	wait "$_proxy"
	OUT=$VM_OUT
	want "VM paused" "VM resumed"
	grep -q "accepted a VM" "$_dout" || why "the destination never accepted the VM: $(tail -n1 "$_dout")"
	verdict "net-migration-refused-after-pause-$_ic"
	vm_send ""
	_net_pings "$_ic-user-taken-back" eth0 "$3" armn0
	_net_pings "$_ic-vhost-taken-back" eth1 "$4" armn1
	_i=0
	while [ $_i -lt 50 ] && [ "$(grep -c "told the guest its vsock transport was reset" "$VM_OUT")" = "$_resets" ]; do
		sleep 0.2
		_i=$((_i + 1))
	done
	[ "$(grep -c "told the guest its vsock transport was reset" "$VM_OUT")" -gt "$_resets" ] ||
		why "no transport reset after vsock took its CID back"
	_vsock_echo "$_ic" "-taken-back"
}

# One guest on irqchip $1 with vsock CID $2, $3 bytes each way on eth0 and $4 on eth1 (vhost):
# both NICs, vsock, a snapshot and restore.
_net_guest() {
	_nic=$1 NET_CID=$2 _gb0=$3 _gb1=$4
	_root="$TMPDIR/net-root-$_nic.ext4" _snap="$TMPDIR/net-snap-$_nic"
	cp "$GUEST_ROOTFS" "$_root"
	rm -rf "$_snap"
	# Persistent taps made here, attached by name: the host's end of each link stays put
	# while the VM is saved and restored. (A tap armvmm creates: net_bad, and eth0 below
	# once its tap is deleted under it.)
	for _t in armn0 armn1; do
		ip link del "$_t" 2>/dev/null
		tunctl -t "$_t" > /dev/null 2>&1 || why "tunctl cannot make the persistent tap $_t"
	done
	vm_start "net-$_nic" 900 run -k "$KERNEL" -i "$GUEST_MODS_INITRD" -c 2 -m 256 -d "$_root" --irqchip "$_nic" \
		--name "net-$_nic" --network mode=tap,tapif=armn0 \
		--network mode=tap,tapif=armn1,vhost=1,guest_mac=02:00:5e:10:00:01 --vsock "$NET_CID" \
		--loglevel info -p "panic=-1 armvmm.run=net,shell"
	vm_wait "net: ready" 300 || why "the guest never reported its network ready"
	# Config space: a MAC for eth0 armvmm chose (the one it logged), the given one for eth1, links up.
	_mac0=$(tr -d '\r' < "$VM_OUT" | sed -n 's/.*virtio-net 0 (armn0): MAC \([0-9a-f:]*\).*/\1/p')
	[ -n "$_mac0" ] && [ "$(_guest_field eth0 mac)" = "$_mac0" ] || why "eth0's MAC is '$(_guest_field eth0 mac)', armvmm gave '$_mac0'"
	[ "$(_guest_field eth1 mac)" = 02:00:5e:10:00:01 ] || why "eth1's MAC is '$(_guest_field eth1 mac)', not guest_mac"
	for _i in eth0 eth1; do
		[ "$(_guest_field $_i carrier)" = 1 ] || why "$_i has no carrier (link status)"
	done
	verdict "net-config-mac-link-$_nic"
	# Each NIC's I/O thread and vsock's are in the sandbox (Seccomp 2: filtered) like every
	# other thread; what they call for the rest of this test must be on their lists.
	# (busybox's timeout becomes armvmm itself; coreutils' is armvmm's parent)
	_apid=$VM_PID
	[ "$(cat "/proc/$VM_PID/comm" 2>/dev/null)" = armvmm ] || _apid=$(tr -d ' ' < "/proc/$VM_PID/task/$VM_PID/children")
	_io=""
	for _t in /proc/"$_apid"/task/*; do
		case "$(cat "$_t/comm" 2>/dev/null)" in net0-io | net1-io | vsock-io) ;; *) continue ;; esac
		grep -q '^Seccomp:[[:space:]]*2$' "$_t/status" && _io="$_io $(cat "$_t/comm")"
	done
	_io=$(echo $_io | tr ' ' '\n' | sort | tr '\n' ' ')
	[ "$_io" = "net0-io net1-io vsock-io " ] || why "sandboxed I/O threads of armvmm ($_apid): '$_io'"
	verdict "net-io-threads-sandboxed-$_nic"

	_g0=$(_guest_field eth0 ll) _g1=$(_guest_field eth1 ll)
	_net_pings "$_nic-user" eth0 "$_g0" armn0
	_net_pings "$_nic-vhost" eth1 "$_g1" armn1
	# The two NICs at once, each way: armvmm's I/O thread on eth0, vhost-net on eth1.
	_net_bulk send "$_nic-user" "$_g0" armn0 "$_gb0" "$_nic-vhost" "$_g1" armn1 "$_gb1"
	_net_bulk fetch "$_nic-user" "$_g0" armn0 "$_gb0" "$_nic-vhost" "$_g1" armn1 "$_gb1"
	_vsock_echo "$_nic" ""

	# Live migration on this host, with a transfer in flight on each NIC and a vsock
	# connection open: the source lets go of its taps and CID once the VM is paused and
	# captured; the destination, built earlier, takes them then (it retries every 100 ms).
	# What armvmm's I/O thread and vhost-net write into guest RAM during the pre-copy must
	# reach the destination: the guest checks every byte of both transfers.
	[ -x "${MIG_PROXY:-}" ] && _net_migration_refused "$_nic" "net-$_nic" "$_g0" "$_g1"
	_net_live_migration "$_nic" "net-$_nic" "net-$_nic-b" "$_g0" "$_g1"
	_net_pings "$_nic-user-migrated" eth0 "$_g0" armn0
	_net_pings "$_nic-vhost-migrated" eth1 "$_g1" armn1
	_net_bulk send "$_nic-user-migrated" "$_g0" armn0 "$NET_AFTER_BYTES" "$_nic-vhost-migrated" "$_g1" armn1 "$NET_AFTER_BYTES"
	_net_bulk fetch "$_nic-user-migrated" "$_g0" armn0 "$NET_AFTER_BYTES" "$_nic-vhost-migrated" "$_g1" armn1 "$NET_AFTER_BYTES"
	_vsock_echo "$_nic" "-migrated"

	# Snapshot, stop, restore: the taps are attached again by name, traffic resumes on
	# both, and vsock works again after the transport reset.
	_vsock_hold_start "$_nic-restored"
	"$ARMVMM" snapshot "net-$_nic-b" "$_snap" --stop > "$TMPDIR/net-snap.out" 2>&1 || why "snapshot: $(cat "$TMPDIR/net-snap.out")"
	vm_end 60
	want_rc 0
	verdict "net-snapshot-$_nic"
	cp "$VM_OUT" "$TMPDIR/net-$_nic-before.out"

	vm_start "net-$_nic-restored" 900 restore "$_snap" --name "net-$_nic" --loglevel info
	vm_wait "armvmm: restored" 60 || why "no restore"
	vm_send ""
	_net_pings "$_nic-user-restored" eth0 "$_g0" armn0
	_net_pings "$_nic-vhost-restored" eth1 "$_g1" armn1
	_net_bulk send "$_nic-user-restored" "$_g0" armn0 "$NET_AFTER_BYTES" "$_nic-vhost-restored" "$_g1" armn1 "$NET_AFTER_BYTES"
	_net_bulk fetch "$_nic-user-restored" "$_g0" armn0 "$NET_AFTER_BYTES" "$_nic-vhost-restored" "$_g1" armn1 "$NET_AFTER_BYTES"
	grep -q "told the guest its vsock transport was reset" "$VM_OUT" || why "no transport reset event"
	_vsock_hold_end "$_nic-restored"
	_vsock_echo "$_nic" "-restored"

	# The host deletes eth0's tap under the guest: its link goes down (config space), armvmm
	# attaches a tap of that name again (creating it), the link comes back and pings work.
	vm_guest "c0=\$(cat /sys/class/net/eth0/carrier_changes)" 30
	ip link del armn0 || why "cannot delete armn0"
	_i=0
	while [ $_i -lt 100 ] && ! ip link show armn0 > /dev/null 2>&1; do sleep 0.2; _i=$((_i + 1)); done
	ip link show armn0 > /dev/null 2>&1 || why "armvmm did not attach a new armn0"
	want "went away"
	vm_guest "sleep 1; echo carrier=\$(cat /sys/class/net/eth0/carrier) changes=\$((\$(cat /sys/class/net/eth0/carrier_changes) - c0))" 30
	_car=$(tr -d '\r' < "$VM_OUT" | sed -n 's/.*carrier=\([0-9][0-9]*\) changes=\([0-9][0-9]*\).*/\1 \2/p' | tail -n1)
	[ "$_car" = "1 2" ] || why "eth0's carrier after the tap came back, and its changes: '$_car' (expected '1 2': down, then up)"
	verdict "net-tap-lost-link-down-and-back-$_nic"
	_net_pings "$_nic-user-tap-back" eth0 "$_g0" armn0

	vm_send "poweroff -f"
	vm_end 60
	want_rc 0
	want "virtio-net 0 (armn0): received" "0 malformed, 0 bad headers"
	want_none "forbidden system call"
	verdict "net-guest-powers-off-$_nic"
	# Network devices cannot run in a jail (its own network namespace, no taps): restoring
	# this VM in one is one error line, before any tap or vhost device is touched.
	if [ "$(id -u)" = 0 ]; then
		# The snapshot must belong to the user restoring it (armvmm(1), SNAPSHOTS).
		chown -R 1000:1000 "$_snap"
		rm -rf "$TMPDIR/net-jail"
		mkdir -p "$TMPDIR/net-jail"
		check_error "net-restore-in-jail-refused-$_nic" "restore it without --jail" -- \
			restore "$_snap" --jail "$TMPDIR/net-jail" --uid 1000 --gid 1000
	fi
	tunctl -d armn1 > /dev/null 2>&1
	rm -rf "$_snap" "$_root"
}

# A hostile driver (net_bad.bin) on a NIC whose tap the nested host injects frames into and
# captures from: every bad transmit chain comes back unsent and never reaches the tap, a
# receive buffer too small for the frames stays unused (dropped and counted), a looping
# chain asks for a reset, armvmm counts it all and survives; a valid frame goes through.
_net_hostile() {
	_mac=02:00:5e:10:00:09
	ip link del armbad 2>/dev/null
	# No IPv6 chatter from the host on this tap: the guest counts frames.
	echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6
	vm_start "net-bad-$ic" 120 run -k "$GUESTS/net_bad.bin" --nodefaults --irqchip "$ic" \
		--network "mode=tap,tapif=armbad,guest_mac=$_mac" --loglevel info
	vm_wait "net-bad: waiting for frames" 30 || why "the guest never got to its receive cases"
	echo 0 > /proc/sys/net/ipv6/conf/default/disable_ipv6
	"$NETTOOL" capture armbad 40 > "$TMPDIR/net-bad-capture.out" 2>&1 &
	_cap=$!
	"$NETTOOL" inject armbad "$_mac" 200 2000 10 > /dev/null 2>&1 &
	_inj=$!
	vm_end 90
	kill "$_inj" "$_cap" 2>/dev/null
	wait "$_inj" "$_cap" 2>/dev/null
	want_rc 0
	want "net-bad: received a frame of" "net-bad: rx-buffer-too-small: refused" "net-bad: tx-chain-loops: refused (needs-reset)" \
		"net-bad: sent a valid frame" "net-bad: all 15 cases refused" \
		"3 malformed, 9 bad headers" "device needs a reset"
	want_none "FAIL"
	grep -q "frame: good" "$TMPDIR/net-bad-capture.out" || why "the valid frame never reached the tap"
	! grep -q "frame: bad-" "$TMPDIR/net-bad-capture.out" ||
		why "refused frames reached the tap: $(grep 'frame: bad-' "$TMPDIR/net-bad-capture.out" | tr '\n' ' ')"
	_drop=$(tr -d '\r' < "$OUT" | sed -n 's/.* \([0-9]*\) too large for the receive buffers.*/\1/p' | tail -n1)
	is_num "$_drop" && [ "$_drop" -ge 1 ] || why "no frame counted as too large for the receive buffers ('$_drop')"
	[ "$(wc -l < "$OUT")" -le 100 ] || why "$(wc -l < "$OUT") lines of output: a guest must not flood the log"
	verdict "net-hostile-guest-$ic"
}

# Before the host has tun, vhost-net or vhost-vsock: one clear line each (skipped where the
# host kernel has them built in or loaded already).
_net_errors_without_modules() {
	[ -e /dev/net/tun ] || check_error "net-no-tun-module" "load the tun module" -- \
		run -k "$GUESTS/hello.bin" --network mode=tap,tapif=armx0
	[ -e /dev/vhost-vsock ] || check_error "vsock-no-vhost-vsock-module" "load the vhost_vsock module" -- \
		run -k "$GUESTS/hello.bin" --vsock 9
}

# Bad network settings: one clear line, exit status 1.
_net_errors() {
	check_error "net-unknown-mode" "mode=tap and mode=none" -- run -k "$GUESTS/hello.bin" --network mode=user
	check_error "net-multicast-mac" "unicast" -- run -k "$GUESTS/hello.bin" --network mode=tap,guest_mac=01:00:5e:00:00:01
	check_error "net-five-nics" "at most 4 NICs" -- run -k "$GUESTS/hello.bin" -n mode=tap -n mode=tap -n mode=tap \
		-n mode=tap -n mode=tap
	check_error "net-tap-is-another-interface" "'lo' cannot be attached as a tap" -- \
		run -k "$GUESTS/hello.bin" --network mode=tap,tapif=lo
	check_error "vsock-reserved-cid" "--vsock '2'" -- run -k "$GUESTS/hello.bin" --vsock 2
	# A script that migrates a VM with a NIC (on a tap armvmm creates) and vsock: the new
	# process takes the tap and the CID once the old one lets go, and the guest goes on.
	printf 'timeout 60\nwait snap-timer: ready\nmigrate\nsend g\nwait snap-timer: all ok\nexpect-exit 0\n' \
		> "$TMPDIR/net-migrate.script"
	boot "net-vsock-script-migrate" 180 -- run -k "$GUESTS/snap_timer.bin" --network mode=tap,tapif=armx1 \
		--vsock 79 --script "$TMPDIR/net-migrate.script" --loglevel info
	want_rc 0
	want "snap-timer: all ok" "armvmm: migrating: snapshot in" "armvmm: restored "
	want_none "armvmm: error"
	verdict "net-vsock-script-migrate"
	# A CID another VM holds.
	OUT="$TMPDIR/vsock-holder.out"
	timeout -s KILL 60 "$ARMVMM" run -k "$GUESTS/wait.bin" --vsock 77 < /dev/null > "$OUT" 2>&1 &
	_holder=$!
	_i=0
	while [ $_i -lt 50 ] && ! grep -q "wait: running" "$OUT"; do sleep 0.2; _i=$((_i + 1)); done
	check_error "vsock-cid-in-use" "vsock CID 77 is in use by another VM" -- run -k "$GUESTS/hello.bin" --vsock 77
	kill "$_holder" 2>/dev/null
	wait "$_holder" 2>/dev/null
	# Creating a tap takes CAP_NET_ADMIN: another user gets one line saying so.
	if [ "$(id -u)" = 0 ]; then
		mkdir -p /etc
		grep -q '^u1000:' /etc/passwd 2>/dev/null || echo 'u1000:x:1000:1000::/tmp:/bin/sh' >> /etc/passwd
		# As udev leaves them on a usual host: /dev/net/tun for everyone, /dev/kvm for this user too.
		_kvm_mode=$(stat -c %a /dev/kvm) _tun_mode=$(stat -c %a /dev/net/tun)
		chmod 666 /dev/kvm /dev/net/tun
		OUT="$TMPDIR/net-tap-unprivileged.out"
		busybox start-stop-daemon -S -u 1000 -c 1000:1000 -x "$ARMVMM" -- run -k "$GUESTS/hello.bin" \
			--network mode=tap,tapif=armnopriv < /dev/null > "$OUT" 2>&1
		RC=$?
		chmod "$_kvm_mode" /dev/kvm
		chmod "$_tun_mode" /dev/net/tun
		want_rc 1
		want "armvmm: error: creating tap 'armnopriv' needs CAP_NET_ADMIN"
		[ "$(wc -l < "$OUT")" -eq 1 ] || why "expected one line of output, got $(wc -l < "$OUT")"
		verdict "net-tap-create-needs-cap-net-admin"
	fi
}

net_tests() {
	_net_errors_without_modules
	if ! load_host_modules || [ ! -c /dev/net/tun ] || [ ! -x "${NETTOOL:-}" ]; then
		diag "network tests skipped: no tun/vhost modules or no nettool in this host"
		return 0
	fi
	echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad
	_net_errors
	_net_hostile
	_net_guest "$ic" 42 "$NET_SMALL_BYTES" "$NET_BYTES"
	_net_guest user 43 "$NET_USER_BYTES" "$NET_USER_BYTES"
}
