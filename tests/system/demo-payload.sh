# The README's first command runs this inside the nested host: boot Debian's arm64
# kernel with a busybox initramfs on 2 vCPUs under armvmm, on the host's console.
echo "=== armvmm $("$ARMVMM" --version | cut -d' ' -f2): booting Debian's arm64 cloud kernel with a busybox initramfs, 2 vCPUs, 512 MiB ==="
"$ARMVMM" run -k "$KERNEL" -i "$GUEST_INITRD" -c 2 -m 512 --loglevel info < /dev/null
rc=$?
echo "=== armvmm exited with status $rc ==="
exit $rc
