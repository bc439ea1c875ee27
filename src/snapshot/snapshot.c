/*
 * Snapshots of a whole VM.
 *
 * Save (main thread, every vCPU parked outside KVM_RUN by vm_pause()):
 *   1. virtio devices quiesce: requests in flight complete, so no half-done
 *      I/O is in the snapshot and no completion interrupt arrives later;
 *   2. every section is built in memory: CONF (the VM's shape), VCPU per
 *      vCPU, GIC, UART, RTC, VIRT per virtio slot (devices before the GIC:
 *      a device can still change a line level while it settles);
 *   3. only then is anything written: the state file, then guest RAM last
 *      (snapfile_writer.c writes into a temporary directory and renames it).
 *
 * Restore (a fresh process):
 *   1. the whole state file is validated (snapfile_reader.c) and CONF is read into
 *      a configuration before any KVM object exists;
 *   2. the VM is built like a booting one with that configuration: KVM VM,
 *      RAM mapped copy-on-write from the memory file, vCPUs (secondaries
 *      powered off, as at boot), the irqchip of exactly the saved type,
 *      devices in the saved order, CTRL_INIT;
 *   3. state goes back in the order vcpu_state.c documents: vCPU registers
 *      (MPIDR first), then the GIC, then timers / MP state / events, then the
 *      devices; last, every virtio queue is looked at once, because a
 *      notification may have been sitting in an ioeventfd at save time.
 */
#include "snapshot/snapshot.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/pl031.h"
#include "devices/uart_8250.h"
#include "devices/virtio_mmio.h"
#include "irqchip/irqchip.h"
#include "snapshot/snapfile.h"
#include "core/clock.h"
#include "core/log.h"
#include "snapshot/vcpu_state.h"
#include "core/vm.h"

/*
 * CONF: what a restore must rebuild before any state can go back.
 *   u32 nr_cpus, u64 mem_size, u32 console (0 serial,
 *   1 virtio), u8 nodefaults, u8 has_rtc, u32 nr_disks, per disk: str
 *   absolute path, u8 read_only, u32 io (0 auto, 1 uring, 2 thread),
 *   u32 nr_virtio, per slot: u32 virtio device id.
 * The irqchip type is the header's (one place says it).
 */
static void save_config(struct vm *vm, struct snap_buf *b)
{
	const struct vm_config *cfg = vm->cfg;

	snap_put_u32(b, vm->nr_vcpus);
	snap_put_u64(b, cfg->mem_size);
	snap_put_u32(b, cfg->console == CONSOLE_VIRTIO ? 1u : 0u);
	snap_put_u8(b, cfg->nodefaults);
	snap_put_u8(b, vm->has_rtc);
	snap_put_u32(b, cfg->nr_disks);
	for (unsigned int i = 0; i < cfg->nr_disks; i++) {
		char abs[PATH_MAX];
		/* Absolute, so a restore from another directory opens the same file. */
		snap_put_str(b, realpath(cfg->disks[i].path, abs) ? abs : cfg->disks[i].path);
		snap_put_u8(b, cfg->disks[i].read_only);
		snap_put_u32(b, (uint32_t)cfg->disks[i].io);
	}
	snap_put_u32(b, vm->nr_virtio);
	for (unsigned int i = 0; i < vm->nr_virtio; i++)
		snap_put_u32(b, vm->virtio[i]->ops->device_id);
}

struct saved_sections {
	struct snap_buf conf, gic, uart, rtc;
	struct snap_buf *vcpu;
	struct snap_buf virtio[VM_MAX_VIRTIO];
	unsigned int nr_vcpu;
};

static void sections_free(struct saved_sections *s)
{
	snap_buf_free(&s->conf);
	snap_buf_free(&s->gic);
	snap_buf_free(&s->uart);
	snap_buf_free(&s->rtc);
	for (unsigned int i = 0; s->vcpu && i < s->nr_vcpu; i++)
		snap_buf_free(&s->vcpu[i]);
	free(s->vcpu);
	for (unsigned int i = 0; i < VM_MAX_VIRTIO; i++)
		snap_buf_free(&s->virtio[i]);
}

