/*
 * PL031 RTC (ARM PrimeCell Real Time Clock, DDI 0224). The counter is not
 * stored: it is computed from host time on every read, so it keeps counting
 * while the VM is paused or the vCPUs are descheduled, as a wall clock should.
 * Locking: rtc->lock guards st and irq_level; the irqchip is called with it
 * held so the line level never disagrees with RIS & IMSC.
 */
#include "devices/pl031.h"

#include <errno.h>
#include <libfdt.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "devices/device.h"
#include "irqchip/irqchip.h"
#include "core/state.h"
#include "core/eventloop.h"
#include "core/log.h"
#include "core/mmio.h"

#define RTCDR 0x000	/* data: the counter (RO) */
#define RTCMR 0x004	/* match */
#define RTCLR 0x008	/* load: sets the counter */
#define RTCCR 0x00c	/* control: write 1 to start (it cannot be stopped) */
#define RTCIMSC 0x010	/* interrupt mask */
#define RTCRIS 0x014	/* raw interrupt status (RO) */
#define RTCMIS 0x018	/* masked interrupt status (RO) */
#define RTCICR 0x01c	/* interrupt clear (WO) */
#define PL031_ID_BASE 0xfe0	/* PeriphID0..3, PCellID0..3, one byte per word */

/* Part 0x031, designer ARM (0x41), revision 1 (what Linux matches: 0x00041031), then the PrimeCell ID. */
static const uint8_t pl031_id[8] = { 0x31, 0x10, 0x04, 0x00, 0x0d, 0xf0, 0x05, 0xb1 };

static int64_t host_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

/* The counter at host second now: wraps like the 32-bit hardware counter. */
static uint32_t counter_at(const struct pl031 *rtc, int64_t now)
{
	return (uint32_t)(now + rtc->st.offset);
}

static uint32_t counter_locked(const struct pl031 *rtc)
{
	return counter_at(rtc, rtc->now());
}

static void update_irq_locked(struct pl031 *rtc)
{
	bool level = rtc->st.ris & rtc->st.imsc & 1;

	if (level != rtc->irq_level && rtc->irqchip) {
		irqchip_set_spi(rtc->irqchip, rtc->spi, level);
		rtc->irq_level = level;
	}
}

/*
 * Arm the timerfd for the second the counter next equals RTCMR (at most
 * 2^32 - 1 s away), counted from host second now. The caller reads the clock
 * once: two reads could straddle a second and arm the match a second late.
 */
