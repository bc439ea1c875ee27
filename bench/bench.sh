# Benchmark payload (run by nested.sh inside the nested host): figures only, no thresholds.
# With $KVMTOOL (a kvmtool binary nested.sh found) the null VM, the Linux boot, virtio-blk
# and the VMM's memory are measured for kvmtool too, in the same run, alternating the two,
# and printed as armvmm/kvmtool ratios; without it those comparisons are skipped.
ic=$( (grep -q GICv3 /proc/interrupts && echo gicv3) || echo gicv2)
echo "BENCH: host $(uname -r), $ic, $(grep -c '^processor' /proc/cpuinfo) cpus (nested KVM under TCG)"
# kvmtool keeps a socket per VM under $HOME/.lkvm.
export HOME="$TMPDIR"
kvmtool=""
if [ -n "${KVMTOOL:-}" ] && [ -x "$KVMTOOL" ]; then
	kvmtool=$KVMTOOL
	echo "BENCH: side by side with kvmtool ($("$kvmtool" version 2>&1 | head -n1)), run as shared/peers/README.md says"
else
	echo "BENCH: kvmtool comparison: skipped (no kvmtool: set ARMVMM_KVMTOOL, or see shared/peers/ beside the repository)"
fi

# side_by_side RUNS LABEL MARKER ARMVMM-ARGS... :: KVMTOOL-ARGS...
# armvmm-timeit on armvmm and, when there is one, kvmtool, alternating; MARKER "" times
# exec to exit, else exec to MARKER on the output.
side_by_side() {
	_runs=$1 _label=$2 _marker=$3
	shift 3
	_seen=false
	for _a in "$@"; do
		shift
		if [ "$_a" = "::" ]; then
			_seen=true
			[ -n "$kvmtool" ] && set -- "$@" "::" "$kvmtool"
		elif ! $_seen || [ -n "$kvmtool" ]; then
			set -- "$@" "$_a"
		fi
	done
	if [ -n "$_marker" ]; then
		armvmm-timeit -n "$_runs" -l "$_label" -u "$_marker" -N armvmm,kvmtool -- "$ARMVMM" "$@" < /dev/null
	else
		armvmm-timeit -n "$_runs" -l "$_label" -N armvmm,kvmtool -- "$ARMVMM" "$@" < /dev/null
	fi
}

# steps LABEL RUNS ARMVMM-ARGS...: the median of each start-up and teardown step armvmm
# times at --loglevel debug, over RUNS runs; also left in $TMPDIR/steps.median as
# "step|microseconds" lines.
steps() {
	_label=$1 _runs=$2
	shift 2
	: > "$TMPDIR/steps.all"
	_i=0
	while [ $_i -lt "$_runs" ]; do
		"$ARMVMM" "$@" --loglevel debug < /dev/null 2>&1 |
			sed -n 's/^armvmm: debug: step \(.*\): \([0-9]*\) us.*/\1|\2/p' >> "$TMPDIR/steps.all"
		_i=$((_i + 1))
	done
	awk -F'|' '{ if (!($1 in v)) order[n++] = $1; v[$1] = v[$1] " " $2 }
		END { for (i = 0; i < n; i++) {
			k = split(substr(v[order[i]], 2), a, " ")
			for (x = 2; x <= k; x++) for (y = x; y > 1 && a[y - 1] + 0 > a[y] + 0; y--) { t = a[y]; a[y] = a[y - 1]; a[y - 1] = t }
			print order[i] "|" a[int((k + 1) / 2)] } }' "$TMPDIR/steps.all" > "$TMPDIR/steps.median"
	echo "BENCH: $_label, armvmm's steps at --loglevel debug (median of $_runs runs, ms):"
	awk -F'|' '$1 != "start" { printf "BENCH:   %-36s %7.1f\n", $1, $2 / 1000 }' "$TMPDIR/steps.median"
}
step_ms() { awk -F'|' -v s="$1" '$1 == s { printf "%.1f", $2 / 1000 }' "$TMPDIR/steps.median"; }

