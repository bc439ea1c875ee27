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
		"$ARMVMM" run -k "$GUESTS/wait.bin" -m "$mem" --name "$name" --loglevel info < /dev/null > "$TMPDIR/$name.out" 2>&1 &
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
		# Five saves of the running guest (the save time each reports), then the one kept, with --stop.
		: > "$TMPDIR/$name.saves"
		for i in 1 2 3 4 5; do
			"$ARMVMM" snapshot "$name" "$snap-$i" 2>&1 | sed -n 's/.* in \([0-9]*\) ms$/\1/p' >> "$TMPDIR/$name.saves"
			rm -rf "$snap-$i"
		done
		echo "BENCH: snapshot save time, $mem MiB guest ($ic): median $(sort -n "$TMPDIR/$name.saves" | sed -n 3p) ms (5 saves: $(sort -n "$TMPDIR/$name.saves" | tr '\n' ' ')ms)"
		sed -n 's/^armvmm: snapshot written to [^:]*: .* ms (\(state.*\))$/BENCH:   \1/p' "$TMPDIR/$name.out" | head -n5
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

# Live migration against stop-and-copy: a mostly idle guest (wait.bin) and one that rewrites
# memory at a fixed rate (mig_writer.bin: 64 MiB rewritten at 2000 pages a second, 8 MiB/s),
# with 512 MiB and 2 GiB of RAM, each migrated over a unix socket (rounds, MiB sent, downtime,
# total), then the same guest saved with "snapshot --stop" and restored (save time + restore
# to vCPUs running): what a migration costs the guest without pre-copy.
if "$ARMVMM" --help 2>&1 | grep -q migrate && [ -f "$GUESTS/mig_writer.bin" ]; then
	export XDG_RUNTIME_DIR="$TMPDIR/bench-xdg"
	mkdir -p "$XDG_RUNTIME_DIR"
	chmod 700 "$XDG_RUNTIME_DIR"
	ip link set lo up 2> /dev/null
	: > "$TMPDIR/bench-empty.script"
	bwait() { # FILE TEXT: wait up to 60 s for TEXT
		i=0
		while [ $i -lt 600 ] && ! grep -q "$2" "$1" 2> /dev/null; do sleep 0.1; i=$((i + 1)); done
	}
	for mem in 512 2048; do
		for kind in idle writer; do
			if [ $kind = idle ]; then
				guest="$GUESTS/wait.bin" ready="wait: running" params=""
			else
				guest="$GUESTS/mig_writer.bin" ready="mig-writer: ready" params="mig.mib=64 mig.rate=2000"
			fi
			label="$mem MiB $kind guest ($ic)"
			sock="$TMPDIR/bench-mig.sock"
			rm -f "$sock"
			"$ARMVMM" restore --incoming "unix:$sock" --name bdst --loglevel info < /dev/null > "$TMPDIR/bdst.out" 2>&1 &
			dpid=$!
			bwait "$TMPDIR/bdst.out" "waiting for an incoming VM"
			"$ARMVMM" run -k "$guest" -m "$mem" -p "$params" --name bsrc --loglevel info < /dev/null > "$TMPDIR/bsrc.out" 2>&1 &
			spid=$!
			bwait "$TMPDIR/bsrc.out" "$ready"
			sleep 2
			line=$("$ARMVMM" migrate bsrc "unix:$sock" 2>&1 | head -n1)
			wait $spid
			echo "BENCH: live migration, $label: ${line#*: migrated to unix:$sock: }"
			sed -n 's/^armvmm: migration round /BENCH:   round /p; s/^armvmm: migration: /BENCH:   /p' "$TMPDIR/bsrc.out"
			down=$(echo "$line" | sed -n 's/.*downtime \([0-9]*\) ms.*/\1/p')
			"$ARMVMM" stop bdst > /dev/null 2>&1
			wait $dpid
			# The same guest, stopped, saved and restored.
			snap="$TMPDIR/bench-sc-snap"
			rm -rf "$snap"
			"$ARMVMM" run -k "$guest" -m "$mem" -p "$params" --name bsc < /dev/null > "$TMPDIR/bsc.out" 2>&1 &
			spid=$!
			bwait "$TMPDIR/bsc.out" "$ready"
			sleep 2
			save=$("$ARMVMM" snapshot bsc "$snap" --stop 2>&1 | sed -n 's/.* in \([0-9]*\) ms$/\1/p' | head -n1)
			wait $spid
			rest=$("$ARMVMM" restore "$snap" --script "$TMPDIR/bench-empty.script" --loglevel info 2>&1 < /dev/null |
				sed -n 's/.*restore: vCPUs running \([0-9]*\) ms.*/\1/p' | head -n1)
			rm -rf "$snap"
			if [ -n "$save" ] && [ -n "$rest" ]; then
				sc=$((save + rest))
				echo "BENCH: stop-and-copy, $label: save ${save} ms + restore ${rest} ms = ${sc} ms of downtime"
				[ -n "$down" ] && awk -v d="$down" -v s="$sc" -v l="$label" 'BEGIN {
					printf "BENCH: live migration downtime / stop-and-copy, %s: %.0f%%\n", l, 100 * d / s }'
			else
				echo "BENCH: stop-and-copy, $label: FAILED (save '${save}' ms, restore '${rest}' ms)"
			fi
		done
	done
	unset XDG_RUNTIME_DIR
else
	echo "BENCH: live migration: skipped (this armvmm cannot migrate)"
fi
