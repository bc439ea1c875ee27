# Benchmark payload (run by nested.sh inside the nested host): figures only, no thresholds.
ic=$( (grep -q GICv3 /proc/interrupts && echo gicv3) || echo gicv2)
echo "BENCH: host $(uname -r), $ic, $(grep -c '^processor' /proc/cpuinfo) cpus (nested KVM under TCG)"
armvmm-timeit -n 20 -l "null VM, exec to exit ($ic)" -- "$ARMVMM" run -k "$GUESTS/null.bin"
armvmm-timeit -n 5 -u "guest reached userspace" -l "Debian kernel boot to userspace marker, 1 vCPU ($ic)" -- \
	"$ARMVMM" run -k "$KERNEL" -i "$GUEST_INITRD" -m 256

# virtio-blk: the guest's busybox dd on a 256 MiB disk file (/dev/vdb; the file lives in
# the nested host's tmpfs, so this measures armvmm's virtio path, not a disk), once per
# backend: io=uring (io_uring) and io=thread (the thread fallback). Sequential 1 MiB
# O_DIRECT write and read, then 4 KiB O_DIRECT random reads (one dd process per read;
# the guest also reports the figure with the process start-up cost taken out).
if [ -n "${GUEST_MODS_INITRD:-}" ] && "$ARMVMM" run --help 2>&1 | grep -q -- '--disk'; then
	disk="$TMPDIR/bench-disk.img"
	head -c $((256 * 1048576)) /dev/zero > "$disk"
	for io in uring thread; do
		out="$TMPDIR/blkbench-$io.out"
		"$ARMVMM" run -k "$KERNEL" -i "$GUEST_MODS_INITRD" -m 256 \
			-d "$GUEST_ROOTFS,ro" -d "$disk,io=$io" \
			-p "panic=-1 ro armvmm.run=blkbench armvmm.benchdev=/dev/vdb armvmm.benchmb=256 armvmm.benchops=200" \
			< /dev/null > "$out" 2>&1
		rc=$?
		tr -d '\r' < "$out" | sed -n "s/^blkbench: /BENCH: virtio-blk io=$io ($ic), /p"
		if [ "$rc" != 0 ] || ! grep -q '^blkbench: rand-read-4k' "$out"; then
			echo "BENCH: virtio-blk io=$io ($ic): FAILED (armvmm exit status $rc); its last lines:"
			tail -n 5 "$out" | tr -d '\r' | sed 's/^/BENCH:   | /'
		fi
	done
	rm -f "$disk"
	# The two backends side by side.
	fig() { # FILE KEY → the figure after "KEY: " (or after "I/O alone: " for rand-read)
		tr -d '\r' < "$1" | sed -n "s/^blkbench: $2: \([0-9.]* [a-zA-Z/]*\).*/\1/p" | head -n1
	}
	alone() { tr -d '\r' < "$1" | sed -n 's/^blkbench: rand-read-4k:.*I\/O alone: \([0-9.]* ops\/s\).*/\1/p' | head -n1; }
	u="$TMPDIR/blkbench-uring.out" t="$TMPDIR/blkbench-thread.out"
	printf 'BENCH: virtio-blk (%s)             %-14s %s\n' "$ic" "io=uring" "io=thread"
	printf 'BENCH:   sequential write, 1 MiB     %-14s %s\n' "$(fig "$u" seq-write-1M)" "$(fig "$t" seq-write-1M)"
	printf 'BENCH:   sequential read, 1 MiB      %-14s %s\n' "$(fig "$u" seq-read-1M)" "$(fig "$t" seq-read-1M)"
	printf 'BENCH:   4 KiB random reads (dd)     %-14s %s\n' "$(fig "$u" rand-read-4k)" "$(fig "$t" rand-read-4k)"
	printf 'BENCH:   4 KiB random reads (I/O)    %-14s %s\n' "$(alone "$u")" "$(alone "$t")"
else
	echo "BENCH: virtio-blk: skipped (this armvmm has no --disk)"
fi

