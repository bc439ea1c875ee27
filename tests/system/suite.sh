# System tests of armvmm against real KVM (run by nested.sh inside the nested host).
# Every test boots a guest or feeds a bad input and checks what a user would see.
. "$ARMVMM_LIB"

G=$GUESTS
hgic=$(host_gic)
if [ "$hgic" = v3 ]; then
	ic=gicv3 other=gicv2 ICNAME=GICv3 max_vcpus=512
else
	ic=gicv2 other=gicv3 ICNAME=GICv2 max_vcpus=8
fi
diag "host: $(uname -r), $(grep -c '^processor' /proc/cpuinfo) cpus, $ICNAME"

# --- bare-metal guests ------------------------------------------------------------
check "hello-$ic" 0 30 "hello from armvmm guest" -- run -k "$G/hello.bin" --irqchip "$ic"
check "auto-picks-$ic" 0 30 "irqchip: in-kernel $ICNAME" "hello from armvmm guest" -- \
	run -k "$G/hello.bin" --loglevel info
check "smp-4cpus-$ic" 0 30 "smp: cpus=4" "smp: cpu 3 mpidr 0x" "smp: all 4 cpus online" -- \
	run -k "$G/smp.bin" -c 4 --irqchip "$ic"
check "smp-8cpus-$ic" 0 60 "smp: all 8 cpus online" -- run -k "$G/smp.bin" -c 8 --irqchip "$ic"
check "timer-irqs-$ic" 0 30 "timer: gic=${hgic}" "timer: 10 interrupts via $ic ok" -- \
	run -k "$G/timer.bin" -c 2 --irqchip "$ic"
check "dtb-contents-$ic" 0 30 "dtb: memory=0x80000000 size=0xc000000 cpus=3" \
	"dtb: bootargs=console=ttyS0 earlycon armvmm.test=dtb" "dtb: gic=$hgic" -- \
	run -k "$G/dtb.bin" -m 192 -c 3 -p armvmm.test=dtb --irqchip "$ic"
check "dtb-contents-1G-$ic" 0 30 "dtb: memory=0x80000000 size=0x40000000 cpus=1" \
	"dtb: bootargs=console=ttyS1 x=y" -- run -k "$G/dtb.bin" -m 1G -p "console=ttyS1 x=y"
check "guest-reset-status" 3 30 "crash: resetting" -- run -k "$G/crash.bin"
check "null-vm" 0 30 -- run -k "$G/null.bin"
check_stop "sigterm-stops-vm-restores-tty" TERM 143
check_stop "sigint-stops-vm-restores-tty" INT 130

# --- Debian's arm64 kernel with a busybox initramfs --------------------------------
check "linux-1cpu-$ic" 0 300 "Booting Linux on physical CPU" "guest reached userspace: 1 cpu(s), $ICNAME" -- \
	run -k "$KERNEL" -i "$GUEST_INITRD" -c 1 -m 256 --irqchip "$ic"
check "linux-2cpu-$ic" 0 300 "guest reached userspace: 2 cpu(s), $ICNAME" -- \
	run -k "$KERNEL" -i "$GUEST_INITRD" -c 2 -m 384 --irqchip "$ic"
check_input "linux-console-input-$ic" 300 "guest ready for input" "typed-into-the-uart" \
	"guest read: typed-into-the-uart" -- \
	run -k "$KERNEL" -i "$GUEST_INITRD" -c 1 -m 256 -p armvmm.readline

# --- the userspace GICv2, the legacy vGIC and the fallbacks --------------------------
# The bare-metal guests on the userspace model (both hosts: it needs only
# KVM_CAP_ARM_USER_IRQ), then the GIC guests on every GICv2 this host offers.
check "hello-user" 0 30 "irqchip: userspace GICv2" "hello from armvmm guest" -- \
	run -k "$G/hello.bin" --irqchip user --loglevel info
check "smp-8cpus-user" 0 60 "smp: all 8 cpus online" -- run -k "$G/smp.bin" -c 8 --irqchip user
check "timer-irqs-user" 0 30 "timer: gic=v2" "timer: 10 interrupts via gicv2 ok" -- \
	run -k "$G/timer.bin" -c 2 --irqchip user
. "$GIC_GUESTS"
gic_guest_tests user user
if [ "$hgic" = v2 ]; then
	gic_guest_tests gicv2 gicv2
	check "hello-gicv2-legacy" 0 30 "irqchip: in-kernel GICv2 (legacy KVM_CREATE_IRQCHIP)" \
		"hello from armvmm guest" -- run -k "$G/hello.bin" --irqchip gicv2-legacy --loglevel info
	check "timer-irqs-gicv2-legacy" 0 30 "timer: 10 interrupts via gicv2 ok" -- \
		run -k "$G/timer.bin" -c 2 --irqchip gicv2-legacy
	check "linux-2cpu-gicv2-legacy" 0 300 "guest reached userspace: 2 cpu(s), GICv2" -- \
		run -k "$KERNEL" -i "$GUEST_INITRD" -c 2 -m 256 --irqchip gicv2-legacy
