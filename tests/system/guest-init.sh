#!/bin/busybox sh
# /init of the Linux guest's initramfs (Debian's arm64 kernel + busybox).
# It says what it sees, then powers off. Kernel parameters change what it does:
#   armvmm.readline  wait for one line on the console and echo it back
#   armvmm.shell     start an interactive shell instead of powering off
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null

ncpu=$(grep -c '^processor' /proc/cpuinfo)
# Linux names the GICv3 "GICv3" in /proc/interrupts and a GICv2 "GIC-0".
if grep -q GICv3 /proc/interrupts; then gic=GICv3; elif grep -q 'GIC-' /proc/interrupts; then gic=GICv2; else gic="no GIC"; fi
echo "guest reached userspace: $ncpu cpu(s), $gic, kernel $(uname -r)"
uart_irqs=$(awk '/ttyS0/ { s = 0; for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) s += $i; else break; print s }' /proc/interrupts)
echo "guest uart interrupts: ${uart_irqs:-none}"

case " $(cat /proc/cmdline) " in
*" armvmm.readline "*)
	echo "guest ready for input"
	read -r line
	echo "guest read: $line"
	;;
*" armvmm.shell "*)
	echo "busybox shell; 'poweroff -f' powers the guest off"
	setsid cttyhack sh
	;;
esac
poweroff -f
