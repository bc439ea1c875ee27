/*
 * Snapshots of a whole VM.
 *
 * Save (main thread, every vCPU parked outside KVM_RUN by vm_pause()):
 *   1. every device quiesces: requests in flight complete, so no half-done
 *      I/O is in the snapshot and no completion interrupt arrives later;
 *   2. every section is built in memory: CONF (the board's configuration),
 *      VCPU per vCPU, GIC, then one per device on the board's device list
 *      (devices before the GIC: a device can still change a line level
 *      while it settles);
 *   3. only then is anything written: the state file, then guest RAM last
 *      (snapfile_writer.c writes into a temporary directory and renames it);
 *   4. the devices resume what quiesce stopped (a NIC's receive path).
 *
 * Restore (a fresh process):
 *   1. the whole state file is validated (snapfile_reader.c) and CONF (and
 *      NETC, with network devices) is read into a configuration before any
 *      KVM object exists;
 *   2. the machine is built as a boot builds it (board_build) with that
 *      configuration, RAM mapped copy-on-write from the memory file; the
 *      irqchip must be exactly the saved type and every device section must
 *      belong to a device built, and every device find its section;
 *   3. state goes back in the order vcpu_state.c documents: vCPU registers
 *      (MPIDR first), then the GIC, then timers / MP state / events, then the
 *      devices; last, each device catches up (a virtio queue notification
 *      may have been sitting in an ioeventfd at save time).
 */
#include "snapshot/snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "board/board.h"
#include "core/clock.h"
#include "core/log.h"
#include "devices/pmu.h"
#include "irqchip/irqchip.h"
#include "snapshot/snapfile.h"
#include "snapshot/vcpu_state.h"

/* Every section but the devices': CONF, NETC (with network devices), one VCPU per vCPU, GIC. */
struct saved_sections {
	struct snap_buf conf, netconf, gic;
	struct snap_buf *vcpu;
	struct snap_buf *dev;		/* one per device on the list (unused for devices without state) */
	unsigned int nr_vcpu, nr_dev;
};

static void sections_free(struct saved_sections *s)
{
	snap_buf_free(&s->conf);
	snap_buf_free(&s->netconf);
	snap_buf_free(&s->gic);
	for (unsigned int i = 0; s->vcpu && i < s->nr_vcpu; i++)
		snap_buf_free(&s->vcpu[i]);
	for (unsigned int i = 0; s->dev && i < s->nr_dev; i++)
		snap_buf_free(&s->dev[i]);
	free(s->vcpu);
	free(s->dev);
}

/* Nothing in flight, and what the devices wrote to host files made durable. */
static int quiesce_devices(struct board *b)
{
	struct device_list *devs = &b->devices;
	int ret = 0;

	for (unsigned int i = 0; i < devs->count; i++)
		if (devs->dev[i].ops->quiesce)
			devs->dev[i].ops->quiesce(&devs->dev[i]);
	for (unsigned int i = 0; !ret && i < devs->count; i++)
		if (devs->dev[i].ops->sync)
			ret = devs->dev[i].ops->sync(&devs->dev[i]);
	return ret;
}

static int build_sections(struct board *b, struct saved_sections *s)
{
	struct device_list *devs = &b->devices;
	struct vm *vm = &b->vm;
	int ret = quiesce_devices(b);

	if (ret < 0)
		return ret;
	board_conf_save(b, &s->conf);
	if (board_netconf_needed(b))
		board_netconf_save(b, &s->netconf);
	s->vcpu = calloc(vm->nr_vcpus, sizeof(*s->vcpu));
	s->dev = calloc(devs->count ? devs->count : 1, sizeof(*s->dev));
	if (!s->vcpu || !s->dev) {
		pr_err("out of memory building the snapshot");
		return -ENOMEM;
	}
	s->nr_vcpu = vm->nr_vcpus;
	s->nr_dev = devs->count;
	/* Devices before the GIC: a device can still change a line level while it settles. */
	for (unsigned int i = 0; i < devs->count; i++)
		if (devs->dev[i].ops->save)
			devs->dev[i].ops->save(&devs->dev[i], &s->dev[i]);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		ret = vcpu_state_save(&vm->vcpus[i], &s->vcpu[i]);
		if (ret < 0)
			return ret;
	}
	return irqchip_save(&b->irqchip, &s->gic);
}