# --- start-up: the null VM (PSCI SYSTEM_OFF as its first instruction), 64 MiB ----------
# The floor first: exec and exit of a static binary that does nothing (busybox), and of
# each VMM printing its version. Each line also gives the median CPU time and page
# faults of the runs (armvmm-timeit), which say where a difference comes from.
armvmm-timeit -n 20 -l "exec to exit, no VM: busybox true" -- true < /dev/null
side_by_side 20 "exec to exit, no VM: version ($ic)" "" version :: version
side_by_side 20 "null VM, exec to exit, 64 MiB ($ic)" "" \
	run -k "$GUESTS/null.bin" -m 64 :: \
	run --loglevel=warning --network mode=none --nodefaults -k "$GUESTS/null.bin" -m 64
# The same devices on both sides: kvmtool's null VM has its UART and no virtio device;
# armvmm's default one adds virtio-rng and the PL031 RTC, which --nodefaults leaves out.
side_by_side 20 "null VM, same devices (UART only), exec to exit, 64 MiB ($ic)" "" \
	run --nodefaults -k "$GUESTS/null.bin" -m 64 :: \
	run --loglevel=warning --network mode=none --nodefaults -k "$GUESTS/null.bin" -m 64
armvmm-timeit -n 20 -l "null VM, UART only: armvmm's sandbox on vs off ($ic)" -N on,off -- \
	"$ARMVMM" run --nodefaults -k "$GUESTS/null.bin" -m 64 :: \
	"$ARMVMM" run --nodefaults --sandbox=off -k "$GUESTS/null.bin" -m 64 < /dev/null
steps "null VM ($ic)" 10 run -k "$GUESTS/null.bin" -m 64

# --- Linux: Debian's kernel and the busybox initramfs to init and poweroff ------------
side_by_side 3 "Linux boot to init and poweroff, 2 vCPUs, 256 MiB ($ic)" "" \
	run -k "$KERNEL" -i "$GUEST_INITRD" -c 2 -m 256 :: \
	run --loglevel=warning --network mode=none -k "$KERNEL" -i "$GUEST_INITRD" -c 2 -m 256

# --- the VMM's own memory: RSS outside guest RAM with an idle Linux guest --------------
# idle_rss NAME COMMAND...: boots the guest waiting for a console line (armvmm.readline),
# reads the VMM's /proc/PID/smaps once the guest is idle and prints "RSS ANON" in KiB
# for every mapping smaller than guest RAM (256 MiB), then lets the guest power off.
idle_rss() {
	_name=$1
	shift
	_fifo="$TMPDIR/idle-$_name.in" _out="$TMPDIR/idle-$_name.out"
	rm -f "$_fifo"
	mkfifo "$_fifo"
	sleep 600 > "$_fifo" &	# holds the write end: the VMM's console input never ends
	_holder=$!
	"$@" < "$_fifo" > "$_out" 2>&1 &
	_pid=$!
	_i=0
	while [ $_i -lt 1200 ] && ! grep -q "guest ready for input" "$_out" && kill -0 $_pid 2>/dev/null; do
		sleep 0.1
		_i=$((_i + 1))
	done
	if grep -q "guest ready for input" "$_out"; then
		sleep 3
		awk -v ramkb=$((256 * 1024)) '
			function flush() { if (size < ramkb) { rss += r; anon += a } }
			/^[0-9a-f]+-[0-9a-f]+ / { flush(); size = r = a = 0; next }
			$1 == "Size:" { size = $2 } $1 == "Rss:" { r = $2 } $1 == "Anonymous:" { a = $2 }
			END { flush(); print rss, anon }' "/proc/$_pid/smaps"
	fi
	# Opening the FIFO waits for a reader: only while the VMM is there, and not for ever.
	kill -0 $_pid 2>/dev/null && timeout 10 sh -c 'echo "bench done" > "$1"' sh "$_fifo"
	_i=0
	while [ $_i -lt 300 ] && kill -0 $_pid 2>/dev/null; do sleep 0.1; _i=$((_i + 1)); done
	kill -KILL $_pid 2>/dev/null
	wait $_pid 2>/dev/null
	kill $_holder 2>/dev/null
	wait $_holder 2>/dev/null
	rm -f "$_fifo"
}
mem_line() { # NAME "RSS ANON"
	if [ -n "$2" ]; then
		set -- "$1" $2
		awk -v n="$1" -v r="$2" -v a="$3" -v ic="$ic" 'BEGIN {
			printf "BENCH: VMM memory beyond guest RAM, idle Linux guest, 2 vCPUs, 256 MiB (%s): %s %.2f MiB RSS (%.2f MiB of it anonymous)\n", ic, n, r / 1024, a / 1024 }'
	else
		echo "BENCH: VMM memory beyond guest RAM ($ic): $1 FAILED (the guest never became idle; see $TMPDIR/idle-$1.out)"
	fi
}
a_mem=$(idle_rss armvmm "$ARMVMM" run -k "$KERNEL" -i "$GUEST_INITRD" -c 2 -m 256 -p armvmm.readline)
mem_line armvmm "$a_mem"
if [ -n "$kvmtool" ]; then
	k_mem=$(idle_rss kvmtool "$kvmtool" run --loglevel=warning --network mode=none -k "$KERNEL" -i "$GUEST_INITRD" \
		-c 2 -m 256 -p armvmm.readline)
	mem_line kvmtool "$k_mem"
	if [ -n "$a_mem" ] && [ -n "$k_mem" ]; then
		set -- $a_mem $k_mem
		awk -v a="$1" -v k="$3" -v ic="$ic" 'BEGIN {
			printf "BENCH: VMM memory beyond guest RAM (%s): armvmm/kvmtool %.2f (RSS)\n", ic, a / k }'
	fi
