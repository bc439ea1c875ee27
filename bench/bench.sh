# Benchmark payload (run by nested.sh inside the nested host): figures only, no thresholds.
ic=$( (grep -q GICv3 /proc/interrupts && echo gicv3) || echo gicv2)
echo "BENCH: host $(uname -r), $ic, $(grep -c '^processor' /proc/cpuinfo) cpus (nested KVM under TCG)"
armvmm-timeit -n 20 -l "null VM, exec to exit ($ic)" -- "$ARMVMM" run -k "$GUESTS/null.bin"
armvmm-timeit -n 5 -u "guest reached userspace" -l "Debian kernel boot to userspace marker, 1 vCPU ($ic)" -- \
	"$ARMVMM" run -k "$KERNEL" -i "$GUEST_INITRD" -m 256