static int build_sections(struct vm *vm, struct saved_sections *s)
{
	int ret;

	for (unsigned int i = 0; i < vm->nr_virtio; i++)
		if (vm->virtio[i]->ops->quiesce)
			vm->virtio[i]->ops->quiesce(vm->virtio[i]);
	save_config(vm, &s->conf);
	s->vcpu = calloc(vm->nr_vcpus, sizeof(*s->vcpu));
	if (!s->vcpu) {
		pr_err("out of memory building the snapshot");
		return -ENOMEM;
	}
	s->nr_vcpu = vm->nr_vcpus;
	for (unsigned int i = 0; i < vm->nr_virtio; i++)
		virtio_mmio_save(vm->virtio[i], &s->virtio[i]);
	uart_8250_save(&vm->uart, &s->uart);
	if (vm->has_rtc)
		pl031_save(&vm->rtc, &s->rtc);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		ret = vcpu_state_save(&vm->vcpus[i], &s->vcpu[i]);
		if (ret < 0)
			return ret;
	}
	return irqchip_save(&vm->irqchip, &s->gic);
}

static int write_sections(struct snap_writer *w, struct vm *vm, struct saved_sections *s)
{
	int ret = snap_writer_add(w, SNAP_SEC_CONFIG, 0, &s->conf);

	for (unsigned int i = 0; !ret && i < vm->nr_vcpus; i++)
		ret = snap_writer_add(w, SNAP_SEC_VCPU, i, &s->vcpu[i]);
	if (!ret)
		ret = snap_writer_add(w, SNAP_SEC_GIC, 0, &s->gic);
	if (!ret)
		ret = snap_writer_add(w, SNAP_SEC_UART, 0, &s->uart);
	if (!ret && vm->has_rtc)
		ret = snap_writer_add(w, SNAP_SEC_RTC, 0, &s->rtc);
	for (unsigned int i = 0; !ret && i < vm->nr_virtio; i++)
		ret = snap_writer_add(w, SNAP_SEC_VIRTIO, i, &s->virtio[i]);
	return ret; /* snap_writer_add said what failed */
}

int vm_snapshot_save(struct vm *vm, const char *dir, struct control_snapshot_result *res)
{
	struct snap_header h = {
		.version = SNAP_VERSION,
		.page_size = (uint32_t)sysconf(_SC_PAGESIZE),
		.nr_vcpus = vm->nr_vcpus,
		.irqchip_type = (uint32_t)vm->irqchip.type,
		.mem_gpa = vm->mem.gpa,
		.mem_size = vm->mem.size,
	};
	struct saved_sections s = { 0 };
	struct snap_writer *w = NULL;
	uint64_t t0 = clock_monotonic_ns();
	int ret;

	if (!vm->paused) {
		pr_err("internal error: snapshot of a running VM");
		return -EBUSY;
	}
	/* Everything is read from KVM and the devices before the first byte is written. */
	ret = build_sections(vm, &s);
	if (ret == 0)
		ret = snap_writer_open(&w, dir, &h);
	if (ret == 0)
		ret = write_sections(w, vm, &s);
	if (ret == 0)
		ret = snap_writer_memory(w, vm->mem.host);
	if (ret == 0) {
		ret = snap_writer_commit_stats(w, &res->state_bytes, &res->memory_bytes);
		w = NULL;
	}
	if (w)
		snap_writer_abort(w);
	sections_free(&s);
	if (ret < 0)
		return ret;
	res->ns = clock_monotonic_ns() - t0;
	pr_info("snapshot written to %s: state %llu bytes, %llu MiB of RAM data, %llu ms", dir,
		(unsigned long long)res->state_bytes, (unsigned long long)(res->memory_bytes >> 20),
		(unsigned long long)(res->ns / 1000000));
	return 0;
}

/* --- restore ------------------------------------------------------------------ */

/* Storage for the restored configuration's strings (one restore per process). */
static char restored_disk_paths[VM_MAX_DISKS][PATH_MAX];

struct saved_config {
	uint32_t nr_virtio;
	uint32_t virtio_ids[VM_MAX_VIRTIO];
	bool has_rtc;
};

static int load_config(const struct snap_reader *r, const struct vm_config *req, struct vm_config *cfg,
		       struct saved_config *sc)
{
	struct snap_cursor c;
	uint32_t console, nr_disks;
	bool bad = false;