/* One section into the image, or one line saying which failed. */
static int add_section(struct snap_image *img, uint32_t tag, uint32_t instance, const struct snap_buf *b)
{
	char name[32];
	int err = b->err ? -ENOMEM : snap_image_add(img, tag, instance, b->data, b->len);

	if (err == -EFBIG)
		pr_err("the saved state is larger than %u bytes (section %s)", SNAP_MAX_STATE_SIZE,
		       snapfile_sec_name(name, tag, instance));
	else if (err)
		pr_err("out of memory saving section %s", snapfile_sec_name(name, tag, instance));
	return err;
}

static int image_sections(struct snap_image *img, struct board *b, struct saved_sections *s)
{
	const struct device_list *devs = &b->devices;
	int ret = add_section(img, SNAP_SEC_CONFIG, 0, &s->conf);

	if (!ret && board_netconf_needed(b))
		ret = add_section(img, BOARD_SEC_NETCONF, 0, &s->netconf);
	for (unsigned int i = 0; !ret && i < b->vm.nr_vcpus; i++)
		ret = add_section(img, SNAP_SEC_VCPU, i, &s->vcpu[i]);
	if (!ret)
		ret = add_section(img, SNAP_SEC_GIC, 0, &s->gic);
	for (unsigned int i = 0; !ret && i < devs->count; i++) {
		const struct device *d = &devs->dev[i];
		if (d->ops->snap_tag && d->ops->save)
			ret = add_section(img, d->ops->snap_tag, d->instance, &s->dev[i]);
	}
	return ret;
}

void snapshot_header(const struct board *b, struct snap_header *h)
{
	*h = (struct snap_header){
		.version = SNAP_VERSION,
		.page_size = (uint32_t)b->vm.mem.page_size,
		.nr_vcpus = b->vm.nr_vcpus,
		.irqchip_type = (uint32_t)b->irqchip.type,
		.mem_gpa = b->vm.mem.gpa,
		.mem_size = b->vm.mem.size,
	};
}

void snapshot_devices_resume(struct board *b)
{
	for (unsigned int i = 0; i < b->devices.count; i++)
		if (b->devices.dev[i].ops->resume)
			b->devices.dev[i].ops->resume(&b->devices.dev[i]);
}

int snapshot_capture(struct board *b, struct snap_reader *state)
{
	struct saved_sections s = { 0 };
	struct snap_image img;
	struct snap_header h;
	int ret;

	*state = (struct snap_reader){ .mem_fd = -1 };
	if (!b->vm.paused) {
		pr_err("internal error: saving the state of a running VM");
		return -EBUSY;
	}
	snapshot_header(b, &h);
	ret = snap_image_init(&img);
	if (ret < 0)
		pr_err("out of memory saving the VM's state");
	if (ret == 0)
		ret = build_sections(b, &s);
	if (ret == 0)
		ret = image_sections(&img, b, &s);
	if (ret == 0) {
		snap_image_finish(&img, &h);
		/* What is saved passes the checks a restore makes. */
		ret = snapfile_parse_copy(state, img.buf.data, img.buf.len, board_snap_kinds, board_nr_snap_kinds,
					  "internal error: the saved state fails its own checks: ");
	}
	snap_image_free(&img);
	sections_free(&s);
	return ret;
}

