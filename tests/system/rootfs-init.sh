#!/bin/busybox sh
# /sbin/init of the Linux guest's ext4 root disk ($GUEST_ROOTFS, built by nested.sh and
# mounted by the modules initramfs, mods-init.sh). It reports how it was booted, runs the
# actions that armvmm.run=A,B,... on the kernel command line names, and powers off.
# Every result line starts with the action's name and a colon; a failed step prints
# "rootfs: FAIL: ...". Actions:
#   write     write "armvmm-persist <armvmm.token>" to /armvmm-persist.txt, sync
#   read      print /armvmm-persist.txt ("read: armvmm-persist <token>", or "read: no file")
#   rotest    armvmm.rodev (default /dev/vdb; /dev/vda = the root itself) must refuse
#             every write: read-write mount, remount, file write, raw block write
#   hwrng     64 bytes from /dev/hwrng (twice) and the kernel's current hw_random source
#   hwclock   the RTC: hwclock, /sys/class/rtc/rtc0/since_epoch now and 2 s later
#   vconsole  print a marker, read a line from the console, print it back
#   blkbench  disk figures on armvmm.benchdev (default /dev/vdb): sequential write and read
#             (1 MiB O_DIRECT), 4 KiB O_DIRECT random reads (armvmm.benchmb, default 256)
#   net       every virtio NIC up with its IPv6 link-local address (no duplicate address
#             detection: the link is the test's own), "net: IFACE mac=MAC ll=ADDR" per NIC,
#             then nettool's servers in the background (TCP 5001, UDP 5002, vsock 5003)
#             and "net: ready"
#   diskloop  until a line comes on the console: write /diskloop.bin (generation N in
#             every line), drop the page cache, read it back through the disk and compare
#             its md5sum with what was written ("diskloop: round N ok"); then "diskloop:
#             stopped after N rounds" (a live migration happens meanwhile)
#   shell     an interactive shell ('poweroff -f' ends it)
#   flood     print numbered lines to the console as fast as it takes them, forever
export PATH=/bin:/sbin
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sys /sys 2>/dev/null
mount -t devtmpfs dev /dev 2>/dev/null
# The root may be read-only: the busybox applet links live in a tmpfs.
mount -t tmpfs run /run
mkdir -p /run/bin /run/tmp
/bin/busybox --install -s /run/bin
export PATH=/run/bin:/bin TMPDIR=/run/tmp

cmdline=$(cat /proc/cmdline)
param() {
	for w in $cmdline; do
		case "$w" in "$1="*) echo "${w#*=}"; return 0 ;; esac
	done
	return 1
}
failures=0
fail() {
	echo "rootfs: FAIL: $*"
	failures=$((failures + 1))
}
# mount_opt MOUNTPOINT: rw or ro, as /proc/mounts has it.
mount_opt() {
	awk -v m="$1" '$2 == m { split($4, o, ","); r = o[1] } END { print r }' /proc/mounts
}

rootdev=$(awk '$2 == "/" && $1 != "rootfs" { d = $1 } END { print d }' /proc/mounts)
echo "rootfs: init running from $rootdev ($(mount_opt /)), kernel $(uname -r), $(grep -c '^processor' /proc/cpuinfo) cpu(s)"

act_write() {
	token=$(param armvmm.token) || token=none
	if printf 'armvmm-persist %s\n' "$token" > /armvmm-persist.txt && sync; then
		echo "write: wrote armvmm-persist $token"
	else
		fail "write: cannot write /armvmm-persist.txt"
	fi
}

act_read() {
	if [ -f /armvmm-persist.txt ]; then
		echo "read: $(cat /armvmm-persist.txt)"
	else
		echo "read: no file"
	fi
}