fi

# --- virtio-blk: the guest's busybox dd on a 256 MiB disk file (/dev/vdb; the file lives in
# the nested host's tmpfs, so this measures the VMM's virtio path, not a disk), with armvmm's
# two backends, io=uring (io_uring) and io=thread (the thread fallback), and kvmtool (over
# virtio-mmio too). Sequential 1 MiB O_DIRECT write and read, then 4 KiB O_DIRECT random
# reads (one dd process per read; the guest also reports the figure with the process
# start-up cost taken out). One vCPU each. armvmm io=uring and kvmtool run twice,
# alternating (A B B A), and each figure is the mean of the two.
blkargs="panic=-1 ro armvmm.run=blkbench armvmm.benchdev=/dev/vdb armvmm.benchmb=256 armvmm.benchops=200"
blkrun() { # NAME RUN COMMAND...: runs it, prints its figures
	_name=$1 _run=$2
	shift 2
	_out="$TMPDIR/blkbench-$_name-$_run.out"
	"$@" < /dev/null > "$_out" 2>&1
	_rc=$?
	tr -d '\r' < "$_out" | sed -n "s/^blkbench: /BENCH: virtio-blk $_name ($ic, run $_run), /p"
	if [ "$_rc" != 0 ] || ! grep -q '^blkbench: rand-read-4k' "$_out"; then
		echo "BENCH: virtio-blk $_name ($ic, run $_run): FAILED (exit status $_rc); its last lines:"
		tail -n 5 "$_out" | tr -d '\r' | sed 's/^/BENCH:   | /'
	fi
}
fig() { # NAME KEY: the mean over NAME's runs of the figure after "KEY: " (KEY alone: rand-read-4k's "I/O alone")
	for _f in "$TMPDIR/blkbench-$1-"*.out; do
		[ -f "$_f" ] || continue
		if [ "$2" = alone ]; then
			tr -d '\r' < "$_f" | sed -n 's/^blkbench: rand-read-4k:.*I\/O alone: \([0-9.]* ops\/s\).*/\1/p' | head -n1
		else
			tr -d '\r' < "$_f" | sed -n "s/^blkbench: $2: \([0-9.]* [a-zA-Z/]*\).*/\1/p" | head -n1
		fi
	done | awk '{ s += $1; n++; u = $2 } END { if (n) printf "%.1f %s", s / n, u }'
}
if [ -n "${GUEST_MODS_INITRD:-}" ] && "$ARMVMM" run --help 2>&1 | grep -q -- '--disk'; then
	disk="$TMPDIR/bench-disk.img"
	head -c $((256 * 1048576)) /dev/zero > "$disk"
	rm -f "$TMPDIR"/blkbench-*.out
	blk_armvmm() { blkrun "io=$1" "$2" "$ARMVMM" run -k "$KERNEL" -i "$GUEST_MODS_INITRD" -m 256 \
		-d "$GUEST_ROOTFS,ro" -d "$disk,io=$1" -p "$blkargs"; }
	blk_kvmtool() { blkrun kvmtool "$1" "$kvmtool" run --loglevel=warning --network mode=none -k "$KERNEL" \
		-i "$GUEST_MODS_INITRD" -c 1 -m 256 --virtio-transport mmio -d "$GUEST_ROOTFS,ro" -d "$disk" -p "$blkargs"; }
	blk_armvmm uring 1
	if [ -n "$kvmtool" ]; then
		blk_kvmtool 1
		blk_kvmtool 2
		blk_armvmm uring 2
	fi
	blk_armvmm thread 1
	rm -f "$disk"
	printf 'BENCH: virtio-blk (%s)             %-14s %-14s %s\n' "$ic" "io=uring" "io=thread" "${kvmtool:+kvmtool}"
	row() { # TITLE KEY
		printf 'BENCH:   %-30s %-14s %-14s %s\n' "$1" "$(fig io=uring "$2")" "$(fig io=thread "$2")" \
			"${kvmtool:+$(fig kvmtool "$2")}"
	}
	row "sequential write, 1 MiB" seq-write-1M
	row "sequential read, 1 MiB" seq-read-1M
	row "4 KiB random reads (dd)" rand-read-4k
	row "4 KiB random reads (I/O)" alone
	if [ -n "$kvmtool" ]; then
		for key in seq-write-1M seq-read-1M rand-read-4k alone; do
			a=$(fig io=uring "$key") b=$(fig kvmtool "$key")
			awk -v key="$key" -v a="${a%% *}" -v b="${b%% *}" -v ic="$ic" 'BEGIN {
				if (key == "alone") key = "rand-read-4k (I/O alone)"
				if (a + 0 > 0 && b + 0 > 0) printf "BENCH: virtio-blk %s (%s): armvmm io=uring/kvmtool %.2f (throughput, means of 2 alternating runs: above 1 armvmm is faster)\n", key, ic, a / b
				else printf "BENCH: virtio-blk %s (%s): no ratio (a figure is missing)\n", key, ic }'
		done
	fi