int snapshot_save(struct board *b, const char *dir, struct control_snapshot_result *res)
{
	struct vm *vm = &b->vm;
	struct snap_reader state;
	struct snap_header h;
	struct snap_writer *w = NULL;
	uint64_t t0 = clock_monotonic_ns(), t_state = 0, t_touched = 0, *touched = NULL;
	int ret;

	/* Everything is read from KVM and the devices before the first byte is written. */
	snapshot_header(b, &h);
	ret = snapshot_capture(b, &state);
	t_state = clock_monotonic_ns();
	if (ret == 0) {
		touched = malloc(guest_mem_bitmap_bytes(&vm->mem));
		ret = touched ? guest_mem_touched(&vm->mem, touched) : -ENOMEM;
		if (!touched)
			pr_err("out of memory saving guest RAM");
	}
	t_touched = clock_monotonic_ns();
	if (ret == 0)
		ret = snap_writer_open(&w, dir, &h, board_snap_kinds, board_nr_snap_kinds);
	for (unsigned int i = 0; ret == 0 && i < state.nr_sections; i++) {
		const struct snap_section *sec = &state.sections[i];
		struct snap_buf payload = { .data = state.state + sec->offset, .len = (size_t)sec->length };
		ret = snap_writer_add(w, sec->tag, sec->instance, &payload);
	}
	if (ret == 0)
		ret = snap_writer_memory(w, vm->mem.host, touched);
	if (ret == 0) {
		ret = snap_writer_commit_stats(w, &res->state_bytes, &res->memory_bytes);
		w = NULL;
	}
	if (w)
		snap_writer_abort(w);
	snap_reader_close(&state);
	free(touched);
	/* Saved (or not): the devices take up their work again, whether the VM goes on or ends. */
	snapshot_devices_resume(b);
	if (ret < 0)
		return ret;
	res->ns = clock_monotonic_ns() - t0;
	pr_info("snapshot written to %s: state %llu bytes, %llu MiB of RAM data, %llu ms (state %llu ms, finding "
		"the touched pages %llu ms, writing %llu ms)", dir, (unsigned long long)res->state_bytes,
		(unsigned long long)(res->memory_bytes >> 20), (unsigned long long)(res->ns / 1000000),
		(unsigned long long)((t_state - t0) / 1000000), (unsigned long long)((t_touched - t_state) / 1000000),
		(unsigned long long)((t0 + res->ns - t_touched) / 1000000));
	return 0;
}

/* --- restore ------------------------------------------------------------------ */

/* What a device section is called in messages: "virtio slot 9", "RTC". */
static void section_what(uint32_t tag, uint32_t instance, char *buf, size_t cap)
{
	for (unsigned int k = 0; k < board_nr_snap_kinds; k++) {
		const struct snap_kind *kind = &board_snap_kinds[k];
		if (kind->tag != tag)
			continue;
		if (kind->max_instances > 1)
			snprintf(buf, cap, "%s %u", kind->what, instance);
		else
			snprintf(buf, cap, "%s", kind->what);
		return;
	}
	snprintf(buf, cap, "section 0x%08x/%u", tag, instance);
}

/* Every device has its section, and every device section belongs to a device built. */
static int check_device_sections(const struct board *b, const struct snap_reader *r)
{
	char what[64];

	for (unsigned int i = 0; i < b->devices.count; i++) {
		const struct device *d = &b->devices.dev[i];
		struct snap_cursor c;
		if (!d->ops->snap_tag || snap_reader_find(r, d->ops->snap_tag, d->instance, &c) == 0)
			continue;
		section_what(d->ops->snap_tag, d->instance, what, sizeof(what));
		pr_err("snapshot configuration is inconsistent: the %s section is missing", what);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < r->nr_sections; i++) {
		const struct snap_section *sec = &r->sections[i];
		if (sec->tag == SNAP_SEC_CONFIG || sec->tag == SNAP_SEC_VCPU || sec->tag == SNAP_SEC_GIC ||
		    sec->tag == BOARD_SEC_NETCONF ||
		    device_find_section(&b->devices, sec->tag, sec->instance))
			continue;
		section_what(sec->tag, sec->instance, what, sizeof(what));
		pr_err("snapshot holds state for %s, which it does not configure", what);
		return -EINVAL;
	}
	return 0;
}

/*
 * State goes back in the order vcpu_state.c documents: vCPU registers (MPIDR
 * first), the GIC, timers / MP state / events, then the devices; last, each
 * device catches up on what may have been in flight at save time.
 */
