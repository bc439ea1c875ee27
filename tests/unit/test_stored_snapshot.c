/*
 * Snapshots written by an earlier armvmm (tests/data/snapshot-v1-*, format
 * version 1, from before the board / device-list restructuring) still load:
 * the state file passes today's checks with the board's section kinds, CONF
 * rebuilds the configuration it was taken with, and every device the board
 * builds from that configuration finds its section and restores it. The vCPU
 * and GIC sections need KVM: the nested system test (snap-stored-v1-*)
 * restores the whole VM and lets the guest check itself.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "board/board.h"
#include "board/layout.h"
#include "devices/pl031.h"
#include "devices/uart_8250.h"
#include "devices/virtio_mmio.h"
#include "snapshot/snapfile.h"

static const char *data_dir;

static uint8_t *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = malloc(1 << 20);

	assert_non_null(f);
	assert_non_null(buf);
	*len = fread(buf, 1, 1 << 20, f);
	assert_true(*len > 0 && *len < (1 << 20));
	fclose(f);
	return buf;
}

/* Lines go to KVM in a real VM; here the test only needs set_spi to accept them. */
static int accept_spi(struct irqchip *ic, unsigned int spi, bool level)
{
	(void)ic;
	(void)spi;
	(void)level;
	return 0;
}

static const struct irqchip_ops no_kvm_irqchip = { .name = "test", .set_spi = accept_spi };

/* The disk the snapshot recorded, made again where it was (the virtio-blk state names its path and size). */
static void make_disk(const char *path)
{
	char dir[256];
	FILE *f;

	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = 0;
	mkdir(dir, 0700);
	f = fopen(path, "wb");
	assert_non_null(f);
	for (int i = 0; i < 32; i++)
		fprintf(f, "v1 disk line %02d\n", i);
	assert_int_equal(ftruncate(fileno(f), 1 << 20), 0);
	fclose(f);
}

static void load_stored(const char *name, enum irqchip_type want_type)
{
	char path[512];
	size_t len;
	struct snap_reader r = { .mem_fd = -1 };
	struct snap_cursor c;
	struct vm_config req = { .loglevel = LOG_WARN }, cfg;
	struct board_conf_expect expect;
	static struct board b;
	unsigned int device_sections = 0;

	snprintf(path, sizeof(path), "%s/%s/state", data_dir, name);
	uint8_t *state = read_all(path, &len);
	assert_int_equal(snap_reader_parse(&r, state, len, board_snap_kinds, board_nr_snap_kinds), 0);
	free(state);
	assert_int_equal(r.h.version, 1);
	assert_int_equal(r.h.irqchip_type, want_type);

	/* CONF: snap_gic.bin's run, -c 4 -m 32 -d /tmp/armvmm-v1/disk.img, with the default devices. */
	assert_int_equal(snap_reader_find(&r, SNAP_SEC_CONFIG, 0, &c), 0);
	assert_int_equal(board_conf_load(&c, &req, r.h.nr_vcpus, r.h.mem_gpa, r.h.mem_size, r.h.irqchip_type, &cfg,
					 &expect), 0);
	assert_int_equal(cfg.nr_cpus, 4);
	assert_int_equal(cfg.mem_size, 32u << 20);
	assert_int_equal(cfg.nr_disks, 1);
	assert_string_equal(cfg.disks[0].path, "/tmp/armvmm-v1/disk.img");
	assert_false(cfg.nodefaults);
	assert_int_equal(cfg.console, CONSOLE_SERIAL);

	/* The devices the board builds for it, without KVM, each restored from its own section. */
	make_disk(cfg.disks[0].path);
	assert_int_equal(board_init(&b, &cfg, -1, STDOUT_FILENO), 0);
	assert_int_equal(guest_mem_alloc(&b.vm.mem, BOARD_RAM_BASE, cfg.mem_size), 0);
	b.irqchip.ops = &no_kvm_irqchip;
	assert_int_equal(board_create_devices(&b), 0);
	assert_int_equal(board_conf_check(&b, &expect), 0);
	for (unsigned int i = 0; i < b.devices.count; i++) {
		struct device *d = &b.devices.dev[i];
		if (!d->ops->snap_tag)
			continue;
		assert_int_equal(snap_reader_find(&r, d->ops->snap_tag, d->instance, &c), 0);
		assert_int_equal(d->ops->restore(d, &c), 0);
		device_sections++;
	}
	/* UART, virtio-blk, virtio-rng, PL031: and nothing in the file that no device claimed. */
	assert_int_equal(device_sections, 4);
	assert_int_equal(r.nr_sections, 1 + cfg.nr_cpus + 1 + device_sections);
	board_destroy(&b);
	unlink(cfg.disks[0].path);
	snap_reader_close(&r);
}

/* Taken on a GICv3 host (userspace GICv2, in-kernel GICv3) and on a GICv2 host (userspace and in-kernel GICv2). */
static void test_stored_v1_v3_host_user_gic(void **state)
{
	(void)state;
	load_stored("snapshot-v1-v3-user", IRQCHIP_GICV2_USER);
}

static void test_stored_v1_v3_host_gicv3(void **state)
{
	(void)state;
	load_stored("snapshot-v1-v3-gicv3", IRQCHIP_GICV3_KVM);
}

static void test_stored_v1_v2_host_user_gic(void **state)
{
	(void)state;
	load_stored("snapshot-v1-v2-user", IRQCHIP_GICV2_USER);
}

static void test_stored_v1_v2_host_gicv2(void **state)
{
	(void)state;
	load_stored("snapshot-v1-v2-gicv2", IRQCHIP_GICV2_KVM);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stored_v1_v3_host_user_gic),
		cmocka_unit_test(test_stored_v1_v3_host_gicv3),
		cmocka_unit_test(test_stored_v1_v2_host_user_gic),
		cmocka_unit_test(test_stored_v1_v2_host_gicv2),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: test_stored_snapshot TESTS-DATA-DIR\n");
		return 2;
	}
	data_dir = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
