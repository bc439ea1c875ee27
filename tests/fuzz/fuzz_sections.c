/*
 * libFuzzer target: every snapshot section loader, fed a hostile payload. The
 * input is
 *
 *   byte 0       which loader (modulo the list below)
 *   byte 1       its parameter: the vCPU index, or the GIC's vCPU count
 *   bytes 2-3    L, the payload's length (u16; clipped to what is there)
 *   L bytes      the section payload
 *   the rest     guest RAM's contents (for the virtio devices' rings)
 *
 * Loaders: a vCPU's payload (vcpu_state_check_payload: everything phase 1
 * parses before touching KVM), the in-kernel GICv2 and GICv3 payloads (their
 * restore with no vGIC device: the parse runs, then the first KVM call fails),
 * the userspace GICv2 model's, the board's CONF section, and every device's
 * restore through its device_ops, on devices made by their own create
 * functions: the UART, the PL031 RTC, and the virtio-mmio transport with
 * virtio-blk, the virtio console and virtio-rng behind it. A device whose
 * restore succeeded then catches up as after a real restore (queue
 * notifications on the fuzzed rings) and is read back. The checks are what
 * the loaders promise: all or nothing (a refused payload changes nothing), and
 * state that passes their own validation afterwards; any stray access is ASan's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "board/board.h"
#include "core/eventloop.h"
#include "core/log.h"
#include "core/mmio.h"
#include "core/state.h"
#include "devices/device.h"
#include "devices/pl031.h"
#include "devices/uart_8250.h"
#include "devices/virtio_blk.h"
#include "devices/virtio_console.h"
#include "devices/virtio_mmio.h"
#include "devices/virtio_rng.h"
#include "irqchip/irqchip.h"
#include "snapshot/vcpu_state.h"

#define FUZZ_RAM 65536u


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);


/* --- the machine the loaders restore into -------------------------------------------------- */

static uint8_t *ram;
static struct guest_mem mem;
static struct mmio_bus bus;
static struct eventloop loop;
static struct device_list devs;
static struct irqchip gic_user, gic_v2, gic_v3;
static uint64_t mpidrs[GICV2_MAX_CPUS * 2];
static struct device *dev_uart, *dev_rtc, *dev_blk, *dev_con, *dev_rng;
static char disk_path[] = "/tmp/armvmm-fuzz-sections-XXXXXX";

static void user_line(void *opaque, unsigned int cpu, bool level)
{
	(void)opaque;
	(void)cpu;
	(void)level;
}

/* The newest device on the list (what a create function just registered). */
static struct device *last_device(void)
{
	CHECK(devs.count > 0);
	return &devs.dev[devs.count - 1];
}

