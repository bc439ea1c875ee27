#!/bin/bash
# The nested KVM test bench, shared by the system tests, the benchmarks and the demo.
#
#   nested.sh --build DIR --gic 2|3 --payload SCRIPT [--tap] [--timeout SECONDS]
#
# Real arm64 KVM is reached by nesting: qemu-system-aarch64 (virt, virtualization=on,
# -cpu max) boots Debian's arm64 cloud kernel at EL2 with an initramfs holding busybox,
# the armvmm binary from DIR, the bare-metal guests, a Linux guest (the same Debian
# kernel with a busybox initramfs) and SCRIPT, which /init runs. Many guests run in one
# level-1 boot, because that boot is the expensive part.
#
# On an arm64 host with a usable /dev/kvm nothing is nested: SCRIPT runs on the host.
#
# --tap: SCRIPT prints "ARMVMM-TAP: <TAP line>"; those lines become this script's
# stdout (TAP for meson) and the full console log goes to DIR/nested/gicN.log.
# Without --tap the console streams to the terminal (--quiet: only to the log).
# The exit status is SCRIPT's.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build="" gic=3 payload="" tap=false quiet=false timeout=1500
while [ $# -gt 0 ]; do
	case "$1" in
	--build) build=$2; shift 2 ;;
	--gic) gic=$2; shift 2 ;;
	--payload) payload=$2; shift 2 ;;
	--tap) tap=true; shift ;;
	--quiet) quiet=true; shift ;;
	--timeout) timeout=$2; shift 2 ;;
	*) echo "nested.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
done
die() {
	if $tap; then echo "Bail out! $*"; fi
	echo "nested.sh: $*" >&2
	exit 1
}
[ -n "$build" ] && [ -x "$build/armvmm" ] || die "no armvmm binary in '$build' (build first)"
[ -f "$payload" ] || die "payload script '$payload' not found"
case "$gic" in 2|3) ;; *) die "--gic takes 2 or 3" ;; esac
build=$(cd "$build" && pwd)

cache=${ARMVMM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/armvmm}
work="$build/nested/gic$gic"
mkdir -p "$cache" "$work"

