#!/bin/busybox sh
# /init of the Linux guest's modules initramfs ($GUEST_MODS_INITRD, built by nested.sh).
# Debian's cloud kernel has the virtio drivers as modules: load them (in the dependency
# order nested.sh wrote to /lib/modules/order), mount the root disk and switch_root to
# its /sbin/init. Kernel parameters:
#   root=DEV         the root device (default /dev/vda)
#   rootfstype=TYPE  its file system (default ext4)
#   ro               mount it read-only (default read-write; a refused read-write
#                    mount falls back to read-only and says so)
#   console=hvc0     the console is the virtio console: once virtio_console is loaded,
#                    /dev/hvc0 becomes this script's (and the root's init's) stdio
# Anything that fails prints "initramfs: FAIL: ..." and powers the guest off.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null

# With console=hvc0 the kernel has no console yet when it starts /init, so stdout may be
# closed until virtio_console is loaded: then say it through the kernel log instead.
say() {
	echo "initramfs: $*" 2>/dev/null || echo "<2>initramfs: $*" > /dev/kmsg
}
fail() {
	say "FAIL: $*"
	sync
	poweroff -f
	sleep 10
}

cmdline=$(cat /proc/cmdline)
has_param() {
	case " $cmdline " in *" $1 "*) return 0 ;; esac
	return 1
}
param() {
	for w in $cmdline; do
		case "$w" in "$1="*) echo "${w#*=}"; return 0 ;; esac
	done
	return 1
}
# wait_for PATH SECONDS: until PATH exists (device nodes appear once drivers probe).
wait_for() {
	_n=0
	while [ ! -e "$1" ]; do
		[ $_n -ge $(($2 * 10)) ] && return 1
		sleep 0.1
		_n=$((_n + 1))
	done
}

for m in $(cat /lib/modules/order); do
	if ! out=$(insmod "/lib/modules/$m.ko" 2>&1); then
		fail "insmod $m: $out"
	fi
done

if has_param console=hvc0; then
	wait_for /dev/hvc0 10 || fail "console=hvc0 but no /dev/hvc0 after loading virtio_console"
	exec < /dev/hvc0 > /dev/hvc0 2>&1
fi
say "loaded $(tr '\n' ' ' < /lib/modules/order)"

root=$(param root) || root=/dev/vda
fstype=$(param rootfstype) || fstype=ext4
mode=rw
has_param ro && mode=ro
wait_for "$root" 10 || fail "no $root after loading the virtio modules (is there a -d disk?)"
mkdir -p /newroot
if ! mount -t "$fstype" -o "$mode" "$root" /newroot; then
	[ "$mode" = rw ] || fail "cannot mount $root ($fstype, ro)"
	say "read-write mount of $root refused, mounting it read-only"
	mode=ro
	mount -t "$fstype" -o ro "$root" /newroot || fail "cannot mount $root ($fstype) at all"
fi
# busybox mount may itself have fallen back to read-only: report what we got.
got=$(awk '$2 == "/newroot" { split($4, o, ","); print o[1] }' /proc/mounts)
[ -x /newroot/sbin/init ] || fail "$root has no executable /sbin/init"
for d in dev proc sys; do
	[ -d "/newroot/$d" ] || fail "$root has no /$d directory"
done
say "switching to $root ($fstype, ${got:-$mode})"
mount --move /dev /newroot/dev
mount --move /proc /newroot/proc
mount --move /sys /newroot/sys
exec switch_root /newroot /sbin/init