	if (snap_reader_find(r, SNAP_SEC_CONFIG, 0, &c) < 0)
		return -EINVAL; /* snap_reader_parse guarantees it; be safe anyway */
	*cfg = (struct vm_config){
		.loglevel = req->loglevel,
		.name = req->name,
		.script_path = req->script_path,
		.script_start = req->script_start,
		.script_input = req->script_input,
		.restore_dir = req->restore_dir,
	};
	cfg->nr_cpus = snap_get_u32(&c);
	cfg->mem_size = snap_get_u64(&c);
	uint32_t type = r->h.irqchip_type;
	console = snap_get_u32(&c);
	cfg->nodefaults = snap_get_bool(&c);
	sc->has_rtc = snap_get_bool(&c);
	nr_disks = snap_get_u32(&c);
	if (nr_disks > VM_MAX_DISKS) {
		pr_err("snapshot configuration: %u disks (at most %u)", nr_disks, VM_MAX_DISKS);
		return -EINVAL;
	}
	cfg->nr_disks = nr_disks;
	for (unsigned int i = 0; i < nr_disks; i++) {
		snap_get_str(&c, restored_disk_paths[i], sizeof(restored_disk_paths[i]));
		cfg->disks[i].path = restored_disk_paths[i];
		cfg->disks[i].read_only = snap_get_bool(&c);
		uint32_t io = snap_get_u32(&c);
		bad |= io > DISK_IO_THREAD;
		cfg->disks[i].io = (enum disk_io)io;
	}
	sc->nr_virtio = snap_get_u32(&c);
	if (sc->nr_virtio > VM_MAX_VIRTIO) {
		pr_err("snapshot configuration: %u virtio devices (at most %u)", sc->nr_virtio, VM_MAX_VIRTIO);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < sc->nr_virtio; i++)
		sc->virtio_ids[i] = snap_get_u32(&c);
	if (snap_cursor_done(&c, "CONF") < 0)
		return -EINVAL;
	if (bad || console > 1) {
		pr_err("snapshot configuration holds an invalid value (disk I/O mode or console type)");
		return -EINVAL;
	}
	cfg->console = console ? CONSOLE_VIRTIO : CONSOLE_SERIAL;
	if (cfg->nr_cpus != r->h.nr_vcpus || cfg->mem_size != r->h.mem_size) {
		pr_err("snapshot configuration disagrees with its header (%u vCPUs / %llu bytes of RAM vs %u / %llu)",
		       cfg->nr_cpus, (unsigned long long)cfg->mem_size, r->h.nr_vcpus,
		       (unsigned long long)r->h.mem_size);
		return -EINVAL;
	}
	if (r->h.mem_gpa != GUEST_RAM_BASE || cfg->mem_size > (VM_MAX_MEM_MIB << 20) ||
	    cfg->mem_size % (uint64_t)sysconf(_SC_PAGESIZE)) {
		pr_err("snapshot RAM [0x%llx, +0x%llx) is outside armvmm's memory map (RAM starts at 0x%llx, page-aligned)",
		       (unsigned long long)r->h.mem_gpa, (unsigned long long)cfg->mem_size,
		       (unsigned long long)GUEST_RAM_BASE);
		return -EINVAL;
	}
	switch (type) {
	case IRQCHIP_GICV2_KVM: cfg->irqchip = IRQCHIP_REQ_GICV2_KERNEL; break;
	case IRQCHIP_GICV3_KVM: cfg->irqchip = IRQCHIP_REQ_GICV3; break;
	case IRQCHIP_GICV2_USER: cfg->irqchip = IRQCHIP_REQ_USER; break;
	default:
		pr_err("snapshot has an irqchip (%s) that cannot be restored", irqchip_type_name((enum irqchip_type)type));
		return -EINVAL;
	}
	if (irqchip_is_gicv2((enum irqchip_type)type) && cfg->nr_cpus > GICV2_MAX_CPUS) {
		pr_err("snapshot has %u vCPUs on a GICv2 (at most %u)", cfg->nr_cpus, GICV2_MAX_CPUS);
		return -EINVAL;
	}
	return 0;
}

/* The devices rebuilt from CONF must be the ones saved, slot for slot. */
static int check_devices(struct vm *vm, const struct saved_config *sc, const struct snap_reader *r)
{
	struct snap_cursor c;

	if (vm->nr_virtio != sc->nr_virtio || vm->has_rtc != sc->has_rtc) {
		pr_err("snapshot configuration is inconsistent: %u virtio devices and %s RTC rebuilt, %u and %s saved",
		       vm->nr_virtio, vm->has_rtc ? "an" : "no", sc->nr_virtio, sc->has_rtc ? "an" : "no");
		return -EINVAL;
	}
	for (unsigned int i = 0; i < vm->nr_virtio; i++) {
		if (vm->virtio[i]->ops->device_id != sc->virtio_ids[i] ||
		    snap_reader_find(r, SNAP_SEC_VIRTIO, i, &c) < 0) {
			pr_err("snapshot configuration is inconsistent: virtio slot %u (device id %u) has no matching state",
			       i, sc->virtio_ids[i]);
			return -EINVAL;
		}
	}
	if (vm->has_rtc != (snap_reader_find(r, SNAP_SEC_RTC, 0, &c) == 0)) {
		pr_err("snapshot configuration is inconsistent: the RTC section %s",
		       vm->has_rtc ? "is missing" : "belongs to no device");
		return -EINVAL;
	}
	/* A state section for a slot nobody configured would be silently dropped. */
	for (unsigned int i = vm->nr_virtio; i < VM_MAX_VIRTIO; i++) {
		if (snap_reader_find(r, SNAP_SEC_VIRTIO, i, &c) == 0) {
			pr_err("snapshot holds state for virtio slot %u, which it does not configure", i);
			return -EINVAL;
		}
	}
	return 0;
}

