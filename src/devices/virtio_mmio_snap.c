/*
 * virtio-mmio snapshots: the transport's state (status, features, selectors,
 * interrupt status, config generation, every queue) and the device's own
 * part, saved and restored with every value checked (virtio_mmio.h).
 */
#include <errno.h>
#include <stdio.h>

#include "core/log.h"
#include "core/state.h"
#include "devices/virtio_mmio.h"
#include "devices/virtio_mmio_internal.h"

/*
 * Payload: device_id (u32); status, device_features_sel, driver_features_sel
 * (u32), driver_features (u64), queue_sel, interrupt_status,
 * config_generation (u32); then VIRTIO_MAX_QUEUES queues, each num (u16),
 * ready (u8 0/1), desc, avail, used (u64 guest-physical), last_avail_idx,
 * used_idx (u16); then has_device_state (u8 0/1) and the device's own
 * payload (ops->save) when it is 1.
 */
static void put_queue(struct snap_buf *b, const struct virtq *q)
{
	snap_put_u16(b, q->num);
	snap_put_u8(b, q->ready);
	snap_put_u64(b, q->desc_gpa);
	snap_put_u64(b, q->avail_gpa);
	snap_put_u64(b, q->used_gpa);
	snap_put_u16(b, q->last_avail_idx);
	snap_put_u16(b, q->used_idx);
}

void virtio_mmio_save(struct virtio_mmio *t, struct snap_buf *b)
{
	const struct virtio_mmio_state *st = &t->st;

	pthread_mutex_lock(&t->lock);
	snap_put_u32(b, t->ops->device_id);
	snap_put_u32(b, st->status);
	snap_put_u32(b, st->device_features_sel);
	snap_put_u32(b, st->driver_features_sel);
	snap_put_u64(b, st->driver_features);
	snap_put_u32(b, st->queue_sel);
	snap_put_u32(b, st->interrupt_status);
	snap_put_u32(b, st->config_generation);
	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++)
		put_queue(b, &st->queues[i]);
	pthread_mutex_unlock(&t->lock);
	/* Outside the transport lock: devices take their own lock first (see virtio_blk.c). */
	snap_put_u8(b, t->ops->save != NULL);
	if (t->ops->save)
		t->ops->save(t, b);
}

static void get_queue(struct snap_cursor *c, struct virtq *q)
{
	q->num = snap_get_u16(c);
	q->ready = snap_get_bool(c);
	q->desc_gpa = snap_get_u64(c);
	q->avail_gpa = snap_get_u64(c);
	q->used_gpa = snap_get_u64(c);
	q->last_avail_idx = snap_get_u16(c);
	q->used_idx = snap_get_u16(c);
}

static bool queue_is_blank(const struct virtq *q)
{
	return !q->num && !q->ready && !q->desc_gpa && !q->avail_gpa && !q->used_gpa && !q->last_avail_idx &&
	       !q->used_idx;
}

/*
 * A queue as the transport could have left it: at most QueueNumMax entries
 * (a size that is no power of two is refused only when the driver sets
 * QueueReady, so an unready queue may hold one), ring areas checked when
 * ready, and queues the device does not have never touched.
 */
static int check_queue(const struct virtio_mmio *t, unsigned int i, const struct virtq *q, const char *what)
{
	int layout = q->ready ? virtq_check_layout(q, t->mem) : 0;
	const char *why = NULL;

	if (i >= t->ops->num_queues)
		why = queue_is_blank(q) ? NULL : "is set up, but the device has fewer queues";
	else if (q->num > VIRTQ_MAX_SIZE)
		why = "is larger than QueueNumMax";
	else if (layout == -EFAULT)
		why = "is ready with rings outside guest RAM";
	else if (layout < 0)
		why = "is ready with a size that is no power of two or misaligned rings";
	if (!why)
		return 0;
	pr_err("%s: snapshot queue %u (num %u, desc 0x%llx, avail 0x%llx, used 0x%llx) %s", what, i, q->num,
	       (unsigned long long)q->desc_gpa, (unsigned long long)q->avail_gpa, (unsigned long long)q->used_gpa,
	       why);
	return -EINVAL;
}

#define STATUS_KNOWN 0xffu	/* the transport keeps every bit the driver writes to the low byte */

/* The transport invariants wr_status, wr_interrupt_ack and raise_interrupt_locked keep. */
static int check_transport(const struct virtio_mmio *t, const struct virtio_mmio_state *st, const char *what)
{
	uint64_t f = st->driver_features;

	if (st->status & ~STATUS_KNOWN) {
		pr_err("%s: snapshot status 0x%x has bits above the low byte", what, st->status);
		return -EINVAL;
	}
	if ((st->status & VIRTIO_STATUS_FEATURES_OK) && ((f & ~virtio_mmio_device_features(t)) || !(f & VIRTIO_F_VERSION_1))) {
		pr_err("%s: snapshot driver_features 0x%llx are not what this device offers (0x%llx)", what,
		       (unsigned long long)f, (unsigned long long)virtio_mmio_device_features(t));
		return -EINVAL;
	}
	if (st->interrupt_status & ~(VIRTIO_INT_USED | VIRTIO_INT_CONFIG)) {
		pr_err("%s: snapshot interrupt_status 0x%x has unknown bits", what, st->interrupt_status);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++)
		if (check_queue(t, i, &st->queues[i], what) < 0)
			return -EINVAL;
	return 0;
}

/* Signal the guest as the transport does at runtime (one edge) if an interrupt is still unacknowledged. */
static void drive_irq_locked(struct virtio_mmio *t)
{
	if (t->st.interrupt_status)
		virtio_mmio_signal_irq(t);
}

int virtio_mmio_restore(struct virtio_mmio *t, struct snap_cursor *c)
{
	struct virtio_mmio_state st = { 0 };
	uint32_t device_id;
	bool has_device_state;
	char what[64];
	int ret;

	snprintf(what, sizeof(what), "%s at 0x%llx", t->ops->name, (unsigned long long)t->base);
	device_id = snap_get_u32(c);
	st.status = snap_get_u32(c);
	st.device_features_sel = snap_get_u32(c);
	st.driver_features_sel = snap_get_u32(c);
	st.driver_features = snap_get_u64(c);
	st.queue_sel = snap_get_u32(c);
	st.interrupt_status = snap_get_u32(c);
	st.config_generation = snap_get_u32(c);
	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++)
		get_queue(c, &st.queues[i]);
	has_device_state = snap_get_bool(c);
	if (c->err)
		return snap_cursor_done(c, what);	/* says the payload is short or malformed */
	if (device_id != t->ops->device_id) {
		pr_err("%s: the snapshot holds virtio device id %u here, this device is id %u", what, device_id,
		       t->ops->device_id);
		return -EINVAL;
	}
	ret = check_transport(t, &st, what);
	if (ret < 0)
		return ret;
	if (has_device_state != (t->ops->restore != NULL)) {
		pr_err("%s: the snapshot %s device state, this device %s", what,
		       has_device_state ? "has" : "has no", t->ops->restore ? "needs it" : "has none");
		return -EINVAL;
	}
	/* The device part is the rest of the payload: its restore checks it all, then commits. */
	ret = has_device_state ? t->ops->restore(t, c) : snap_cursor_done(c, what);
	if (ret < 0)
		return ret;

	pthread_mutex_lock(&t->lock);
	t->st = st;
	drive_irq_locked(t);
	pthread_mutex_unlock(&t->lock);
	return 0;
}