else
	# No GICv2 in this host's kernel: --irqchip gicv2 falls back to the userspace model and
	# says so; gicv2-kernel and gicv2-legacy fail with one clear line instead.
	check "linux-2cpu-gicv2-falls-back-to-user" 0 300 \
		"in-kernel GICv2: using the userspace GICv2 model" "guest reached userspace: 2 cpu(s), GICv2" -- \
		run -k "$KERNEL" -i "$GUEST_INITRD" -c 2 -m 256 --irqchip gicv2
	check_error "gicv2-kernel-not-offered" "cannot provide an in-kernel GICv2" -- \
		run -k "$G/hello.bin" --irqchip gicv2-kernel
	check_error "gicv2-legacy-not-offered" "cannot emulate a GICv2" -- \
		run -k "$G/hello.bin" --irqchip gicv2-legacy
fi
# Linux on the userspace model, with its UART interrupts (an SPI) through it too.
OUT="$TMPDIR/linux-2cpu-user.out" WHY=""
boot "linux-2cpu-user" 300 -- run -k "$KERNEL" -i "$GUEST_INITRD" -c 2 -m 256 --irqchip user
want_rc 0
want "guest reached userspace: 2 cpu(s), GICv2"
uirq=$(grep -F "guest uart interrupts:" "$OUT" | tr -d '\r' | sed 's/.*interrupts: //')
is_num "$uirq" && [ "$uirq" -gt 0 ] || why "the guest's UART took no interrupts through the userspace GIC ('$uirq')"
verdict "linux-2cpu-user"

# --- virtio devices: the device tree's layout -----------------------------------------
# Disks in -d order from 0x3000000, one transport per 0x200, then the virtio console,
# then virtio-rng; a PL031 RTC. --nodefaults drops virtio-rng and the RTC.
head -c 1048576 /dev/zero > "$TMPDIR/disk-a.img"
head -c 1048576 /dev/zero > "$TMPDIR/disk-b.img"
OUT="$TMPDIR/dtb-virtio-layout.out" WHY=""
"$ARMVMM" run -k "$G/hello.bin" -d "$TMPDIR/disk-a.img" -d "$TMPDIR/disk-b.img,ro" --console virtio \
	--dump-dtb "$TMPDIR/layout.dtb" > "$OUT" 2>&1
RC=$?
want_rc 0
strings "$TMPDIR/layout.dtb" > "$TMPDIR/layout.strings" 2>/dev/null
for n in virtio@3000000 virtio@3000200 virtio@3000400 virtio@3000600 virtio,mmio arm,pl031; do
	grep -q "$n" "$TMPDIR/layout.strings" || why "no '$n' in the DTB"
done
! grep -q virtio@3000800 "$TMPDIR/layout.strings" || why "a fifth virtio transport in the DTB"
verdict "dtb-virtio-layout"
OUT="$TMPDIR/dtb-nodefaults.out"
"$ARMVMM" run -k "$G/hello.bin" -d "$TMPDIR/disk-a.img" --nodefaults --dump-dtb "$TMPDIR/nodef.dtb" > "$OUT" 2>&1
RC=$?
want_rc 0
strings "$TMPDIR/nodef.dtb" > "$TMPDIR/nodef.strings" 2>/dev/null
grep -q virtio@3000000 "$TMPDIR/nodef.strings" || why "no virtio@3000000 (the disk) in the DTB"
! grep -q virtio@3000200 "$TMPDIR/nodef.strings" || why "--nodefaults left a second virtio transport (virtio-rng?)"
! grep -q arm,pl031 "$TMPDIR/nodef.strings" || why "--nodefaults left the PL031 RTC"
verdict "dtb-nodefaults-drops-rng-rtc"

