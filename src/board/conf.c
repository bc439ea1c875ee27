/*
 * The snapshot's CONF section: the configuration a restore must rebuild before
 * any state can go back (man/armvmm-snapshot.5).
 *   u32 nr_cpus, u64 mem_size, u32 console (0 serial, 1 virtio), u8 nodefaults,
 *   u8 has_rtc, u32 nr_disks, per disk: the disk's identity (devices/disk.h:
 *   canonical path, device, inode, size, mtime), u8 read_only, u32 io
 *   (0 auto, 1 uring, 2 thread), u32 nr_virtio, per slot: u32 virtio device id,
 *   u8 pmu (the vCPUs have a PMUv3).
 * Version 1 recorded a disk by its absolute path alone (a string), and no pmu
 * (a PMU section said so).
 * The irqchip type is the snapshot header's (one place says it).
 */
#include "board/board.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/state.h"
#include "devices/pl031.h"
#include "devices/net_tap.h"
#include "devices/virtio_mmio.h"
#include "devices/virtio_vsock.h"

/* The disks' devices, in -d order (board_create_devices makes them first, in that order). */
static const struct virtio_blk *disk_device(const struct board *b, unsigned int n)
{
	for (unsigned int i = 0; i < b->devices.count; i++) {
		const struct device *d = &b->devices.dev[i];
		const struct virtio_mmio *t = d->priv;
		if (d->ops->snap_tag == VIRTIO_MMIO_SNAP_TAG && t->ops->device_id == VIRTIO_ID_BLOCK && n-- == 0)
			return t->dev;
	}
	return NULL;
}

void board_conf_save(const struct board *b, struct snap_buf *buf)
{
	const struct vm_config *cfg = b->cfg;
	bool has_rtc = false;

	for (unsigned int i = 0; i < b->devices.count; i++)
		has_rtc |= b->devices.dev[i].ops->snap_tag == PL031_SNAP_TAG;
	snap_put_u32(buf, b->vm.nr_vcpus);
	snap_put_u64(buf, cfg->mem_size);
	snap_put_u32(buf, cfg->console == CONSOLE_VIRTIO ? 1u : 0u);
	snap_put_u8(buf, cfg->nodefaults);
	snap_put_u8(buf, has_rtc);
	snap_put_u32(buf, cfg->nr_disks);
	for (unsigned int i = 0; i < cfg->nr_disks; i++) {
		const struct virtio_blk *blk = disk_device(b, i);
		struct disk_identity id;
		/* The same record the disk's own section has: canonical path and identity. */
		if (!blk || virtio_blk_identity(blk, &id) < 0) {
			pr_err("cannot record disk %u of the configuration", i);
			buf->err = true;
			return;
		}
		disk_identity_put(buf, &id);
		snap_put_u8(buf, cfg->disks[i].read_only);
		snap_put_u32(buf, (uint32_t)cfg->disks[i].io);
	}
	snap_put_u32(buf, b->nr_virtio);
	for (unsigned int i = 0; i < b->devices.count; i++) {
		const struct device *d = &b->devices.dev[i];
		if (d->ops->snap_tag == VIRTIO_MMIO_SNAP_TAG)
			snap_put_u32(buf, ((const struct virtio_mmio *)d->priv)->ops->device_id);
	}
	/* The vCPUs are created with a PMU or without: a migration's destination must know before its state comes. */
	snap_put_u8(buf, cfg->pmu);
}

/* Storage for the restored configuration's disks (one restore per process). */
static struct disk_identity restored_disks[VM_MAX_DISKS];

/* Does --disk OLD name the saved disk recorded at path? The path as saved, or OLD resolved from here. */
static bool remap_matches(const char *old, const char *path)
{
	char abs[PATH_MAX];

	if (strcmp(old, path) == 0)
		return true;
	if (realpath(old, abs) && strcmp(abs, path) == 0)
		return true;
	if (old[0] != '/' && getcwd(abs, sizeof(abs))) {
		size_t n = strlen(abs);
		if (snprintf(abs + n, sizeof(abs) - n, "/%s", old) < (int)(sizeof(abs) - n) && strcmp(abs, path) == 0)
			return true;
	}
	return false;
}

