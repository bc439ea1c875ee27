# The PMU guest in a nested host whose QEMU counts instructions exactly (nested.sh --icount):
# there the host's PMU has INST_RETIRED, so the guest's event counter must count the
# instructions it runs (pmu.inst=required), on the in-kernel GIC and on the userspace GIC,
# across a migration.
. "$ARMVMM_LIB"

hgic=$(host_gic)
if [ "$hgic" = v3 ]; then ic=gicv3; else ic=gicv2; fi
diag "host: $(uname -r), $(grep -c '^processor' /proc/cpuinfo) cpus, GIC$hgic, QEMU with -icount"
. "$SNAPSHOT_TESTS"
. "$PARITY_TESTS"
pmu_tests icount -p pmu.inst=required
finish