# Network: a Linux guest with one NIC on a tap in the nested host (its root disk a copy of
# GUEST_ROOTFS, nettool's servers running), the host's nettool against it over IPv6
# link-local: 64 MiB host to guest and guest to host (TCP, every byte checked), then
# 64-byte UDP datagrams host to guest for 5 s (the rate the guest received). armvmm with
# its I/O thread and with vhost-net, then kvmtool (lkvm-static, when nested.sh got it with
# --add) on the same tap setup with --virtio-transport mmio, without and with vhost.
# netbench LABEL TAP VMM ARGS...: the figures, one BENCH line each.
netbench() {
	_label=$1 _tap=$2
	shift 2
	_out="$TMPDIR/netbench.out" _fifo="$TMPDIR/netbench.fifo"
	rm -f "$_fifo" "$_out"
	mkfifo "$_fifo"
	cp "$GUEST_ROOTFS" "$TMPDIR/netbench-root.ext4"
	timeout -s KILL 600 "$@" < "$_fifo" > "$_out" 2>&1 &
	_pid=$!
	exec 7> "$_fifo"
	# Up as soon as it exists (kvmtool with script=none leaves it down, and a write to a tap
	# that is down fails), before the guest sends anything.
	_i=0
	while [ $_i -lt 300 ] && [ ! -e "/sys/class/net/$_tap" ] && kill -0 $_pid 2>/dev/null; do sleep 0.1; _i=$((_i + 1)); done
	ip link set "$_tap" up 2>/dev/null
	_i=0
	while [ $_i -lt 600 ] && ! grep -q "net: ready" "$_out" && kill -0 $_pid 2>/dev/null; do sleep 0.5; _i=$((_i + 1)); done
	_g=$(tr -d '\r' < "$_out" | sed -n 's/.*net: eth0 .*ll=\([^ ]*\).*/\1/p' | head -n1)
	if [ -z "$_g" ]; then
		echo "BENCH: network, $_label: FAILED (the guest never reported its address); its last lines:"
		tail -n 5 "$_out" | tr -d '\r' | sed 's/^/BENCH:   | /'
	else
		ping -c 2 -W 5 "$_g%$_tap" > /dev/null 2>&1
		for _dir in send fetch; do
			_r=$("$NETTOOL" "$_dir" "$_g%$_tap" 5001 67108864 7 2>&1 | tail -n1)
			[ "$_dir" = send ] && _what="host to guest" || _what="guest to host"
			echo "BENCH: network, $_label, TCP 64 MiB $_what: $(echo "$_r" | sed -n 's/.*match in \(.*\)/\1/p')${_r##*match*}" |
				sed 's/: $/: FAILED/'
		done
		_r=$("$NETTOOL" udp "$_g%$_tap" 5002 64 5 2>&1 | tail -n1)
		echo "BENCH: network, $_label, UDP 64-byte datagrams host to guest: $(echo "$_r" | sed -n 's/.*received \([0-9]*\) (\([0-9]*\/s\)).*/\2 received (\1 in 5 s)/p')"
	fi
	printf 'poweroff -f\n' >&7
	_i=0
	while kill -0 $_pid 2>/dev/null && [ $_i -lt 60 ]; do sleep 0.5; _i=$((_i + 1)); done
	kill -KILL $_pid 2>/dev/null
	wait $_pid 2>/dev/null
	exec 7>&-
	ip link del "$_tap" 2>/dev/null
	rm -f "$_fifo" "$TMPDIR/netbench-root.ext4"
}
if [ -x "${NETTOOL:-}" ] && . "$ARMVMM_LIB" && load_host_modules && [ -c /dev/net/tun ]; then
	echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad
	for vhost in 0 1; do
		netbench "armvmm vhost=$vhost ($ic)" armb0 "$ARMVMM" run -k "$KERNEL" -i "$GUEST_MODS_INITRD" -m 256 \
			-p "panic=-1 armvmm.run=net,shell" -d "$TMPDIR/netbench-root.ext4" --network "mode=tap,tapif=armb0,vhost=$vhost"
	done
	kvmtool=/armvmm/lkvm-static
	if [ -x "$kvmtool" ]; then
		for vhost in 0 1; do
			netbench "kvmtool vhost=$vhost ($ic)" kvmb0 "$kvmtool" run --loglevel=warning -c 1 -k "$KERNEL" \
				-i "$GUEST_MODS_INITRD" -m 256 -p "panic=-1 armvmm.run=net,shell" -d "$TMPDIR/netbench-root.ext4" \
				--virtio-transport mmio --network "mode=tap,tapif=kvmb0,script=none,vhost=$vhost"
		done
	else
		echo "BENCH: network, kvmtool: skipped (no lkvm-static: ARMVMM_KVMTOOL=/path/to/lkvm-static ninja -C build bench)"
	fi
else
	echo "BENCH: network: skipped (no nettool, or no tun module in this host)"
fi