# --- virtio-blk against a hostile driver ----------------------------------------------
# virtio_bad.bin posts malformed chains; each must be refused (NEEDS_RESET or an error
# status), nothing outside its buffers may change, and a valid read of sector 0 (the
# pattern below) must still work. The image must come out unchanged.
vbad="$TMPDIR/virtio-bad.img"
i=0
while [ $i -lt 32 ]; do printf 'sector0 line %02d\n' $i; i=$((i + 1)); done > "$vbad"
head -c $((1048576 - 512)) /dev/zero >> "$vbad"
vbad_sum=$(md5sum < "$vbad")
for io in uring thread; do
	boot "virtio-bad-chains-$io-$ic" 60 -- run -k "$G/virtio_bad.bin" -d "$vbad,io=$io" --irqchip "$ic"
	want_rc 0
	want "virtio-bad: sector 0 read ok after the bad chains" "virtio-bad: all 13 cases refused" \
		"virtio-bad: read-past-capacity: refused (status 1)" "armvmm: warning: "
	want_none "FAIL"
	[ "$(wc -l < "$OUT")" -le 100 ] || why "$(wc -l < "$OUT") lines of output: a guest must not flood the log"
	[ "$(md5sum < "$vbad")" = "$vbad_sum" ] || why "the disk image changed"
	verdict "virtio-bad-chains-$io-$ic"
done

# --- Debian's kernel on a virtio root disk ----------------------------------------------
# Boot 1: root on /dev/vda (a copy of GUEST_ROOTFS, read-write), a read-only copy as
# /dev/vdb; writes a token, checks vdb refuses writes, reads /dev/hwrng and the RTC.
# Boot 2: the same disk through the thread backend and the virtio console as hvc0;
# reads the token back and echoes a line typed into the console.
rootrw="$TMPDIR/root-rw.ext4" rootro="$TMPDIR/root-ro.ext4"
cp "$GUEST_ROOTFS" "$rootrw"
cp "$GUEST_ROOTFS" "$rootro"
ro_sum=$(md5sum < "$rootro")
token="t$$-$(date +%s)"
boot "linux-virtio-disk-$ic" 300 --stamp "rtc: since_epoch=" -- \
	run -k "$KERNEL" -i "$GUEST_MODS_INITRD" -c 2 -m 256 -d "$rootrw" -d "$rootro,ro" --irqchip "$ic" \
	-p "panic=-1 armvmm.run=write,rotest,hwrng,hwclock armvmm.token=$token armvmm.rodev=/dev/vdb"
want_none "initramfs: FAIL"

want_rc 0
want "initramfs: switching to /dev/vda (ext4, rw)" "rootfs: init running from /dev/vda (rw)" \
	"write: wrote armvmm-persist $token" "rootfs: done"
verdict "virtio-blk-root-write-$ic"

want_rc 0
want "rotest: dev=/dev/vdb sysfs-ro=1 mount-rw=refused remount-rw=refused file-write=refused raw-write=refused"
[ "$(md5sum < "$rootro")" = "$ro_sum" ] || why "the read-only disk image changed"
verdict "virtio-blk-readonly-disk"

want_rc 0
want "hwrng: rng_current=virtio_rng"
grep -F "hwrng: bytes=" "$OUT" | tr -d '\r' | sed 's/.*hex=//' > "$TMPDIR/hwrng.hex"
[ "$(grep -c '^[0-9a-f]\{128\}$' "$TMPDIR/hwrng.hex")" = 2 ] || why "expected two reads of 64 bytes from /dev/hwrng"
! grep -q '^0*$' "$TMPDIR/hwrng.hex" || why "/dev/hwrng gave only zeros"
[ "$(sort -u "$TMPDIR/hwrng.hex" | wc -l)" = 2 ] || why "two reads of /dev/hwrng gave the same bytes"
verdict "virtio-rng-hwrng"

want_rc 0
want "rtc: since_epoch=" "name=rtc-pl031"
rtc=$(field since_epoch "rtc: since_epoch=") rtc2=$(field since_epoch "rtc: after 2 s")
if is_num "$rtc" && is_num "$STAMP"; then
	d=$((rtc - STAMP))
	diag "rtc: guest's PL031 $rtc, nested host $STAMP (difference ${d}s)"
	[ "$d" -ge -5 ] && [ "$d" -le 5 ] || why "the guest's RTC reads $rtc, the nested host's clock $STAMP (difference ${d}s > 5s)"
	if is_num "$rtc2"; then
		[ $((rtc2 - rtc)) -ge 1 ] && [ $((rtc2 - rtc)) -le 4 ] || why "the RTC went from $rtc to $rtc2 in 2 s"
	else
		why "no second RTC reading"
	fi
else
	why "no RTC reading ('$rtc') or it never appeared"
fi
verdict "pl031-rtc-hwclock"

boot "linux-virtio-console-$ic" 300 --send "vconsole: ready for input" "typed-into-hvc0" -- \
	run -k "$KERNEL" -i "$GUEST_MODS_INITRD" -c 1 -m 256 -d "$rootrw,io=thread" --console virtio \
	--irqchip "$ic" -p "console=hvc0 panic=-1 armvmm.run=read,vconsole"
