#!/bin/bash
# The nested KVM test bench, shared by the system tests, the benchmarks and the demo.
#
#   nested.sh --build DIR --gic 2|3 --payload SCRIPT [--tap] [--icount] [--timeout SECONDS] [--add FILE]...
#
# Real arm64 KVM is reached by nesting: qemu-system-aarch64 (virt, virtualization=on,
# -cpu max) boots Debian's arm64 cloud kernel at EL2 with an initramfs holding busybox,
# the armvmm binary from DIR, the bare-metal guests, a Linux guest (the same Debian
# kernel with a busybox initramfs) and SCRIPT, which /init runs. Many guests run in one
# level-1 boot, because that boot is the expensive part.
#
# The Linux guest can also boot from a disk: a modules initramfs (busybox, the kernel's
# virtio modules, mods-init.sh as /init) mounts an ext4 root image (busybox,
# rootfs-init.sh as /sbin/init) built with e2fsprogs' "mke2fs -d", no root needed.
#
# SCRIPT sees: ARMVMM (the binary), GUESTS (the .bin guests), KERNEL (Debian's Image),
# GUEST_INITRD (busybox initramfs, guest-init.sh), GUEST_MODS_INITRD (modules
# initramfs), GUEST_ROOTFS (the ext4 root image: copy it before writing to it),
# ARMVMM_LIB (lib.sh), GIC_GUESTS (gic-guests.sh: the GIC guest tests), SNAPSHOT_TESTS
# (snapshot-tests.sh), PARITY_TESTS (parity-tests.sh: kvmtool parity), SNAP_EDIT (its header
# editor), EXAMPLES (examples/*.script), DATA (tests/data: stored snapshots),
# ARMVMM_SANDBOX_TEST (armvmm with the sandbox's test hook), SANDBOX_TESTS
# (sandbox-tests.sh), BAD_INPUTS (tests/bad-inputs.sh) and MANPAGE (its table), NETTOOL (the
# network test tool, also /bin/nettool in the root image), NET_TESTS (net-tests.sh),
# HOST_MODULES (the nested host kernel's tun, vhost-net and vhost-vsock modules, for
# load_host_modules in lib.sh), TMPDIR (a tmpfs in the nested host), and KVMTOOL (a kvmtool
# binary for side-by-side benchmarks, only when one was found: $ARMVMM_KVMTOOL, or
# shared/peers/lkvm-static beside the repository; see bench/bench.sh), MIGRATION_TESTS
# (migration-tests.sh), MIG_PROXY (a stream-spoiling relay), MODULES (kernel modules the
# payload may insmod: veth). --add FILE: FILE is copied to /armvmm/ too.
#
# The guest modules initramfs also loads virtio_net (with failover, net_failover) and the
# virtio vsock transport.
#
# On an arm64 host with a usable /dev/kvm nothing is nested: SCRIPT runs on the host.
#
# --icount: QEMU counts instructions exactly (-icount shift=0: one TCG thread, virtual time
# from the instruction count), which its PMU needs for the INST_RETIRED event; slower.
#
# --tap: SCRIPT prints "ARMVMM-TAP: <TAP line>"; those lines become this script's
# stdout (TAP for meson) and the full console log goes to DIR/nested/gicN.log.
# Without --tap the console streams to the terminal (--quiet: only to the log).
# The exit status is SCRIPT's.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build="" gic=3 payload="" tap=false quiet=false timeout=1500 icount=false extra=""
while [ $# -gt 0 ]; do
	case "$1" in
	--add) extra="$extra $2"; shift 2 ;;
	--build) build=$2; shift 2 ;;
	--gic) gic=$2; shift 2 ;;
	--payload) payload=$2; shift 2 ;;
	--tap) tap=true; shift ;;
	--icount) icount=true; shift ;;
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
if $icount; then
	work="$work-icount"