# Interrupt latency: irqbench.bin times N virtual-timer interrupts and N SGI round trips
# (CPU 0 → CPU 1 → CPU 0), on every GICv2 this host has and on the userspace model, and
# the userspace model's cost relative to the in-kernel GIC is printed as a ratio.
irqbench() { # IRQCHIP → "ns_per_irq ns_per_roundtrip" or nothing
	"$ARMVMM" run -k "$GUESTS/irqbench.bin" -c 2 --irqchip "$1" -p "irqbench.n=2000" < /dev/null 2>&1 |
		tr -d '\r' | awk '/^irqbench: timer/ { for (i = 1; i <= NF; i++) if ($i ~ /^ns_per_irq=/) t = substr($i, 12) }
			/^irqbench: sgi/ { for (i = 1; i <= NF; i++) if ($i ~ /^ns_per_roundtrip=/) s = substr($i, 18) }
			END { if (t != "" && s != "") print t, s }'
}
if [ -f "$GUESTS/irqbench.bin" ]; then
	kernel_ic=gicv3
	"$ARMVMM" run -k "$GUESTS/hello.bin" --irqchip gicv2-kernel > /dev/null 2>&1 < /dev/null && kernel_ic=gicv2
	set -- $(irqbench user)
	user_t=${1:-} user_s=${2:-}
	echo "BENCH: irq latency, userspace GICv2 ($ic host): ${user_t:-?} ns per timer interrupt, ${user_s:-?} ns per SGI round trip"
	if [ "$kernel_ic" = gicv2 ]; then
		set -- $(irqbench gicv2-kernel)
		kern_t=${1:-} kern_s=${2:-}
		echo "BENCH: irq latency, in-kernel GICv2 ($ic host): ${kern_t:-?} ns per timer interrupt, ${kern_s:-?} ns per SGI round trip"
		if [ -n "$user_t" ] && [ -n "$kern_t" ] && [ -n "$user_s" ] && [ -n "$kern_s" ]; then
			awk -v ut="$user_t" -v kt="$kern_t" -v us="$user_s" -v ks="$kern_s" 'BEGIN {
				printf "BENCH: irq latency ratio userspace/in-kernel GICv2: timer %.2fx, SGI round trip %.2fx\n", ut / kt, us / ks }'
		fi
	else
		echo "BENCH: irq latency: no in-kernel GICv2 on this host (irqbench.bin is a GICv2 guest); see the gic-version=2 figures for the ratio"
	fi
fi

# Snapshots of a mostly idle guest (wait.bin) with 256 MiB and with 2 GiB of RAM: pause
# latency (armvmm pause, as the VM measures it), save time and size, and restore time
# from exec to the vCPUs running (the restore maps the memory file copy-on-write, so it
# should not grow with RAM).
if "$ARMVMM" --help 2>&1 | grep -q restore; then
	export XDG_RUNTIME_DIR="$TMPDIR/bench-xdg"
	mkdir -p "$XDG_RUNTIME_DIR"
	: > "$TMPDIR/bench-empty.script"
	for mem in 256 2048; do
		name=bench$mem snap="$TMPDIR/bench-snap-$mem"
		rm -rf "$snap"
		"$ARMVMM" run -k "$GUESTS/wait.bin" -m "$mem" --name "$name" < /dev/null > "$TMPDIR/$name.out" 2>&1 &
		pid=$!
		i=0
		while [ $i -lt 100 ] && ! grep -q "wait: running" "$TMPDIR/$name.out"; do sleep 0.1; i=$((i + 1)); done
		: > "$TMPDIR/$name.pauses"
		for i in 1 2 3 4 5 6 7 8 9 10 11; do
			"$ARMVMM" pause "$name" | sed -n 's/.*took \([0-9]*\) us.*/\1/p' >> "$TMPDIR/$name.pauses"
			"$ARMVMM" resume "$name" > /dev/null
		done
		p=$(sort -n "$TMPDIR/$name.pauses" | sed -n 6p)
		echo "BENCH: pause latency, $mem MiB guest ($ic): median ${p:-?} us (11 pauses, request to every vCPU out of KVM_RUN)"
		line=$("$ARMVMM" snapshot "$name" "$snap" --stop 2>&1 | head -n1)
		wait $pid
		st=$(du -k "$snap/state" 2>/dev/null | cut -f1) mm=$(du -k "$snap/memory" 2>/dev/null | cut -f1)
		echo "BENCH: snapshot save, $mem MiB guest ($ic): $line; on disk: state ${st:-?} KiB, memory file ${mm:-?} KiB (sparse, apparent $mem MiB)"
		armvmm-timeit -n 5 -u "restore: vCPUs running" -l "restore to vCPUs running, $mem MiB guest ($ic)" -- \
			"$ARMVMM" restore "$snap" --script "$TMPDIR/bench-empty.script" --loglevel info
		rm -rf "$snap"
	done
	unset XDG_RUNTIME_DIR
else
	echo "BENCH: snapshots: skipped (this armvmm has no restore)"
fi