else
	echo "BENCH: virtio-blk: skipped (this armvmm has no --disk)"
fi

# Network: Linux guests with one NIC each on a tap in the nested host (root disk a copy of
# GUEST_ROOTFS, nettool's servers running); the host's nettool against each over IPv6
# link-local: 64 MiB host to guest and guest to host (TCP, every byte checked), then
# 64-byte UDP datagrams host to guest for 5 s (the rate the guest received). For vhost=0
# (armvmm's I/O thread; kvmtool's own thread) and vhost=1 (vhost-net), armvmm and kvmtool
# ($KVMTOOL, when nested.sh found one, with --virtio-transport mmio) boot side by side,
# each on its own tap, and are measured NET_BENCH_ROUNDS times (default 3) one after the
# other, the order swapped every round: both see the same load of a shared, noisy
# machine. Each round prints a line; then the medians and the armvmm/kvmtool ratios.
net_rounds=${NET_BENCH_ROUNDS:-3}
case $net_rounds in "" | *[!0-9]* | 0) net_rounds=3 ;; esac
# net_start TAG FD TAP VMM ARGS...: boots a guest in the background; its console goes to
# $TMPDIR/net-TAG.out, its input comes from file descriptor FD (a fifo).
net_start() {
	_tag=$1 _fd=$2 _tap=$3
	shift 3
	rm -f "$TMPDIR/net-$_tag.fifo" "$TMPDIR/net-$_tag.out"
	mkfifo "$TMPDIR/net-$_tag.fifo"
	cp "$GUEST_ROOTFS" "$TMPDIR/net-$_tag-root.ext4"
	timeout -s KILL 1200 "$@" -d "$TMPDIR/net-$_tag-root.ext4" < "$TMPDIR/net-$_tag.fifo" > "$TMPDIR/net-$_tag.out" 2>&1 &
	eval "net_pid_$_tag=$!"
	eval "exec $_fd> \"\$TMPDIR/net-\$_tag.fifo\""
	# Up as soon as it exists (kvmtool with script=none leaves it down, and a write to a tap
	# that is down fails), before the guest sends anything.
	_i=0
	while [ $_i -lt 300 ] && [ ! -e "/sys/class/net/$_tap" ] && kill -0 $! 2>/dev/null; do sleep 0.1; _i=$((_i + 1)); done
	ip link set "$_tap" up 2>/dev/null
}
# net_ready TAG TAP LABEL: waits for the guest's "net: ready"; sets net_addr_TAG to its
# address%TAP, or to "" (and says so) when it never came.
net_ready() {
	_tag=$1 _tap=$2 _label=$3
	eval "_pid=\$net_pid_$_tag"
	_out="$TMPDIR/net-$_tag.out"
	_i=0
	while [ $_i -lt 600 ] && ! grep -q "net: ready" "$_out" && kill -0 "$_pid" 2>/dev/null; do sleep 0.5; _i=$((_i + 1)); done
	_g=$(tr -d '\r' < "$_out" | sed -n 's/.*net: eth0 .*ll=\([^ ]*\).*/\1/p' | head -n1)
	if [ -z "$_g" ] || ! grep -q "net: ready" "$_out"; then
		echo "BENCH: network, $_label: FAILED (the guest never reported its address); its last lines:"
		tail -n 5 "$_out" | tr -d '\r' | sed 's/^/BENCH:   | /'
		eval "net_addr_$_tag="
		return 1
	fi
	ping -c 2 -W 5 "$_g%$_tap" > /dev/null 2>&1
	eval "net_addr_$_tag=\$_g%\$_tap"
}
# net_round TAG LABEL ROUND: one round of the three figures on guest TAG, printed and
# appended to $TMPDIR/net-TAG.figs as "host-to-guest guest-to-host udp-received udp-sent"
# ("-" for a failure). The sender in the nested host is slow (thousands of datagrams a
# second) and shares its two CPUs with the guest, so the rate received is the rate of the
# whole: the rate sent says what the guest was offered.
net_round() {
	_tag=$1 _label=$2 _round=$3
	eval "_a=\$net_addr_$_tag"
	[ -n "$_a" ] || return 0
	_seed=$((_round * 16 + 7))
	_s=$("$NETTOOL" send "$_a" 5001 67108864 $_seed 2>&1 | tail -n1 | sed -n 's/.* match in .* s (\([0-9.]*\) MiB\/s).*/\1/p')
	_f=$("$NETTOOL" fetch "$_a" 5001 67108864 $_seed 2>&1 | tail -n1 | sed -n 's/.* match in .* s (\([0-9.]*\) MiB\/s).*/\1/p')
	_u=$("$NETTOOL" udp "$_a" 5002 64 5 2>&1 | tail -n1)
	_sent=$(echo "$_u" | sed -n 's/.*sent [0-9]* (\([0-9]*\)\/s).*/\1/p')
	_u=$(echo "$_u" | sed -n 's/.*received [0-9]* (\([0-9]*\)\/s).*/\1/p')
	echo "${_s:--} ${_f:--} ${_u:--} ${_sent:--}" >> "$TMPDIR/net-$_tag.figs"
	echo "BENCH: network, $_label, round $_round: TCP 64 MiB host to guest ${_s:-FAILED} MiB/s, guest to host ${_f:-FAILED} MiB/s; UDP 64-byte datagrams host to guest ${_u:-FAILED}/s received (${_sent:-?}/s sent)"
}
# net_stop TAG FD TAP [term]: powers the guest off (killed after 30 s), removes its tap and
# files; with "term" the VMM gets SIGTERM at once (kvmtool's console takes no input from a
# fifo: it waits for a terminal, and the guest never sees the poweroff).
net_stop() {
	_tag=$1 _fd=$2 _tap=$3
	eval "_pid=\$net_pid_$_tag"
	printf 'poweroff -f\n' >&"$_fd"
	[ "${4:-}" = term ] && kill -TERM "$_pid" 2>/dev/null
	_i=0
	while kill -0 "$_pid" 2>/dev/null && [ $_i -lt 60 ]; do sleep 0.5; _i=$((_i + 1)); done
	kill -KILL "$_pid" 2>/dev/null
	wait "$_pid" 2>/dev/null
	eval "exec $_fd>&-"
	ip link del "$_tap" 2>/dev/null
	rm -f "$TMPDIR/net-$_tag.fifo" "$TMPDIR/net-$_tag-root.ext4"
}
# net_median TAG COLUMN: the median of a figure over the rounds ("" when none was measured)
net_median() {
	awk -v c="$2" '$c != "-" { v[n++] = $c + 0 }
		END { for (i = 1; i < n; i++) for (j = i; j > 0 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
			if (n % 2) print v[(n - 1) / 2]; else if (n) print (v[n / 2 - 1] + v[n / 2]) / 2 }' "$TMPDIR/net-$1.figs" 2>/dev/null
}
# net_ratio COLUMN: "M (per round: R1 R2 ...)", armvmm's median over kvmtool's and each
# round's own ratio (the two measured next to each other).
net_ratio() {
	_ma=$(net_median a "$1") _mk=$(net_median k "$1")
	awk -v c="$1" -v ma="$_ma" -v mk="$_mk" 'NR == FNR { a[FNR] = $c; next }
		{ if (a[FNR] != "-" && a[FNR] != "" && $c != "-" && $c + 0 > 0) r = r sprintf(" %.2f", a[FNR] / $c); else r = r " -" }
		END { printf "%s (per round:%s)", (ma + 0 > 0 && mk + 0 > 0) ? sprintf("%.2f", ma / mk) : "-", r }' \
		"$TMPDIR/net-a.figs" "$TMPDIR/net-k.figs" 2>/dev/null
}
net_summary() { # TAG LABEL
	echo "BENCH: network, $2, median of $net_rounds rounds: TCP 64 MiB host to guest $(net_median "$1" 1) MiB/s, guest to host $(net_median "$1" 2) MiB/s; UDP 64-byte datagrams host to guest $(net_median "$1" 3)/s received ($(net_median "$1" 4)/s sent)"
}
if [ -x "${NETTOOL:-}" ] && . "$ARMVMM_LIB" && load_host_modules && [ -c /dev/net/tun ]; then
	echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad
	[ -n "$kvmtool" ] || echo "BENCH: network, kvmtool: skipped (no kvmtool: set ARMVMM_KVMTOOL, or see shared/peers/ beside the repository)"
	for vhost in 0 1; do
		la="armvmm vhost=$vhost ($ic)" lk="kvmtool vhost=$vhost ($ic)"
		rm -f "$TMPDIR/net-a.figs" "$TMPDIR/net-k.figs"
		net_start a 7 armb0 "$ARMVMM" run -k "$KERNEL" -i "$GUEST_MODS_INITRD" -m 256 \
			-p "panic=-1 armvmm.run=net,shell" --network "mode=tap,tapif=armb0,vhost=$vhost"
		[ -n "$kvmtool" ] && net_start k 8 kvmb0 "$kvmtool" run --loglevel=warning -c 1 -k "$KERNEL" \
			-i "$GUEST_MODS_INITRD" -m 256 -p "panic=-1 armvmm.run=net,shell" \
			--virtio-transport mmio --network "mode=tap,tapif=kvmb0,script=none,vhost=$vhost"
		net_ready a armb0 "$la"
		[ -n "$kvmtool" ] && net_ready k kvmb0 "$lk"
		round=1
		while [ $round -le "$net_rounds" ]; do
			if [ -z "$kvmtool" ]; then
				net_round a "$la" $round
			elif [ $((round % 2)) = 1 ]; then
				net_round a "$la" $round
				net_round k "$lk" $round
			else
				net_round k "$lk" $round
				net_round a "$la" $round
			fi
			round=$((round + 1))
		done
		net_stop a 7 armb0
		[ -n "$kvmtool" ] && net_stop k 8 kvmb0 term
		net_summary a "$la"
		if [ -n "$kvmtool" ]; then
			net_summary k "$lk"
			echo "BENCH: network vhost=$vhost ($ic), armvmm/kvmtool (medians of $net_rounds alternating rounds; above 1 armvmm is faster):"
			echo "BENCH:   TCP host to guest $(net_ratio 1)"
			echo "BENCH:   TCP guest to host $(net_ratio 2)"
			echo "BENCH:   UDP 64-byte datagrams host to guest $(net_ratio 3)"
		fi
		rm -f "$TMPDIR/net-a.figs" "$TMPDIR/net-k.figs"
	done
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
# should not grow with RAM), alternating with a null VM of the same size to the same
# point: a restore should cost that start-up plus loading the state, no more.
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
		out=$(armvmm-timeit -n 7 -u "step vCPU threads started" -l "exec to vCPUs running, $mem MiB ($ic)" \
			-N restore,null-VM -- \
			"$ARMVMM" restore "$snap" --script "$TMPDIR/bench-empty.script" --loglevel debug :: \
			"$ARMVMM" run -k "$GUESTS/null.bin" -m "$mem" --loglevel debug < /dev/null)
		echo "$out"
		steps "restore, $mem MiB ($ic)" 5 restore "$snap" --script "$TMPDIR/bench-empty.script"
		# The state load: what a restore does that a boot does not (read and check the
		# snapshot; put the vCPU, GIC and device state back), from the steps above.
		r=$(echo "$out" | sed -n 's/.*: restore median \([0-9.]*\) ms.*/\1/p')
		n=$(echo "$out" | sed -n 's/.*: null-VM median \([0-9.]*\) ms.*/\1/p')
		awk -v r="$r" -v n="$n" -v rd="$(step_ms "snapshot read and checked")" -v st="$(step_ms "state restored")" \
			-v mem="$mem" -v ic="$ic" 'BEGIN {
			if (r == "" || n == "" || rd == "" || st == "") { printf "BENCH: restore, %s MiB (%s): no breakdown (a figure is missing)\n", mem, ic; exit }
			printf "BENCH: restore, %s MiB (%s): %.1f ms to vCPUs running = null VM start-up %.1f ms + state load %.1f ms (read and check %.1f, state restored %.1f) %+.1f ms\n",
				mem, ic, r, n, rd + st, rd, st, r - n - rd - st }'
		rm -rf "$snap"
	done
	unset XDG_RUNTIME_DIR
