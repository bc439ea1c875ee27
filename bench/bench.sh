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
else
	echo "BENCH: virtio-blk: skipped (this armvmm has no --disk)"
fi