# Each write attempt must fail; "refused" when it did, "ALLOWED" when it did not.
act_rotest() {
	dev=$(param armvmm.rodev) || dev=/dev/vdb
	name=${dev#/dev/}
	[ -b "$dev" ] || { fail "rotest: no block device $dev"; return; }
	sysro=$(cat "/sys/block/$name/ro" 2>/dev/null)
	if [ "$dev" = "$rootdev" ]; then
		mnt=/
		mount_rw=skipped
	else
		mnt=/run/ro
		mkdir -p "$mnt"
		# busybox mount falls back to read-only by itself: judge by the result.
		if mount -t ext4 -o rw "$dev" "$mnt" 2>/dev/null && [ "$(mount_opt "$mnt")" = rw ]; then
			mount_rw=ALLOWED
		else
			mount_rw=refused
			grep -q " $mnt " /proc/mounts || mount -t ext4 -o ro "$dev" "$mnt" ||
				{ fail "rotest: cannot mount $dev read-only either"; return; }
		fi
	fi
	if mount -o remount,rw "$mnt" 2>/dev/null && [ "$(mount_opt "$mnt")" = rw ]; then
		remount=ALLOWED
	else
		remount=refused
	fi
	if (echo x > "$mnt/rotest-file") 2>/dev/null && sync; then
		file=ALLOWED
	else
		file=refused
	fi
	# Sector 2 is the ext4 superblock: the host side checks the image is unchanged.
	if dd if=/dev/zero of="$dev" bs=512 count=1 seek=2 conv=notrunc,fsync oflag=direct 2>/dev/null; then
		raw=ALLOWED
	else
		raw=refused
	fi
	[ "$mnt" = / ] || umount "$mnt" 2>/dev/null
	echo "rotest: dev=$dev sysfs-ro=$sysro mount-rw=$mount_rw remount-rw=$remount file-write=$file raw-write=$raw"
}

# hex of 64 bytes from /dev/hwrng ("" when nothing came within 10 s)
hwrng_bytes() {
	timeout 10 dd if=/dev/hwrng bs=64 count=1 iflag=fullblock 2>/dev/null | od -An -tx1 -v | tr -d ' \n'
}

act_hwrng() {
	cur=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)
	avail=$(cat /sys/class/misc/hw_random/rng_available 2>/dev/null)
	echo "hwrng: rng_current=$cur rng_available=$avail"
	a=$(hwrng_bytes)
	b=$(hwrng_bytes)
	echo "hwrng: bytes=$((${#a} / 2)) hex=$a"
	echo "hwrng: bytes=$((${#b} / 2)) hex=$b"
}

act_hwclock() {
	name=$(cat /sys/class/rtc/rtc0/name 2>/dev/null)
	t1=$(cat /sys/class/rtc/rtc0/since_epoch 2>/dev/null)
	echo "rtc: since_epoch=$t1 name=$name"
	echo "hwclock: $(hwclock -r -u 2>&1 || hwclock -u 2>&1)"
	sleep 2
	t2=$(cat /sys/class/rtc/rtc0/since_epoch 2>/dev/null)
	echo "rtc: after 2 s since_epoch=$t2 system date=$(date +%s)"
}

act_vconsole() {
	echo "vconsole: console is $(readlink /proc/self/fd/0)"
	echo "vconsole: ready for input"
	if read -r line; then
		echo "vconsole: read: $line"
	else
		fail "vconsole: end of input"
	fi
}

# now_cs: /proc/uptime in hundredths of a second
now_cs() {
	read -r up _ < /proc/uptime
	echo "${up%.*}${up#*.}"
}
# rate LABEL BYTES CENTISECONDS
rate() {
	awk -v l="$1" -v b="$2" -v t="$3" 'BEGIN { if (t < 1) t = 1; printf "blkbench: %s: %.1f MiB/s (%d MiB in %.2f s)\n", l, b / 1048576 / (t / 100), b / 1048576, t / 100 }'
}
act_blkbench() {
	dev=$(param armvmm.benchdev) || dev=/dev/vdb
	mb=$(param armvmm.benchmb) || mb=256
	n=$(param armvmm.benchops) || n=300
	[ -b "$dev" ] || { fail "blkbench: no block device $dev"; return; }
	size=$(blockdev --getsize64 "$dev")
	[ "$size" -ge $((mb * 1048576)) ] || mb=$((size / 1048576))
	t0=$(now_cs)
	dd if=/dev/zero of="$dev" bs=1M count="$mb" oflag=direct conv=fsync 2>/dev/null || fail "blkbench: write to $dev"
	t1=$(now_cs)
	rate seq-write-1M $((mb * 1048576)) $((t1 - t0))
	echo 3 > /proc/sys/vm/drop_caches
	t0=$(now_cs)
	dd if="$dev" of=/dev/null bs=1M count="$mb" iflag=direct 2>/dev/null || fail "blkbench: read from $dev"
	t1=$(now_cs)
	rate seq-read-1M $((mb * 1048576)) $((t1 - t0))
	# 4 KiB random reads: one busybox dd per read, so also time the same loop reading
	# /dev/zero and report the difference as the I/O's share.
	blocks=$((mb * 256))
	i=0
	t0=$(now_cs)
	while [ $i -lt "$n" ]; do
		dd if="$dev" of=/dev/null bs=4096 count=1 skip=$(((RANDOM * 32768 + RANDOM) % blocks)) iflag=direct 2>/dev/null
		i=$((i + 1))
	done
	t1=$(now_cs)
	i=0
	while [ $i -lt "$n" ]; do
		dd if=/dev/zero of=/dev/null bs=4096 count=1 skip=$(((RANDOM * 32768 + RANDOM) % blocks)) 2>/dev/null
		i=$((i + 1))
	done
	t2=$(now_cs)
	awk -v n="$n" -v a="$((t1 - t0))" -v b="$((t2 - t1))" 'BEGIN {
		if (a < 1) a = 1; if (b < 1) b = 1
		io = a - b; if (io < 1) io = 1
		printf "blkbench: rand-read-4k: %.0f ops/s with one dd per read (%d reads in %.2f s; the loop without I/O: %.2f s; I/O alone: %.0f ops/s, %.2f ms each)\n",
			n / (a / 100), n, a / 100, b / 100, n / (io / 100), io * 10 / n }'
}