else
	echo "BENCH: snapshots: skipped (this armvmm has no restore)"
fi

# Soak (on the GICv3 host only: it takes a few minutes under nested TCG). 200 start/stop
# cycles of a small guest through the control socket, then one named VM put through 50
# pause/resume and 20 snapshot cycles. Leaks show as open files or sockets left behind,
# host memory not coming back, and the VM's open fds and RSS growing across the cycles.
if [ "$ic" = gicv3 ] && "$ARMVMM" run --help 2>&1 | grep -q -- '--sandbox'; then
	export XDG_RUNTIME_DIR="$TMPDIR/soak-xdg"
	mkdir -p "$XDG_RUNTIME_DIR"
	chmod 700 "$XDG_RUNTIME_DIR"
	# ready FILE: wait.bin said it runs (up to 20 s)
	ready() {
		n=0
		while ! grep -q "wait: running" "$1" 2>/dev/null && [ $n -lt 200 ]; do sleep 0.1; n=$((n + 1)); done
	}
	files0=$(cut -f1 /proc/sys/fs/file-nr) mem0=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
	t0=$(date +%s) fails=0 i=0
	while [ $i -lt 200 ]; do
		"$ARMVMM" run -k "$GUESTS/wait.bin" --name soak < /dev/null > "$TMPDIR/soak.out" 2>&1 &
		pid=$!
		ready "$TMPDIR/soak.out"
		"$ARMVMM" stop soak > /dev/null 2>&1 || fails=$((fails + 1))
		wait $pid || fails=$((fails + 1))
		i=$((i + 1))
	done
	t1=$(date +%s)
	sleep 1
	files1=$(cut -f1 /proc/sys/fs/file-nr) mem1=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
	left=$(ls -A "$XDG_RUNTIME_DIR/armvmm" 2>/dev/null | wc -l)
	procs=$(pidof armvmm | wc -w)
	echo "BENCH: soak: 200 start/stop cycles (wait.bin, --name, armvmm stop): $fails failed, $((t1 - t0)) s ($(( (t1 - t0) * 1000 / 200 )) ms per cycle)"
	echo "BENCH: soak: after them: host open files $files0 -> $files1, MemAvailable $mem0 -> $mem1 KiB, $left control sockets left, $procs armvmm processes left"

	head -c $((64 * 1048576)) /dev/zero > "$TMPDIR/soak-disk.img"
	"$ARMVMM" run -k "$GUESTS/wait.bin" -m 256 -d "$TMPDIR/soak-disk.img,io=thread" --name soakvm \
		< /dev/null > "$TMPDIR/soakvm.out" 2>&1 &
	pid=$!
	ready "$TMPDIR/soakvm.out"
	fds() { ls /proc/$pid/fd | wc -l; }
	rss() { awk '/^VmRSS:/ { print $2 }' /proc/$pid/status; }
	snapcycle() {
		rm -rf "$TMPDIR/soak-snap"
		"$ARMVMM" snapshot soakvm "$TMPDIR/soak-snap" > /dev/null 2>&1 || fails=$((fails + 1))
	}
	# One of each first: whatever is allocated once (buffers, the io path) is not a leak.
	fails=0
	"$ARMVMM" pause soakvm > /dev/null 2>&1; "$ARMVMM" resume soakvm > /dev/null 2>&1
	snapcycle
	fd0=$(fds) rss0=$(rss)
	i=0
	while [ $i -lt 50 ]; do
		"$ARMVMM" pause soakvm > /dev/null 2>&1 || fails=$((fails + 1))
		"$ARMVMM" resume soakvm > /dev/null 2>&1 || fails=$((fails + 1))
		i=$((i + 1))
	done
	fd1=$(fds) rss1=$(rss)
	i=0
	while [ $i -lt 20 ]; do snapcycle; i=$((i + 1)); done
	fd2=$(fds) rss2=$(rss)
	"$ARMVMM" stop soakvm > /dev/null 2>&1
	wait $pid
	rc=$?
	rm -rf "$TMPDIR/soak-snap" "$TMPDIR/soak-disk.img"
	bounds() { [ "$1" = "$2" ] && [ $(($4 - $3)) -lt 1024 ] && echo "within bounds" || echo "OUT OF BOUNDS (fds must not change, RSS grow < 1 MiB)"; }
	echo "BENCH: soak: one VM (256 MiB, a disk): 50 pause/resume cycles: open fds $fd0 -> $fd1, RSS $rss0 -> $rss1 KiB ($((rss1 - rss0)) KiB): $(bounds $fd0 $fd1 $rss0 $rss1)"
	echo "BENCH: soak: the same VM, 20 snapshot cycles: open fds $fd1 -> $fd2, RSS $rss1 -> $rss2 KiB ($((rss2 - rss1)) KiB): $(bounds $fd1 $fd2 $rss1 $rss2); $fails requests failed, exit status $rc"
	unset XDG_RUNTIME_DIR
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