/* Where each saved disk is opened, and how it must match what was saved (devices/disk.h). */
static int place_disks(const struct vm_config *req, struct vm_config *cfg, bool v1)
{
	bool used[VM_MAX_DISKS] = { false };

	for (unsigned int i = 0; i < cfg->nr_disks; i++) {
		struct disk_config *d = &cfg->disks[i];
		d->path = restored_disks[i].path;
		d->recorded = &restored_disks[i];
		d->untrusted_path = true;
		d->check = v1 ? DISK_CHECK_NONE : req->allow_changed_disks ? DISK_CHECK_SIZE : DISK_CHECK_SAME;
		for (unsigned int r = 0; r < req->nr_disk_remaps; r++) {
			if (!remap_matches(req->disk_remaps[r].from, restored_disks[i].path))
				continue;
			d->path = req->disk_remaps[r].to;
			d->untrusted_path = false;
			d->check = v1 ? DISK_CHECK_NONE : DISK_CHECK_SIZE;
			used[r] = true;
			break;
		}
	}
	for (unsigned int r = 0; r < req->nr_disk_remaps; r++) {
		if (used[r])
			continue;
		char list[512] = "";
		for (unsigned int i = 0; i < cfg->nr_disks; i++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s'%s'", i ? ", " : "",
				 restored_disks[i].path);
		pr_err("--disk %s=%s: the saved VM has no disk '%s' (its disks: %s)", req->disk_remaps[r].from,
		       req->disk_remaps[r].to, req->disk_remaps[r].from, cfg->nr_disks ? list : "none");
		return -EINVAL;
	}
	return 0;
}

int board_conf_load(struct snap_cursor *c, const struct vm_config *req, unsigned int nr_vcpus, uint64_t mem_gpa,
		    uint64_t mem_size, uint32_t irqchip_type, struct vm_config *cfg, struct board_conf_expect *expect)
{
	uint32_t console, nr_disks;
	bool bad = false, v1 = c->version == 1;

	*cfg = (struct vm_config){
		.loglevel = req->loglevel,
		.name = req->name,
		.script_path = req->script_path,
		.script_start = req->script_start,
		.script_input = req->script_input,
		.restore_dir = req->restore_dir,
		.incoming = req->incoming,
	};
	cfg->nr_cpus = snap_get_u32(c);
	cfg->mem_size = snap_get_u64(c);
	console = snap_get_u32(c);
	cfg->nodefaults = snap_get_bool(c);
	expect->has_rtc = snap_get_bool(c);
	nr_disks = snap_get_u32(c);
	if (nr_disks > VM_MAX_DISKS) {
		pr_err("snapshot configuration: %u disks (at most %u)", nr_disks, VM_MAX_DISKS);
		return -EINVAL;
	}
	cfg->nr_disks = nr_disks;
	for (unsigned int i = 0; i < nr_disks; i++) {
		memset(&restored_disks[i], 0, sizeof(restored_disks[i]));
		if (v1)
			snap_get_str(c, restored_disks[i].path, sizeof(restored_disks[i].path));
		else
			disk_identity_get(c, &restored_disks[i]);
		cfg->disks[i].read_only = snap_get_bool(c);
		uint32_t io = snap_get_u32(c);
		bad |= io > DISK_IO_THREAD;
		cfg->disks[i].io = (enum disk_io)io;
	}
	expect->nr_virtio = snap_get_u32(c);
	if (expect->nr_virtio > BOARD_MAX_VIRTIO) {
		pr_err("snapshot configuration: %u virtio devices (at most %u)", expect->nr_virtio, BOARD_MAX_VIRTIO);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < expect->nr_virtio; i++)
		expect->virtio_ids[i] = snap_get_u32(c);
	if (!v1)
		cfg->pmu = snap_get_bool(c);
	if (snap_cursor_done(c, "CONF") < 0)
		return -EINVAL;
	if (bad || console > 1) {
		pr_err("snapshot configuration holds an invalid value (disk I/O mode or console type)");
		return -EINVAL;
	}
	cfg->console = console ? CONSOLE_VIRTIO : CONSOLE_SERIAL;
	if (cfg->nr_cpus != nr_vcpus || cfg->mem_size != mem_size) {
		pr_err("snapshot configuration disagrees with its header (%u vCPUs / %llu bytes of RAM vs %u / %llu)",
		       cfg->nr_cpus, (unsigned long long)cfg->mem_size, nr_vcpus, (unsigned long long)mem_size);
		return -EINVAL;
	}
	if (mem_gpa != BOARD_RAM_BASE || cfg->mem_size > (VM_MAX_MEM_MIB << 20) ||
	    cfg->mem_size % (uint64_t)sysconf(_SC_PAGESIZE)) {
		pr_err("snapshot RAM [0x%llx, +0x%llx) is outside armvmm's memory map (RAM starts at 0x%llx, page-aligned)",
		       (unsigned long long)mem_gpa, (unsigned long long)cfg->mem_size,
		       (unsigned long long)BOARD_RAM_BASE);
		return -EINVAL;
	}
	switch (irqchip_type) {
	case IRQCHIP_GICV2_KVM: cfg->irqchip = IRQCHIP_REQ_GICV2_KERNEL; break;
	case IRQCHIP_GICV3_KVM: cfg->irqchip = IRQCHIP_REQ_GICV3; break;
	case IRQCHIP_GICV3_ITS_KVM: cfg->irqchip = IRQCHIP_REQ_GICV3_ITS; break;
	case IRQCHIP_GICV2_USER: cfg->irqchip = IRQCHIP_REQ_USER; break;
	default:
		pr_err("snapshot has an irqchip (%s) that cannot be restored",
		       irqchip_type_name((enum irqchip_type)irqchip_type));
		return -EINVAL;
	}
	if (irqchip_is_gicv2((enum irqchip_type)irqchip_type) && cfg->nr_cpus > GICV2_MAX_CPUS) {
		pr_err("snapshot has %u vCPUs on a GICv2 (at most %u)", cfg->nr_cpus, GICV2_MAX_CPUS);
		return -EINVAL;
	}
	return place_disks(req, cfg, v1);
}