static int restore_state(struct board *b, const struct snap_reader *r)
{
	struct device_list *devs = &b->devices;
	struct vm *vm = &b->vm;
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
		ret = irqchip_restore(&b->irqchip, &c);
	for (unsigned int i = 0; !ret && i < vm->nr_vcpus; i++)
		ret = vcpu_state_restore_timers_mp(&vm->vcpus[i]);
	for (unsigned int i = 0; !ret && i < devs->count; i++) {
		struct device *d = &devs->dev[i];
		if (!d->ops->snap_tag || !d->ops->restore)
			continue;
		ret = snap_reader_find(r, d->ops->snap_tag, d->instance, &c);
		if (!ret)
			ret = d->ops->restore(d, &c);
	}
	for (unsigned int i = 0; vm->vcpus && i < vm->nr_vcpus; i++)
		vcpu_state_free(&vm->vcpus[i]);
	if (ret < 0)
		return ret;
	for (unsigned int i = 0; i < devs->count; i++)
		if (devs->dev[i].ops->restored)
			devs->dev[i].ops->restored(&devs->dev[i]);
	return 0;
}

int snapshot_netconf_load(struct snap_cursor *c, const struct vm_config *req, struct vm_config *restored)
{
	int ret = board_netconf_load(c, restored);

	if (ret == 0 && req->jail_dir && (restored->nr_nics || restored->vsock_cid)) {
		pr_err("--jail: this VM has network devices (taps, vsock), and the jail's network namespace has no taps and its root no /dev/net/tun or vhost devices: restore it without --jail");
		ret = -EINVAL;
	}
	return ret;
}

int snapshot_conf_load(const struct snap_reader *r, const struct vm_config *req, struct vm_config *restored,
		       struct board_conf_expect *expect)
{
	struct snap_cursor c;
	int ret = snap_reader_find(r, SNAP_SEC_CONFIG, 0, &c);

	if (ret == 0)
		ret = board_conf_load(&c, req, r->h.nr_vcpus, r->h.mem_gpa, r->h.mem_size, r->h.irqchip_type, restored,
				      expect);
	/* Version 1's CONF says nothing of a PMU: its own section says the vCPUs had one. */
	if (ret == 0 && r->h.version == 1)
		restored->pmu = snap_reader_find(r, PMU_SNAP_TAG, 0, &c) == 0;
	/* The network devices' configuration, when the VM had any (its own section, in either version). */
	if (ret == 0 && snap_reader_find(r, BOARD_SEC_NETCONF, 0, &c) == 0)
		ret = snapshot_netconf_load(&c, req, restored);
	return ret;
}

int snapshot_load(struct board *b, const struct snap_reader *r, const struct board_conf_expect *expect)
{
	int ret = 0;

	if (b->irqchip.type != (enum irqchip_type)r->h.irqchip_type) {
		pr_err("this snapshot needs the %s, but this host gave the %s",
		       irqchip_type_name((enum irqchip_type)r->h.irqchip_type), irqchip_type_name(b->irqchip.type));
		ret = -ENODEV;
	}
	if (ret == 0)
		ret = board_conf_check(b, expect);
	if (ret == 0)
		ret = check_device_sections(b, r);
	if (ret == 0)
		ret = restore_state(b, r);
	return ret;
}

int snapshot_restore(struct board *b, const struct vm_config *req, struct vm_config *restored)
{
	struct snap_reader r = { .mem_fd = -1 };
	struct board_conf_expect expect = { 0 };
	uint64_t t0 = clock_monotonic_ns();
	int ret;

	/* 1. Everything in the files is checked before KVM is touched. */
	ret = snap_reader_open(&r, req->restore_dir, board_snap_kinds, board_nr_snap_kinds);
	if (ret == 0)
		ret = snapshot_conf_load(&r, req, restored, &expect);
	if (ret < 0)
		goto out;
	b->cfg = restored;
	b->vm.restoring = true;
	log_step("snapshot read and checked");

	/* 2. The machine, built as a boot builds it, with the saved shape; 3. its state. */
	ret = board_build(b, r.mem_fd);
	if (ret == 0)
		ret = snapshot_load(b, &r, &expect);
	log_step("state restored");
	if (ret == 0)
		pr_info("restored %s: %u vCPU(s), %llu MiB RAM, %s, in %llu ms", req->restore_dir, b->vm.nr_vcpus,
			(unsigned long long)(restored->mem_size >> 20), irqchip_type_name(b->irqchip.type),
			(unsigned long long)((clock_monotonic_ns() - t0) / 1000000));
out:
	/* The RAM mapping keeps the memory file's pages reachable after its fd is closed. */
	snap_reader_close(&r);
	return ret;
}