# ll IFACE: the interface's IPv6 link-local address ("" while it has none)
ll() {
	ip -6 addr show dev "$1" scope link 2>/dev/null | sed -n 's/.*inet6 \(fe80[^/]*\).*/\1/p' | head -n1
}
act_net() {
	echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad 2>/dev/null
	ifaces=$(ls /sys/class/net | grep -v '^lo$')
	[ -n "$ifaces" ] || { fail "net: no network interface"; return; }
	for i in $ifaces; do
		echo 0 > "/proc/sys/net/ipv6/conf/$i/accept_dad" 2>/dev/null
		ip link set "$i" up || fail "net: cannot bring $i up"
	done
	for i in $ifaces; do
		n=0
		while [ -z "$(ll "$i")" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
		echo "net: $i mac=$(cat "/sys/class/net/$i/address") ll=$(ll "$i") operstate=$(cat "/sys/class/net/$i/operstate") carrier=$(cat "/sys/class/net/$i/carrier" 2>/dev/null)"
	done
	if command -v nettool > /dev/null; then
		nettool serve 5001
	else
		fail "net: no nettool in the root image"
	fi
	echo "net: ready"
}

# gen N: the contents of /diskloop.bin in round N (1.4 MB)
gen() {
	awk -v g="$1" 'BEGIN { for (i = 0; i < 65536; i++) printf "gen %08d line %08d\n", g, i }'
}
act_diskloop() {
	n=0
	echo "diskloop: ready"
	while :; do
		n=$((n + 1))
		want=$(gen $n | md5sum)
		gen $n > /diskloop.bin && sync || { fail "diskloop: round $n: cannot write /diskloop.bin"; break; }
		echo 3 > /proc/sys/vm/drop_caches
		got=$(md5sum < /diskloop.bin)
		[ "$got" = "$want" ] || { fail "diskloop: round $n: read back ${got%% *}, wrote ${want%% *}"; break; }
		echo "diskloop: round $n ok"
		read -t 1 -r line && break
	done
	echo "diskloop: stopped after $n rounds"
}

actions=$(param armvmm.run) || actions=""
IFS_SAVE=$IFS
IFS=,
set -- $actions
IFS=$IFS_SAVE
for a in "$@"; do
	case "$a" in
	write) act_write ;;
	read) act_read ;;
	rotest) act_rotest ;;
	hwrng) act_hwrng ;;
	hwclock) act_hwclock ;;
	vconsole) act_vconsole ;;
	net) act_net ;;
	blkbench) act_blkbench ;;
	diskloop) act_diskloop ;;
	flood)
		echo "flood: printing until stopped"
		i=0
		while :; do
			echo "flood: line $i: the quick brown fox jumps over the lazy dog"
			i=$((i + 1))
		done
		;;
	shell)
		echo "busybox shell; 'poweroff -f' powers the guest off"
		setsid cttyhack sh
		;;
	*) fail "unknown action '$a' in armvmm.run" ;;
	esac
done

# A clean file system for the next boot.
sync
[ "$(mount_opt /)" = rw ] && mount -o remount,ro / 2>/dev/null
echo "rootfs: done, $failures failure(s)"
poweroff -f