want_none "initramfs: FAIL"
want_rc 0
want "initramfs: switching to /dev/vda (ext4, rw)" "read: armvmm-persist $token"
verdict "virtio-blk-persists-across-boots"
want_rc 0
[ "$SENT" = yes ] || why "'vconsole: ready for input' never appeared"
want "vconsole: console is /dev/hvc0" "vconsole: read: typed-into-hvc0"
verdict "virtio-console-io"

# The virtio devices and the RTC on the userspace GICv2 (their SPIs go through the model,
# not irqfds): the disk written above reads back, /dev/hwrng and the RTC answer.
boot "linux-virtio-user" 300 -- \
	run -k "$KERNEL" -i "$GUEST_MODS_INITRD" -c 2 -m 256 -d "$rootrw" --irqchip user \
	-p "panic=-1 armvmm.run=read,hwrng,hwclock"
want_none "initramfs: FAIL"
want_rc 0
want "read: armvmm-persist $token" "hwrng: rng_current=virtio_rng" "name=rtc-pl031" "rootfs: done, 0 failure(s)"
verdict "virtio-devices-on-user-gic"

# --- virtio-net over taps, vhost-net, vsock (net-tests.sh) ------------------------------
. "$NET_TESTS"
net_tests

# --- bad input: one clear error line, exit status 1, no crash -----------------------
: > "$TMPDIR/empty"
head -c 40 "$KERNEL" > "$TMPDIR/truncated-image"
check_error "missing-kernel" "cannot open kernel" -- run -k /nonexistent/Image
check_error "empty-kernel" "is empty" -- run -k "$TMPDIR/empty"
check_error "truncated-image-header" "truncated" -- run -k "$TMPDIR/truncated-image"
check_error "kernel-larger-than-mem" "raise --mem" -- run -k "$KERNEL" -m 16
check_error "missing-initrd" "cannot open initrd" -- run -k "$G/hello.bin" -i /nonexistent/initrd
check_error "cpus-zero" "--cpus" -- run -k "$G/hello.bin" -c 0
check_error "cpus-above-kvm-max" "KVM_CAP_MAX_VCPUS" -- run -k "$G/hello.bin" -c $((max_vcpus + 1))
check_error "mem-zero" "--mem" -- run -k "$G/hello.bin" -m 0
check_error "mem-not-a-number" "--mem" -- run -k "$G/hello.bin" -m lots
check_error "mem-absurd" "--mem" -- run -k "$G/hello.bin" -m 99999999999999
check_error "mem-beyond-host" "MiB" -- run -k "$G/hello.bin" -m 200000000
check_error "unknown-option" "unknown option" -- run -k "$G/hello.bin" --frobnicate
check_error "unknown-irqchip" "--irqchip" -- run -k "$G/hello.bin" --irqchip gicv5
if [ "$hgic" = v2 ]; then
	check_error "gicv3-not-offered" "cannot provide an in-kernel GICv3" -- run -k "$G/hello.bin" --irqchip gicv3
fi
if [ "$hgic" = v3 ]; then
	# (A GICv2 host's KVM itself stops at 8 vCPUs, with its own error: cpus-above-kvm-max.)
	check_error "user-gic-above-8-cpus" "at most 8 vCPUs" -- run -k "$G/hello.bin" --irqchip user -c 9
fi
check_error "disk-missing" "/nonexistent/disk.img" -- run -k "$G/hello.bin" -d /nonexistent/disk.img
check_error "disk-unknown-option" "frobnicate" -- run -k "$G/hello.bin" -d "$TMPDIR/disk-a.img,frobnicate"
check_error "console-unknown-type" "parallel" -- run -k "$G/hello.bin" --console parallel
# The man page's bad-input table, every row exactly as documented (sandbox on, real KVM host).
OUT="$TMPDIR/bad-inputs.out" WHY=""
sh "$BAD_INPUTS" "$ARMVMM" "$MANPAGE" > "$OUT" 2>&1
RC=$?
want_rc 0
diag "$(tail -n 1 "$OUT" | tr -d '\r')"
verdict "bad-inputs-table-exact-lines"

# --- snapshots, restore, scripts and the control socket ---------------------------------
. "$SNAPSHOT_TESTS"
snapshot_tests

# --- kvmtool parity: the help form, a harness's invocation, the GICv3 ITS, the PMU ----------
. "$PARITY_TESTS"
parity_tests
# --- the sandbox, the jail, a console nobody reads -----------------------------------------
. "$SANDBOX_TESTS"
sandbox_tests

# --- live migration ----------------------------------------------------------------------
. "$MIGRATION_TESTS"
migration_tests

finish