static int build_vm(struct vm *vm, const struct snap_reader *r, const struct saved_config *sc)
{
	int ret;

	if ((ret = vm_open_kvm(vm)) < 0 || (ret = vm_create_kvm_vm(vm)) < 0 ||
	    (ret = vm_setup_memory(vm, r->mem_fd)) < 0 || (ret = vm_create_vcpus(vm)) < 0)
		return ret;
	ret = vm_create_irqchip(vm);
	if (ret < 0)
		return ret;
	if (vm->irqchip.type != (enum irqchip_type)r->h.irqchip_type) {
		pr_err("this snapshot needs the %s, but this host gave the %s",
		       irqchip_type_name((enum irqchip_type)r->h.irqchip_type), irqchip_type_name(vm->irqchip.type));
		return -ENODEV;
	}
	if ((ret = vm_setup_devices(vm)) < 0 || (ret = check_devices(vm, sc, r)) < 0 ||
	    (ret = irqchip_finalize(&vm->irqchip)) < 0)
		return ret;
	vm_connect_irqfds(vm);
	return 0;
}

static int restore_state(struct vm *vm, const struct snap_reader *r)
{
	struct snap_cursor c;
	int ret = 0;

	for (unsigned int i = 0; !ret && i < vm->nr_vcpus; i++) {
		ret = snap_reader_find(r, SNAP_SEC_VCPU, i, &c);
		if (!ret)
			ret = vcpu_state_restore_regs(&vm->vcpus[i], &c);
	}
	if (!ret)
		ret = snap_reader_find(r, SNAP_SEC_GIC, 0, &c);
	if (!ret)
		ret = irqchip_restore(&vm->irqchip, &c);
	for (unsigned int i = 0; !ret && i < vm->nr_vcpus; i++)
		ret = vcpu_state_restore_timers_mp(&vm->vcpus[i]);
	if (!ret)
		ret = snap_reader_find(r, SNAP_SEC_UART, 0, &c);
	if (!ret)
		ret = uart_8250_restore(&vm->uart, &c);
	if (!ret && vm->has_rtc) {
		ret = snap_reader_find(r, SNAP_SEC_RTC, 0, &c);
		if (!ret)
			ret = pl031_restore(&vm->rtc, &c);
	}
	for (unsigned int i = 0; !ret && i < vm->nr_virtio; i++) {
		ret = snap_reader_find(r, SNAP_SEC_VIRTIO, i, &c);
		if (!ret)
			ret = virtio_mmio_restore(vm->virtio[i], &c);
	}
	for (unsigned int i = 0; vm->vcpus && i < vm->nr_vcpus; i++)
		vcpu_state_free(&vm->vcpus[i]);
	if (ret < 0)
		return ret;
	for (unsigned int i = 0; i < vm->nr_virtio; i++)
		virtio_mmio_kick_all(vm->virtio[i]);
	return 0;
}

int snapshot_restore(struct vm *vm, const struct vm_config *req, struct vm_config *restored)
{
	struct snap_reader r = { .mem_fd = -1 };
	struct saved_config sc = { 0 };
	uint64_t t0 = clock_monotonic_ns();
	int ret;

	/* 1. Everything in the files is checked before KVM is touched. */
	ret = snap_reader_open(&r, req->restore_dir);
	if (ret == 0)
		ret = load_config(&r, req, restored, &sc);
	if (ret < 0)
		goto out;
	vm->cfg = restored;
	vm->restoring = true;
	vm->restore_t0_ns = t0;

	/* 2. The VM, built with the saved shape. 3. Its state. */
	ret = build_vm(vm, &r, &sc);
	if (ret == 0)
		ret = restore_state(vm, &r);
	if (ret == 0)
		pr_info("restored %s: %u vCPU(s), %llu MiB RAM, %s, in %llu ms", req->restore_dir, vm->nr_vcpus,
			(unsigned long long)(restored->mem_size >> 20), irqchip_type_name(vm->irqchip.type),
			(unsigned long long)((clock_monotonic_ns() - t0) / 1000000));
out:
	/* The RAM mapping keeps the memory file's pages reachable after its fd is closed. */
	snap_reader_close(&r);
	return ret;
}