fi
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
	moddir=$(ls -d "$cache"/kernel/lib/modules/* | head -n1)
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

# The kernel's module directory and readelf (for .modinfo), set by fetch_debs / below.
moddir=""
# modinfo_depends KO: the comma-separated depends= of a module file.
modinfo_depends() {
	"$readelf_bin" -p .modinfo "$1" | sed -n 's/^ *\[ *[0-9a-f]*\] *depends=//p'
}
# module_file NAME: the .ko of module NAME ("_" and "-" are the same in module names).
module_file() {
	local n=${1//-/_} f
	f=$(find "$moddir/kernel" \( -name "$n.ko" -o -name "${n//_/-}.ko" \) -print | head -n1)
	echo "$f"
}
# add_module NAME: NAME after its dependencies, to $mods_order and $mods_root/lib/modules
# (no module twice).
mods_order=""
add_module() {
	local n=${1//-/_} f dep
	case " $mods_order " in *" $n "*) return 0 ;; esac
	f=$(module_file "$n")
	if [ -z "$f" ]; then
		grep -qE "/${n//_/[-_]}\.ko\$" "$moddir/modules.builtin" 2>/dev/null && return 0
		die "kernel module $n is neither in $moddir nor built in"
	fi
	for dep in $(modinfo_depends "$f" | tr ',' ' '); do
		add_module "$dep"
	done
	mods_order="${mods_order:+$mods_order }$n"
	cp "$f" "$mods_root/lib/modules/$n.ko"
}

# The modules initramfs: busybox, the virtio modules in dependency order and
# mods-init.sh, which mounts the root disk and switch_roots to it.
make_guest_mods_initrd() {
	mods_root="$work/guest-mods-root"
	rm -rf "$mods_root"
	mkdir -p "$mods_root/bin" "$mods_root/proc" "$mods_root/sys" "$mods_root/dev" "$mods_root/lib/modules"
	cp "$busybox" "$mods_root/bin/busybox"
	cp "$here/mods-init.sh" "$mods_root/init"
	chmod +x "$mods_root/init"
	mods_order=""
	for m in virtio_mmio virtio_blk virtio_console virtio-rng virtio_net vmw_vsock_virtio_transport; do
		add_module "$m"
	done
	echo "$mods_order" | tr ' ' '\n' > "$mods_root/lib/modules/order"
	mkcpio "$mods_root" "$work/guest-mods.cpio"
	gzip -9 -n -f "$work/guest-mods.cpio"
}

# The root disk image: ext4 with busybox and rootfs-init.sh as /sbin/init, built from a
# directory by mke2fs -d (e2fsprogs), so without root privileges.
make_guest_rootfs() {
	local root="$work/rootfs-tree" mke2fs
	mke2fs=$(PATH="$PATH:/sbin:/usr/sbin" command -v mke2fs) ||
		die "mke2fs is missing (package e2fsprogs; run scripts/install-deps)"
	rm -rf "$root" "$work/rootfs.ext4"
	mkdir -p "$root/bin" "$root/sbin" "$root/dev" "$root/proc" "$root/sys" "$root/run" \
		"$root/tmp" "$root/mnt" "$root/etc"
	cp "$busybox" "$root/bin/busybox"
	ln -s busybox "$root/bin/sh"
	if [ -x "$build/tests/system/nettool" ]; then
		cp "$build/tests/system/nettool" "$root/bin/nettool"
	fi
	cp "$here/rootfs-init.sh" "$root/sbin/init"
	chmod +x "$root/sbin/init"
	echo "armvmm test root file system" > "$root/etc/armvmm-rootfs"
	: > "$work/rootfs.ext4"
	"$mke2fs" -q -t ext4 -L armvmm-root -E root_owner=0:0 -d "$root" -F "$work/rootfs.ext4" 64M ||
		die "mke2fs could not build the root file system image"
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
	if [ -n "$kvmtool" ]; then
		cp "$kvmtool" "$root/armvmm/lkvm"
	fi
	cp "$kernel" "$root/armvmm/Image"
	cp "$work/guest-root.cpio.gz" "$root/armvmm/guest-initrd.cpio.gz"
	cp "$work/guest-mods.cpio.gz" "$root/armvmm/guest-mods-initrd.cpio.gz"
	cp "$work/rootfs.ext4" "$root/armvmm/rootfs.ext4"
	cp "$here/lib.sh" "$root/armvmm/lib.sh"
	cp "$here/gic-guests.sh" "$root/armvmm/gic-guests.sh"
	cp "$here/snapshot-tests.sh" "$root/armvmm/snapshot-tests.sh"
	cp "$here/parity-tests.sh" "$root/armvmm/parity-tests.sh"
	cp "$here/sandbox-tests.sh" "$root/armvmm/sandbox-tests.sh"
	cp "$here/../bad-inputs.sh" "$root/armvmm/bad-inputs.sh"
	cp "$here/../../man/armvmm.1" "$root/armvmm/armvmm.1"
	mkdir -p "$root/armvmm/examples" "$root/armvmm/data"
	cp "$here"/../../examples/*.script "$root/armvmm/examples/"
	cp -r "$here"/../data/snapshot-v1-* "$root/armvmm/data/"
	if [ -x "$build/tests/system/snap-edit" ]; then
		cp "$build/tests/system/snap-edit" "$root/armvmm/"
	fi
	if [ -x "$build/tests/system/armvmm-sandbox-test" ]; then
		cp "$build/tests/system/armvmm-sandbox-test" "$root/armvmm/"
	fi
	if [ -x "$build/tests/system/mig-proxy" ]; then
		cp "$build/tests/system/mig-proxy" "$root/armvmm/"
	fi
	cp "$here/migration-tests.sh" "$root/armvmm/migration-tests.sh"
	# Kernel modules the level-1 payload may load itself (veth: a second network namespace).
	mkdir -p "$root/armvmm/modules"
	for m in veth; do
		f=$(module_file "$m")
		[ -n "$f" ] && cp "$f" "$root/armvmm/modules/"
	done
	if [ -x "$build/tests/system/nettool" ]; then
		cp "$build/tests/system/nettool" "$root/armvmm/"
	fi
	cp "$here/net-tests.sh" "$root/armvmm/net-tests.sh"
	# The nested host's own modules: tap, vhost-net, vhost-vsock (lib.sh: load_host_modules).
	mods_root="$root/armvmm/host"
	mkdir -p "$mods_root/lib/modules"
	mods_order=""
	for m in tun vhost_net vhost_vsock; do
		add_module "$m"
	done
	echo "$mods_order" | tr ' ' '\n' > "$mods_root/lib/modules/order"
	for f in $extra; do
		cp "$f" "$root/armvmm/"
	done
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
export GIC_GUESTS=/armvmm/gic-guests.sh SNAPSHOT_TESTS=/armvmm/snapshot-tests.sh SNAP_EDIT=/armvmm/snap-edit
export PARITY_TESTS=/armvmm/parity-tests.sh
export ARMVMM_SANDBOX_TEST=/armvmm/armvmm-sandbox-test SANDBOX_TESTS=/armvmm/sandbox-tests.sh
export BAD_INPUTS=/armvmm/bad-inputs.sh MANPAGE=/armvmm/armvmm.1
export EXAMPLES=/armvmm/examples DATA=/armvmm/data
export MIGRATION_TESTS=/armvmm/migration-tests.sh MIG_PROXY=/armvmm/mig-proxy MODULES=/armvmm/modules
export GUEST_MODS_INITRD=/armvmm/guest-mods-initrd.cpio.gz GUEST_ROOTFS=/armvmm/rootfs.ext4
if [ -x /armvmm/lkvm ]; then export KVMTOOL=/armvmm/lkvm; fi
export NETTOOL=/armvmm/nettool NET_TESTS=/armvmm/net-tests.sh HOST_MODULES=/armvmm/host/lib/modules
sh /armvmm/payload.sh
echo "ARMVMM-L1-EXIT $?"
poweroff -f
EOI
	chmod +x "$root/init"
	mkcpio "$root" "$work/l1.cpio"
}

# kvmtool for side-by-side benchmarks: optional, and never needed by a test.
kvmtool=${ARMVMM_KVMTOOL:-$here/../../../shared/peers/lkvm-static}
if [ -n "${ARMVMM_KVMTOOL:-}" ] && [ ! -x "$kvmtool" ]; then
	die "ARMVMM_KVMTOOL=$ARMVMM_KVMTOOL is not an executable file"
fi
[ -x "$kvmtool" ] || kvmtool=""

readelf_bin=$(command -v aarch64-linux-gnu-readelf || command -v readelf)
if "$readelf_bin" -l "$build/armvmm" | grep -q 'INTERP'; then
	die "$build/armvmm is dynamically linked: configure with -Dstatic=true (the default)"
fi

fetch_debs
make_guest_initrd
make_guest_mods_initrd
make_guest_rootfs

# Native arm64 host with KVM: no nesting, the payload runs right here.
if [ "$(uname -m)" = aarch64 ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	export ARMVMM="$build/armvmm" GUESTS="$build/tests/guests" KERNEL="$kernel"
	export GUEST_INITRD="$work/guest-root.cpio.gz" ARMVMM_LIB="$here/lib.sh" GIC_GUESTS="$here/gic-guests.sh"
	export SNAPSHOT_TESTS="$here/snapshot-tests.sh" SNAP_EDIT="$build/tests/system/snap-edit"
	export PARITY_TESTS="$here/parity-tests.sh"
	export ARMVMM_SANDBOX_TEST="$build/tests/system/armvmm-sandbox-test" SANDBOX_TESTS="$here/sandbox-tests.sh"
	export BAD_INPUTS="$here/../bad-inputs.sh" MANPAGE="$here/../../man/armvmm.1"
	export EXAMPLES="$here/../../examples" DATA="$here/../data"
	export MIGRATION_TESTS="$here/migration-tests.sh" MIG_PROXY="$build/tests/system/mig-proxy" MODULES=""
	export GUEST_MODS_INITRD="$work/guest-mods.cpio.gz" GUEST_ROOTFS="$work/rootfs.ext4"
	export NETTOOL="$build/tests/system/nettool" NET_TESTS="$here/net-tests.sh" HOST_MODULES=""
	export PATH="$build/bench:$PATH" TMPDIR="${TMPDIR:-/tmp}"
	if [ -n "$kvmtool" ]; then export KVMTOOL="$kvmtool"; fi
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

# -nic none: the level-1 host needs no network, and virt's default NIC wants an option ROM
# (efi-virtio.rom) that only ipxe-qemu, a package apt does not install without recommends, has.
qemu=(qemu-system-aarch64 -machine "virt,virtualization=on,gic-version=$gic" -cpu max -smp 2 -m 2048
	-nographic -no-reboot -nic none -kernel "$kernel" -initrd "$work/l1.cpio"
	-append "console=ttyAMA0 quiet loglevel=1 panic=-1 rdinit=/init")
if $icount; then
	qemu+=(-icount shift=0)
fi
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