static void arm_timer_locked(struct pl031 *rtc, int64_t now)
{
	struct itimerspec its = { 0 };

	if (rtc->timer_fd < 0)
		return;
	/* Armed whatever the mask: RIS is the raw status and the guest may poll it. */
	uint32_t delta = rtc->st.match - counter_at(rtc, now);
	its.it_value.tv_sec = now + (int64_t)delta;
	if (delta == 0)
		its.it_value.tv_nsec = 1; /* now: an all-zero it_value would disarm the timer */
	timerfd_settime(rtc->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

void pl031_init(struct pl031 *rtc, struct irqchip *ic, unsigned int spi)
{
	memset(rtc, 0, sizeof(*rtc));
	pthread_mutex_init(&rtc->lock, NULL);
	rtc->irqchip = ic;
	rtc->spi = spi;
	rtc->timer_fd = -1;
	rtc->now = host_seconds;
	rtc->st.control = 1; /* running from reset, so a guest that never starts it still reads the time */
}

void pl031_match(struct pl031 *rtc, bool force)
{
	pthread_mutex_lock(&rtc->lock);
	if (force || counter_locked(rtc) == rtc->st.match) {
		rtc->st.ris |= 1;
		update_irq_locked(rtc);
	}
	pthread_mutex_unlock(&rtc->lock);
}

void pl031_mmio_read(void *dev, uint64_t off, uint8_t *data, unsigned int len)
{
	struct pl031 *rtc = dev;
	uint32_t v = 0;

	memset(data, 0, len);
	if (len != 4 || off & 3) {
		pr_debug("pl031: ignored %u-byte read at 0x%llx", len, (unsigned long long)off);
		return;
	}
	pthread_mutex_lock(&rtc->lock);
	switch (off) {
	case RTCDR: v = counter_locked(rtc); break;
	case RTCMR: v = rtc->st.match; break;
	case RTCLR: v = counter_locked(rtc); break;
	case RTCCR: v = rtc->st.control; break;
	case RTCIMSC: v = rtc->st.imsc; break;
	case RTCRIS: v = rtc->st.ris; break;
	case RTCMIS: v = rtc->st.ris & rtc->st.imsc; break;
	default:
		if (off >= PL031_ID_BASE && off < PL031_ID_BASE + 4 * sizeof(pl031_id))
			v = pl031_id[(off - PL031_ID_BASE) / 4];
		break;
	}
	pthread_mutex_unlock(&rtc->lock);
	memcpy(data, &v, 4);
}

void pl031_mmio_write(void *dev, uint64_t off, const uint8_t *data, unsigned int len)
{
	struct pl031 *rtc = dev;
	uint32_t v;

	if (len != 4 || off & 3) {
		pr_debug("pl031: ignored %u-byte write at 0x%llx", len, (unsigned long long)off);
		return;
	}
	memcpy(&v, data, 4);
	pthread_mutex_lock(&rtc->lock);
	switch (off) {
	case RTCMR:
		rtc->st.match = v;
		arm_timer_locked(rtc, rtc->now());
		break;
	case RTCLR: {
		int64_t now = rtc->now();

		/* The counter becomes v now; keep it 32-bit so offset stays meaningful after wraps. */
		rtc->st.offset = (int64_t)v - now;
		arm_timer_locked(rtc, now);
		break;
	}
	case RTCCR:
		rtc->st.control |= v & 1; /* writing 0 does not stop the counter (PL031 TRM) */
		break;
	case RTCIMSC:
		/*
		 * The mask gates the line only. The timer is armed whatever the mask,
		 * so re-arming here would fire a match that already happened again
		 * (and set RIS anew) whenever the counter still equals RTCMR.
		 */
		rtc->st.imsc = v & 1;
		update_irq_locked(rtc);
		break;
	case RTCICR:
		rtc->st.ris &= ~(v & 1);
		update_irq_locked(rtc);
		break;
	default:
		pr_debug("pl031: ignored write of 0x%x to read-only or unknown register 0x%llx", v,
			 (unsigned long long)off);
		break;
	}
	pthread_mutex_unlock(&rtc->lock);
}

static void pl031_timer_cb(void *opaque, int fd, short revents)
{
	struct pl031 *rtc = opaque;
	uint64_t expirations;

	(void)revents;
	if (read(fd, &expirations, sizeof(expirations)) == sizeof(expirations))
		pl031_match(rtc, true); /* armed for the match second: a late wake-up still matched */
}

void pl031_destroy(struct pl031 *rtc)
{
	if (rtc->timer_fd >= 0)
		close(rtc->timer_fd);
	rtc->timer_fd = -1;
	pthread_mutex_destroy(&rtc->lock);
}

/*
 * Snapshot payload: offset (s64 as u64: guest seconds minus host
 * CLOCK_REALTIME seconds), match, control, imsc, ris (u32 each). The offset is
 * against host time, so after a restore the guest's clock shows the wall-clock
 * time that passed while the VM was saved, as a real RTC would.
 */
void pl031_save(struct pl031 *rtc, struct snap_buf *b)
{
	pthread_mutex_lock(&rtc->lock);
	snap_put_u64(b, (uint64_t)rtc->st.offset);
	snap_put_u32(b, rtc->st.match);
	snap_put_u32(b, rtc->st.control);
	snap_put_u32(b, rtc->st.imsc);
	snap_put_u32(b, rtc->st.ris);
	pthread_mutex_unlock(&rtc->lock);
}

/*
 * RTCLR makes offset a 32-bit value minus host seconds, so its magnitude stays
 * far below this; the bound keeps now() + offset from overflowing.
 */
#define PL031_MAX_OFFSET (INT64_C(1) << 40)

static int check_state(const struct pl031_state *st)
{
	const char *bad = NULL;

	if (st->offset > PL031_MAX_OFFSET || st->offset < -PL031_MAX_OFFSET)
		bad = "offset";
	else if (st->control & ~1u)
		bad = "control";
	else if (st->imsc & ~1u)
		bad = "imsc";
	else if (st->ris & ~1u)
		bad = "ris";
	if (bad) {
		pr_err("pl031: snapshot %s is out of range", bad);
		return -EINVAL;
	}
	return 0;
}

int pl031_restore(struct pl031 *rtc, struct snap_cursor *c)
{
	struct pl031_state st;
	int ret;

	st.offset = (int64_t)snap_get_u64(c);
	st.match = snap_get_u32(c);
	st.control = snap_get_u32(c);
	st.imsc = snap_get_u32(c);
	st.ris = snap_get_u32(c);
	ret = snap_cursor_done(c, "RTC");
	if (ret < 0)
		return ret;
	ret = check_state(&st);
	if (ret < 0)
		return ret;

	pthread_mutex_lock(&rtc->lock);
	rtc->st = st;
	/* Drive the line whatever was driven before: the irqchip was restored on its own. */
	rtc->irq_level = !(st.ris & st.imsc & 1);
	update_irq_locked(rtc);
	arm_timer_locked(rtc, rtc->now());
	pthread_mutex_unlock(&rtc->lock);
	return 0;
}

/* The 24 MHz fixed clock that AMBA PrimeCell devices reference as apb_pclk. */
int fdt_apb_pclk_node(void *fdt)
{
	int ret = 0;

	ret |= fdt_begin_node(fdt, "apb-pclk");
	ret |= fdt_property_string(fdt, "compatible", "fixed-clock");
	ret |= fdt_property_cell(fdt, "#clock-cells", 0);
	ret |= fdt_property_cell(fdt, "clock-frequency", 24000000);
	ret |= fdt_property_string(fdt, "clock-output-names", "clk24mhz");
	ret |= fdt_property_cell(fdt, "phandle", PHANDLE_APB_PCLK);
	ret |= fdt_end_node(fdt);
	return ret ? -ENOSPC : 0;
}

int pl031_fdt_node(void *fdt, uint64_t base, unsigned int spi)
{
	static const char compat[] = "arm,pl031\0arm,primecell";
	int ret = fdt_begin_mmio_device(fdt, "rtc", compat, sizeof(compat), base, PL031_SIZE, spi,
					IRQ_TYPE_LEVEL_HIGH);

	ret |= fdt_property_cell(fdt, "clocks", PHANDLE_APB_PCLK);
	ret |= fdt_property_string(fdt, "clock-names", "apb_pclk");
	ret |= fdt_end_node(fdt);
	return ret ? -ENOSPC : 0;
}

/* --- the VM's RTC ------------------------------------------------------------------ */

static int pl031_dev_fdt_node(const struct device *d, void *fdt)
{
	struct pl031 *rtc = d->priv;
	int ret = fdt_apb_pclk_node(fdt);

	return ret ? ret : pl031_fdt_node(fdt, rtc->base, rtc->spi);
}

static void pl031_dev_save(struct device *d, struct snap_buf *b)
{
	pl031_save(d->priv, b);
}

static int pl031_dev_restore(struct device *d, struct snap_cursor *c)
{
	return pl031_restore(d->priv, c);
}

static void pl031_dev_destroy(struct device *d)
{
	pl031_destroy(d->priv);
	free(d->priv);
}

static const struct device_ops pl031_device_ops = {
	.name = "pl031",
	.snap_tag = PL031_SNAP_TAG,
	.fdt_node = pl031_dev_fdt_node,
	.save = pl031_dev_save,
	.restore = pl031_dev_restore,
	.destroy = pl031_dev_destroy,
};

int pl031_create(struct device_ctx *ctx, uint64_t base, unsigned int spi)
{
	struct pl031 *rtc = malloc(sizeof(*rtc));
	struct mmio_region r = {
		.base = base, .size = PL031_SIZE, .name = "pl031", .dev = rtc,
		.read = pl031_mmio_read, .write = pl031_mmio_write,
	};
	int ret;

	if (!rtc) {
		pr_err("pl031: out of memory");
		return -ENOMEM;
	}
	pl031_init(rtc, ctx->irqchip, spi);
	rtc->base = base;
	if (!device_register(ctx->devices, &pl031_device_ops, rtc)) {
		pl031_destroy(rtc);
		free(rtc);
		return -ENOSPC;
	}
	/* From here on the device list owns rtc. */
	rtc->timer_fd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
	if (rtc->timer_fd < 0) {
		ret = -errno;
		pr_err("pl031: cannot create a timerfd: %s", strerror(-ret));
		return ret;
	}
	ret = eventloop_add(ctx->loop, rtc->timer_fd, POLLIN, pl031_timer_cb, rtc);
	if (ret < 0) {
		pr_err("pl031: no room in the event loop");
		return ret;
	}
	ret = mmio_bus_add(ctx->bus, &r);
	if (ret < 0)
		return ret;
	pr_info("pl031 RTC at 0x%llx, SPI %u", (unsigned long long)base, spi);
	return 0;
}
