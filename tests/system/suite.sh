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
check_error "$other-not-offered" "cannot provide an in-kernel" -- run -k "$G/hello.bin" --irqchip "$other"

finish
