# How tests/data/snapshot-v1-* were made: snapshots written by armvmm at
# commit 734a094 (snapshot format version 1, before the board / device-list restructuring),
# so that the snapshot tests can check that today's armvmm still restores them
# (snapshot-tests.sh, _snap_stored_v1). Run as the payload of the nested GICv3 host (v3-user,
# v3-gicv3), and with "for ic in user gicv2" on the GICv2 host (v2-user, v2-gicv2):
#   tests/system/nested.sh --build BUILD --gic 3 --payload tests/data/make-snapshot-v1.sh
# then cut the base64 between BEGIN-B64/END-B64 out of BUILD/nested/gic3/console.log,
# untar it, keep each snapshot's state as it is and its memory file gzipped (memory.gz).
set -u
cd /tmp
mkdir -p /tmp/armvmm-v1
# A 1 MiB disk with a pattern in sector 0 (the guest does not read it; its state is in VIRT).
i=0; while [ $i -lt 32 ]; do printf 'v1 disk line %02d\n' $i; i=$((i + 1)); done > /tmp/armvmm-v1/disk.img
head -c $((1048576 - 512)) /dev/zero >> /tmp/armvmm-v1/disk.img
for ic in user gicv3; do
cat > /tmp/s-$ic.script <<EOS
timeout 60
wait snap-gic: ready
snapshot /tmp/armvmm-v1/snap-$ic
send g
wait snap-gic: all ok
expect-exit 0
EOS
$ARMVMM run -k $GUESTS/snap_gic.bin -c 4 -m 32 --irqchip $ic -d /tmp/armvmm-v1/disk.img --script /tmp/s-$ic.script --loglevel info > /tmp/out-$ic.txt 2>&1
echo "RUN $ic rc=$?"
tail -5 /tmp/out-$ic.txt
ls -ls /tmp/armvmm-v1/snap-$ic
cd /tmp/armvmm-v1 && tar cf - snap-$ic | gzip -9 > /tmp/snap-$ic.tar.gz; cd /tmp
ls -l /tmp/snap-$ic.tar.gz
echo "BEGIN-B64 $ic"
base64 /tmp/snap-$ic.tar.gz
echo "END-B64 $ic"
done