static void machine_init(void)
{
	struct device_ctx ctx = { .mem = &mem, .bus = &bus, .loop = &loop, .irqchip = &gic_user, .vm_fd = -1,
				  .devices = &devs, .console = NULL };
	struct disk_config disk = { .path = disk_path, .io = DISK_IO_THREAD };
	int fd = mkstemp(disk_path);

	CHECK(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
	close(fd);
	ram = calloc(1, FUZZ_RAM);
	mem = (struct guest_mem){ .host = ram, .gpa = BOARD_RAM_BASE, .size = FUZZ_RAM };
	for (unsigned int i = 0; i < sizeof(mpidrs) / sizeof(mpidrs[0]); i++)
		mpidrs[i] = i;
	/* The userspace GIC's model, with no KVM behind it (devices' SPIs go into it). */
	irqchip_layout(&gic_user, IRQCHIP_GICV2_USER, &(struct irqchip_params){ .nr_cpus = 4, .dist_base = BOARD_GIC_DIST_BASE });
	gic_user.vm_fd = gic_user.dev_fd = -1;
	gic_user.model = calloc(1, sizeof(*gic_user.model));
	gicv2_model_init(gic_user.model, 4, IRQCHIP_NR_IRQS, user_line, &gic_user);

	CHECK(uart_8250_create(&ctx, BOARD_UART_BASE, BOARD_UART_SPI, -1) == 0);
	dev_uart = last_device();
	CHECK(virtio_blk_create(&ctx, BOARD_VIRTIO_WINDOW, BOARD_VIRTIO_FIRST_SPI, &disk) == 0);
	dev_blk = last_device();
	CHECK(virtio_console_create(&ctx, BOARD_VIRTIO_WINDOW + VIRTIO_MMIO_SIZE, BOARD_VIRTIO_FIRST_SPI + 1, -1) == 0);
	dev_con = last_device();
	CHECK(virtio_rng_create(&ctx, BOARD_VIRTIO_WINDOW + 2 * VIRTIO_MMIO_SIZE, BOARD_VIRTIO_FIRST_SPI + 2) == 0);
	dev_rng = last_device();
	CHECK(pl031_create(&ctx, BOARD_RTC_BASE, BOARD_RTC_SPI) == 0);
	dev_rtc = last_device();
	unlink(disk_path);
}

/* Every byte of a device's register window, read as a driver could. */
static void read_window(uint64_t base, uint64_t size)
{
	uint8_t d[8];

	for (uint64_t off = 0; off < size; off += 4)
		mmio_bus_access(&bus, base + off, d, 4, false);
}

/* --- the loaders ---------------------------------------------------------------------------- */

static void load_device(struct device *d, struct snap_cursor *c, uint64_t base, uint64_t window)
{
	struct snap_buf before = { 0 }, after = { 0 };
	int ret;

	d->ops->save(d, &before);
	ret = d->ops->restore(d, c);
	d->ops->save(d, &after);
	if (ret < 0) {
		/* All or nothing: a refused payload left the device as it was. */
		CHECK(before.len == after.len && memcmp(before.data, after.data, before.len) == 0);
	} else {
		/* What was loaded is something the device could have saved: it loads again. */
		struct snap_cursor again = { .p = after.data, .len = after.len };
		CHECK(d->ops->restore(d, &again) == 0);
		if (d->ops->restored)
			d->ops->restored(d);
		if (d == dev_blk)
			virtio_blk_drain(((struct virtio_mmio *)d->priv)->dev);
		read_window(base, window);
	}
	snap_buf_free(&before);
	snap_buf_free(&after);
}

static void load_gic(struct irqchip *ic, enum irqchip_type type, unsigned int nr_cpus, struct snap_cursor *c)
{
	irqchip_layout(ic, type,
		       &(struct irqchip_params){ .nr_cpus = nr_cpus, .dist_base = BOARD_GIC_DIST_BASE, .its_base = BOARD_GIC_ITS_BASE(nr_cpus) });
	ic->vm_fd = ic->dev_fd = -1;	/* no vGIC: the payload is parsed, then the first KVM call fails */
	ic->mpidrs = mpidrs;
	CHECK(ic->ops->restore(ic, c) < 0);
}

static void load_conf(uint8_t param, struct snap_cursor *c)
{
	static const uint32_t types[] = { IRQCHIP_GICV2_KVM, IRQCHIP_GICV3_KVM, IRQCHIP_GICV2_LEGACY, IRQCHIP_GICV2_USER, 9 };
	struct vm_config req = { .loglevel = LOG_ERROR }, cfg;
	struct board_conf_expect expect;

	if (board_conf_load(c, &req, 1 + (param & 15), BOARD_RAM_BASE, (uint64_t)(1 + (param >> 4)) << 20,
			    types[param % 5], &cfg, &expect) == 0) {
		CHECK(cfg.nr_disks <= VM_MAX_DISKS && expect.nr_virtio <= BOARD_MAX_VIRTIO);
		for (unsigned int i = 0; i < cfg.nr_disks; i++)
			CHECK(cfg.disks[i].path && strlen(cfg.disks[i].path) < PATH_MAX);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint16_t len;

	if (size < 4)
		return 0;
	uint8_t which = data[0] % 10, param = data[1];
	memcpy(&len, data + 2, 2);
	data += 4;
	size -= 4;
	if (len > size)
		len = (uint16_t)size;
	/* Exactly the payload, on the heap: a read past it is ASan's. */
	uint8_t *payload = malloc(len ? len : 1);
	memcpy(payload, data, len);
	struct snap_cursor c = { .p = payload, .len = len };
	memset(ram, 0, FUZZ_RAM);
	memcpy(ram, data + len, size - len < FUZZ_RAM ? size - len : FUZZ_RAM);

	switch (which) {
	case 0: vcpu_state_check_payload(param % 8, &c); break;
	case 1: load_gic(&gic_v2, IRQCHIP_GICV2_KVM, 1 + param % GICV2_MAX_CPUS, &c); break;
	case 2: load_gic(&gic_v3, IRQCHIP_GICV3_KVM, 1 + param % 16, &c); break;
	case 3: {
		/* The userspace model: a refused payload leaves its state as it was. */
		struct gicv2_state *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
		gicv2_model_get_state(gic_user.model, a);
		if (gic_user.ops->restore(&gic_user, &c) < 0) {
			gicv2_model_get_state(gic_user.model, b);
			CHECK(memcmp(a, b, sizeof(*a)) == 0);
		} else {
			read_window(gic_user.dist_base, 0x1000);
			read_window(gic_user.cpu_base, 0x1000);
		}
		free(a);
		free(b);
		break;
	}
	case 4: load_conf(param, &c); break;
	case 5: load_device(dev_uart, &c, BOARD_UART_BASE, UART_8250_SIZE); break;
	case 6: load_device(dev_rtc, &c, BOARD_RTC_BASE, 0x1000); break;
	case 7: load_device(dev_blk, &c, BOARD_VIRTIO_WINDOW, VIRTIO_MMIO_SIZE); break;
	case 8: load_device(dev_con, &c, BOARD_VIRTIO_WINDOW + VIRTIO_MMIO_SIZE, VIRTIO_MMIO_SIZE); break;
	case 9: load_device(dev_rng, &c, BOARD_VIRTIO_WINDOW + 2 * VIRTIO_MMIO_SIZE, VIRTIO_MMIO_SIZE); break;
	}
	free(payload);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_threshold = LOG_ERROR;
	/*
	 * Refusals print one error line each, by the million: point glibc's stderr
	 * (so log.c) at /dev/null, as fuzz_snapfile does. libFuzzer, the
	 * sanitizers and CHECK keep writing to fd 2.
	 */
	if (!getenv("FUZZ_SECTIONS_LOG")) {
		FILE *null = fopen("/dev/null", "w");
		if (null)
			stderr = null;
	}
	machine_init();
	return 0;
}