# --- Debian's arm64 kernel and busybox, downloaded once and cached ---------------------
fetch_debs() {
	local kpkg
	kpkg=$(apt-cache depends linux-image-cloud-arm64:arm64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { sub(/:arm64$/, "", $2); print $2; exit }')
	[ -n "$kpkg" ] || die "apt cannot resolve linux-image-cloud-arm64:arm64 (run scripts/install-deps)"
	if [ ! -f "$cache/$kpkg.stamp" ]; then
		rm -rf "$cache/deb" "$cache/kernel" "$cache/busybox"
		mkdir -p "$cache/deb"
		(cd "$cache/deb" && apt-get download "$kpkg:arm64" busybox-static:arm64 >/dev/null 2>&1) ||
			die "apt-get download of $kpkg and busybox-static (arm64) failed"
		mkdir -p "$cache/kernel" "$cache/busybox"
		dpkg-deb -x "$cache"/deb/linux-image-*.deb "$cache/kernel"
		dpkg-deb -x "$cache"/deb/busybox-static_*.deb "$cache/busybox"
		rm -rf "$cache/deb"
		touch "$cache/$kpkg.stamp"
	fi
	kernel=$(ls "$cache"/kernel/boot/vmlinuz-* | head -n1)
	busybox="$cache/busybox/bin/busybox"
	[ -f "$kernel" ] && [ -x "$busybox" ] || die "cached Debian packages are incomplete: remove $cache"
}

# A cpio "newc" archive of directory $1 written to $2.
mkcpio() { (cd "$1" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) > "$2"; }

# The Linux guest's initramfs: busybox and an /init that reports and powers off, or
# runs what armvmm.run= on the kernel command line names (a script under /tests).
make_guest_initrd() {
	local root="$work/guest-root"
	rm -rf "$root"
	mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/tmp"
	cp "$busybox" "$root/bin/busybox"
	cp "$here/guest-init.sh" "$root/init"
	chmod +x "$root/init"
	mkcpio "$root" "$work/guest-root.cpio"
	gzip -9 -n -f "$work/guest-root.cpio"
}

# The level-1 initramfs: busybox, armvmm, guests, the Linux guest and the payload.
make_l1_initrd() {
	local root="$work/l1-root"
	rm -rf "$root"
	mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/armvmm/guests"
	cp "$busybox" "$root/bin/busybox"
	cp "$build/armvmm" "$root/armvmm/armvmm"
	cp "$build"/tests/guests/*.bin "$root/armvmm/guests/" 2>/dev/null || true
	if [ -x "$build/bench/armvmm-timeit" ]; then
		cp "$build/bench/armvmm-timeit" "$root/armvmm/"
	fi
	cp "$kernel" "$root/armvmm/Image"
	cp "$work/guest-root.cpio.gz" "$root/armvmm/guest-initrd.cpio.gz"
	cp "$here/lib.sh" "$root/armvmm/lib.sh"
	cp "$payload" "$root/armvmm/payload.sh"
	cat > "$root/init" <<'EOI'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
export PATH=/bin:/armvmm
export ARMVMM=/armvmm/armvmm GUESTS=/armvmm/guests KERNEL=/armvmm/Image
export GUEST_INITRD=/armvmm/guest-initrd.cpio.gz ARMVMM_LIB=/armvmm/lib.sh TMPDIR=/tmp
sh /armvmm/payload.sh
echo "ARMVMM-L1-EXIT $?"
poweroff -f
EOI
	chmod +x "$root/init"
	mkcpio "$root" "$work/l1.cpio"
}

readelf_bin=$(command -v aarch64-linux-gnu-readelf || command -v readelf)
if "$readelf_bin" -l "$build/armvmm" | grep -q 'INTERP'; then
	die "$build/armvmm is dynamically linked: configure with -Dstatic=true (the default)"
fi

fetch_debs
make_guest_initrd

# Native arm64 host with KVM: no nesting, the payload runs right here.
if [ "$(uname -m)" = aarch64 ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	export ARMVMM="$build/armvmm" GUESTS="$build/tests/guests" KERNEL="$kernel"
	export GUEST_INITRD="$work/guest-root.cpio.gz" ARMVMM_LIB="$here/lib.sh"
	export PATH="$build/bench:$PATH"
	if $tap; then
		set +e
		sh "$payload" > "$work/host.log" 2>&1
		rc=$?
		set -e
		sed -n 's/^ARMVMM-TAP: //p' "$work/host.log" | tr -d '\r'
		exit $rc
	fi
	exec sh "$payload"
fi

command -v qemu-system-aarch64 >/dev/null || die "qemu-system-aarch64 is missing (run scripts/install-deps)"
make_l1_initrd

qemu=(qemu-system-aarch64 -machine "virt,virtualization=on,gic-version=$gic" -cpu max -smp 2 -m 2048
	-nographic -no-reboot -kernel "$kernel" -initrd "$work/l1.cpio"
	-append "console=ttyAMA0 quiet loglevel=1 panic=-1 rdinit=/init")
log="$work/console.log"
set +e
if $tap || $quiet; then
	timeout --foreground -k 10 "$timeout" "${qemu[@]}" < /dev/null > "$log" 2>&1
	qrc=$?
else
	timeout --foreground -k 10 "$timeout" "${qemu[@]}" 2>&1 | tee "$log"
	qrc=${PIPESTATUS[0]}
fi
set -e
tr -d '\r' < "$log" > "$log.txt"
if $tap; then
	sed -n 's/^ARMVMM-TAP: //p' "$log.txt"
fi
rc=$(sed -n 's/^ARMVMM-L1-EXIT \([0-9]*\)$/\1/p' "$log.txt" | tail -n1)
if [ -z "$rc" ]; then
	[ "$qrc" = 124 ] && die "the nested host timed out after ${timeout}s (log: $log)"
	die "the nested host ended without finishing its payload (qemu status $qrc; log: $log)"
fi
exit "$rc"