int board_conf_check(const struct board *b, const struct board_conf_expect *expect)
{
	unsigned int slot = 0;
	bool has_rtc = false;

	for (unsigned int i = 0; i < b->devices.count; i++)
		has_rtc |= b->devices.dev[i].ops->snap_tag == PL031_SNAP_TAG;
	if (b->nr_virtio != expect->nr_virtio || has_rtc != expect->has_rtc) {
		pr_err("snapshot configuration is inconsistent: %u virtio devices and %s RTC rebuilt, %u and %s saved",
		       b->nr_virtio, has_rtc ? "an" : "no", expect->nr_virtio, expect->has_rtc ? "an" : "no");
		return -EINVAL;
	}
	for (unsigned int i = 0; i < b->devices.count; i++) {
		const struct device *d = &b->devices.dev[i];
		if (d->ops->snap_tag != VIRTIO_MMIO_SNAP_TAG)
			continue;
		if (((const struct virtio_mmio *)d->priv)->ops->device_id != expect->virtio_ids[slot]) {
			pr_err("snapshot configuration is inconsistent: virtio slot %u (device id %u) has no matching state",
			       slot, expect->virtio_ids[slot]);
			return -EINVAL;
		}
		slot++;
	}
	return 0;
}

/*
 * NETC: u32 nr_nics, per NIC: str tap name, u8 vhost, 6 bytes MAC; then u32
 * vsock CID (0: none). Only written when there is something in it, so a VM
 * without network devices saves what armvmm 0.1.0 could read (but the header
 * version: see snapfile.h).
 */
bool board_netconf_needed(const struct board *b)
{
	return b->nr_nics || b->cfg->vsock_cid;
}

void board_netconf_save(const struct board *b, struct snap_buf *buf)
{
	snap_put_u32(buf, b->nr_nics);
	for (unsigned int i = 0; i < b->nr_nics; i++) {
		snap_put_str(buf, b->nics[i].tapif);
		snap_put_u8(buf, b->nics[i].vhost);
		snap_put_bytes(buf, b->nics[i].mac, sizeof(b->nics[i].mac));
	}
	snap_put_u32(buf, b->cfg->vsock_cid);
}

/* Storage for the restored tap names (one restore per process). */
static char restored_tapifs[NET_MAX_NICS][IFNAMSIZ];

int board_netconf_load(struct snap_cursor *c, struct vm_config *cfg)
{
	uint32_t nr = snap_get_u32(c);

	if (nr > NET_MAX_NICS) {
		pr_err("snapshot network configuration: %u NICs (at most %u)", nr, NET_MAX_NICS);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < nr; i++) {
		struct net_config *n = &cfg->nics[i];
		snap_get_str(c, restored_tapifs[i], sizeof(restored_tapifs[i]));
		*n = (struct net_config){ .tapif = restored_tapifs[i], .vhost = snap_get_bool(c), .has_mac = true };
		snap_get_bytes(c, n->mac, sizeof(n->mac));
		if (!c->err && (!net_ifname_valid(n->tapif) || (n->mac[0] & 1))) {
			pr_err("snapshot network configuration: NIC %u has an invalid tap name or a multicast MAC", i);
			return -EINVAL;
		}
	}
	cfg->nr_nics = nr;
	cfg->vsock_cid = snap_get_u32(c);
	if (snap_cursor_done(c, "NETC") < 0)
		return -EINVAL;
	if (cfg->vsock_cid && (cfg->vsock_cid < VSOCK_CID_MIN || cfg->vsock_cid > VSOCK_CID_MAX)) {
		pr_err("snapshot network configuration: vsock CID %u is out of range (%u to %u)", cfg->vsock_cid,
		       VSOCK_CID_MIN, VSOCK_CID_MAX);
		return -EINVAL;
	}
	return 0;
}
