/*
 * virtio-blk. A request chain is: a 16-byte header and (OUT, DISCARD,
 * WRITE_ZEROES) a payload in the device-readable part, then (IN, GET_ID) data
 * and always a status byte, the last byte of the device-writable part. Any
 * framing is allowed (VIRTIO_F_VERSION_1 implies ANY_LAYOUT), so the parser
 * works on byte offsets across the iovecs, never on descriptor boundaries.
 *
 * Threads: kicks run on a vCPU or the main thread, completions on the main
 * thread; b->lock serialises both and every call into the backend. Lock
 * order: b->lock, then the transport's lock (taken by pop/push).
 */
#include "devices/virtio_blk.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <linux/fs.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/state.h"
#include "core/log.h"
#include "core/eventloop.h"
#include "devices/device.h"

#define QUEUE 0u
#define REAP_BATCH 32u

/* --- request parsing (pure: reads the chain, writes only r) --------------------- */

/* Copy the iovecs covering bytes [skip, skip + len) of src into dst, leaving out empty ones. */
static unsigned int iov_slice(const struct iovec *src, unsigned int n, uint64_t skip, uint64_t len,
			      struct iovec *dst)
{
	unsigned int k = 0;

	for (unsigned int i = 0; i < n && len; i++) {
		uint64_t l = src[i].iov_len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		uint64_t take = l - skip < len ? l - skip : len;
		dst[k++] = (struct iovec){ .iov_base = (uint8_t *)src[i].iov_base + skip, .iov_len = take };
		len -= take;
		skip = 0;
	}
	return k;
}

/* The last byte of the last non-empty writable buffer, or NULL. */
static uint8_t *status_byte(const struct iovec *in, unsigned int n_in)
{
	for (unsigned int i = n_in; i-- > 0;)
		if (in[i].iov_len)
			return (uint8_t *)in[i].iov_base + in[i].iov_len - 1;
	return NULL;
}

/* Is [sector, sector + nsec) inside the disk? (no overflow: capacity fits in 55 bits) */
static bool in_range(const struct virtio_blk_state *st, uint64_t sector, uint64_t nsec)
{
	return sector <= st->capacity && nsec <= st->capacity - sector;
}

/* IN / OUT: data is len bytes of iov starting skip bytes in. */
static uint8_t parse_rw(const struct virtio_blk_state *st, struct virtio_blk_request *r, enum blk_io_op op,
			const struct iovec *iov, unsigned int n, uint64_t skip, uint64_t len)
{
	if (len % VIRTIO_BLK_SECTOR_SIZE || len > VIRTIO_BLK_MAX_DATA)
		return VIRTIO_BLK_S_IOERR;
	if (!in_range(st, r->sector, len / VIRTIO_BLK_SECTOR_SIZE))
		return VIRTIO_BLK_S_IOERR;
	r->op = op;
	r->offset = r->sector * VIRTIO_BLK_SECTOR_SIZE;
	r->len = len;
	r->written = op == BLK_IO_READ ? (uint32_t)len + 1 : 1;
	r->iovcnt = iov_slice(iov, n, skip, len, r->iov);
	r->io = len > 0;
	return VIRTIO_BLK_S_OK;
}

/* DISCARD / WRITE_ZEROES: one 16-byte segment after the header (max_*_seg is 1). */
static uint8_t parse_dwz(const struct virtio_blk_state *st, uint64_t features, const struct virtq_chain *c,
			 struct virtio_blk_request *r)
{
	bool discard = r->type == VIRTIO_BLK_T_DISCARD;
	uint64_t payload = c->out_bytes - VIRTIO_BLK_HDR_SIZE;
	uint8_t seg[VIRTIO_BLK_DWZ_SEG_SIZE];
	uint64_t sector;
	uint32_t num, flags;

	if (st->read_only)
		return VIRTIO_BLK_S_IOERR;
	if (!(features & (discard ? VIRTIO_BLK_F_DISCARD : VIRTIO_BLK_F_WRITE_ZEROES)))
		return VIRTIO_BLK_S_UNSUPP;
	if (payload == 0 || payload % VIRTIO_BLK_DWZ_SEG_SIZE)
		return VIRTIO_BLK_S_IOERR;
	if (payload > VIRTIO_BLK_DWZ_SEG_SIZE)
		return VIRTIO_BLK_S_UNSUPP; /* more segments than max_discard_seg / max_write_zeroes_seg */
	iov_to_buf(c->iov, c->n_out, VIRTIO_BLK_HDR_SIZE, seg, sizeof(seg));
	memcpy(&sector, seg, 8);
	memcpy(&num, seg + 8, 4);
	memcpy(&flags, seg + 12, 4);
	sector = le64toh(sector);
	num = le32toh(num);
	flags = le32toh(flags);
	/* 5.2.6.2: unknown flags, and unmap on a discard, are UNSUPP. */
	if ((flags & ~VIRTIO_BLK_DWZ_F_UNMAP) || (discard && (flags & VIRTIO_BLK_DWZ_F_UNMAP)))
		return VIRTIO_BLK_S_UNSUPP;
	if (num > (discard ? st->max_discard_sectors : st->max_write_zeroes_sectors) || !in_range(st, sector, num))
		return VIRTIO_BLK_S_IOERR;
	r->sector = sector;
	r->op = BLK_IO_FALLOCATE;
	r->offset = sector * VIRTIO_BLK_SECTOR_SIZE;
	r->len = (uint64_t)num * VIRTIO_BLK_SECTOR_SIZE;
	/* Punching reads back as zeroes too: used for unmap, or when the host cannot zero a range. */
	if (discard || (st->can_punch && ((flags & VIRTIO_BLK_DWZ_F_UNMAP) || !st->can_zero_range)))
		r->mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	else
		r->mode = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	r->io = num > 0;
	return VIRTIO_BLK_S_OK;
}

uint8_t virtio_blk_parse(const struct virtio_blk_state *st, uint64_t features, const struct virtq_chain *c,
			 struct virtio_blk_request *r)
{
	const struct iovec *in = c->iov + c->n_out;
	uint8_t hdr[VIRTIO_BLK_HDR_SIZE];
	uint32_t type;
	uint64_t sector, in_data;

	memset(r, 0, offsetof(struct virtio_blk_request, iov));
	r->written = 1;
	r->status = status_byte(in, c->n_in);
	if (!r->status || c->out_bytes < VIRTIO_BLK_HDR_SIZE)
		return VIRTIO_BLK_S_IOERR;
	/* One copy: the guest may rewrite the header while we look at it. */
	iov_to_buf(c->iov, c->n_out, 0, hdr, sizeof(hdr));
	memcpy(&type, hdr, 4);
	memcpy(&sector, hdr + 8, 8);
	r->type = le32toh(type);
	r->sector = le64toh(sector);
	in_data = c->in_bytes - 1; /* writable bytes before the status byte */

	switch (r->type) {
	case VIRTIO_BLK_T_IN:
		return parse_rw(st, r, BLK_IO_READ, in, c->n_in, 0, in_data);
	case VIRTIO_BLK_T_OUT:
		if (st->read_only)
			return VIRTIO_BLK_S_IOERR; /* and nothing is written */
		return parse_rw(st, r, BLK_IO_WRITE, c->iov, c->n_out, VIRTIO_BLK_HDR_SIZE,
				c->out_bytes - VIRTIO_BLK_HDR_SIZE);
	case VIRTIO_BLK_T_FLUSH:
		/* Nothing can be dirty on a read-only disk. */
		r->op = BLK_IO_FLUSH;
		r->io = !st->read_only;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID:
		if (in_data < VIRTIO_BLK_ID_BYTES)
			return VIRTIO_BLK_S_IOERR;
		r->iovcnt = iov_slice(in, c->n_in, 0, VIRTIO_BLK_ID_BYTES, r->iov);
		r->written = VIRTIO_BLK_ID_BYTES + 1;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return parse_dwz(st, features, c, r);
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

/* --- the queue ----------------------------------------------------------------- */

static void slot_free(struct virtio_blk *b, struct virtio_blk_slot *s)
{
	s->next_free = b->free_slots;
	b->free_slots = s;
}

/* Answer a request: status byte, then the used entry (the caller kicks the interrupt). */
static void answer(struct virtio_blk *b, const struct virtio_blk_request *r, uint16_t head, uint8_t status)
{
	uint32_t len = 0;

	if (r->status) {
		*r->status = status;
		len = status == VIRTIO_BLK_S_OK ? r->written : 1;
	}
	virtio_mmio_push_quiet(b->t, QUEUE, head, len);
}

/* Lock held. Pop and start chains until the ring is empty or every slot is busy. */
static void process_queue_locked(struct virtio_blk *b)
{
	uint64_t features = virtio_mmio_features(b->t);
	unsigned int submitted = 0, answered = 0;

	for (;;) {
		struct virtio_blk_slot *s = b->free_slots;
		uint8_t status;
		int ret;

		if (!s) {
			b->stalled = true; /* the next completion comes back here */
			break;
		}
		ret = virtio_mmio_pop(b->t, QUEUE, &b->chain);
		if (ret <= 0)
			break; /* empty, or a bad ring: the transport has set NEEDS_RESET */
		status = virtio_blk_parse(&b->st, features, &b->chain, &s->r);
		if (status == VIRTIO_BLK_S_OK && s->r.io) {
			s->head = b->chain.head;
			s->io = (struct blk_io_req){
				.op = s->r.op, .iov = s->r.iov, .iovcnt = s->r.iovcnt, .offset = s->r.offset,
				.len = s->r.len, .mode = s->r.mode, .cookie = s,
			};
			ret = blk_io_submit(b->io, &s->io);
			if (ret == 0) {
				b->free_slots = s->next_free;
				b->in_flight++;
				submitted++;
				continue;
			}
			pr_warn_ratelimited("%s: cannot queue a request: %s", b->st.path, strerror(-ret));
			status = VIRTIO_BLK_S_IOERR;
		} else if (status == VIRTIO_BLK_S_OK && s->r.type == VIRTIO_BLK_T_GET_ID) {
			iov_from_buf(s->r.iov, s->r.iovcnt, 0, b->st.serial, VIRTIO_BLK_ID_BYTES);
		} else if (status != VIRTIO_BLK_S_OK) {
			pr_debug("%s: request type %u sector %llu refused with status %u", b->st.path, s->r.type,
				 (unsigned long long)s->r.sector, status);
		}
		answer(b, &s->r, b->chain.head, status);
		answered++;
	}
	if (submitted) {
		int ret = blk_io_commit(b->io);
		if (ret < 0)
			pr_warn_ratelimited("%s: starting I/O failed (%s); it is retried", b->st.path,
				strerror(-ret));
	}
	if (answered)
		virtio_mmio_kick_used(b->t, QUEUE);
}

/*
 * Lock held. The host file system has no FALLOC_FL_ZERO_RANGE after all:
 * punch the hole instead (it reads back as zeroes too) from now on, and send
 * this write-zeroes again. True when it is on its way.
 */
static bool zero_range_fallback(struct virtio_blk *b, struct virtio_blk_slot *s)
{
	if (s->io.op != BLK_IO_FALLOCATE || !(s->io.mode & FALLOC_FL_ZERO_RANGE) || !b->st.can_punch)
		return false;
	if (b->st.can_zero_range)
		pr_debug("%s: no FALLOC_FL_ZERO_RANGE on this file system: write-zeroes punches holes",
			 b->st.path);
	b->st.can_zero_range = false;
	s->r.mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	s->io = (struct blk_io_req){ .op = BLK_IO_FALLOCATE, .offset = s->r.offset, .len = s->r.len,
				     .mode = s->r.mode, .cookie = s };
	if (blk_io_submit(b->io, &s->io) < 0)
		return false;
	/* Queued either way: should the commit fail, the next commit or wait sends it. */
	(void)blk_io_commit(b->io);
	return true;
}

/*
 * Lock held. Take finished requests from the backend: answer them (deliver)
 * or forget them (a reset). Returns how many were taken.
 */
static unsigned int reap_locked(struct virtio_blk *b, bool deliver)
{
	struct blk_io_completion c[REAP_BATCH];
	unsigned int n, total = 0;

	while ((n = blk_io_reap(b->io, c, REAP_BATCH)) > 0) {
		for (unsigned int i = 0; i < n; i++) {
			struct virtio_blk_slot *s = c[i].cookie;
			uint8_t status = VIRTIO_BLK_S_OK;

			if (deliver && c[i].result == -EOPNOTSUPP && zero_range_fallback(b, s))
				continue; /* sent again as a hole punch: still in flight */
			if (c[i].result < 0) {
				status = VIRTIO_BLK_S_IOERR;
				/* Host trouble, not the guest's doing: say it once, loudly. */
				if (!b->io_error_logged)
					pr_warn("%s: I/O error at byte %llu: %s", b->st.path,
						(unsigned long long)s->r.offset, strerror(-c[i].result));
				else
					pr_debug("%s: I/O error at byte %llu: %s", b->st.path,
						 (unsigned long long)s->r.offset, strerror(-c[i].result));
				b->io_error_logged = true;
			}
			if (deliver)
				answer(b, &s->r, s->head, status);
			slot_free(b, s);
			b->in_flight--;
		}
		total += n;
	}
	if (deliver && total)
		virtio_mmio_kick_used(b->t, QUEUE);
	return total;
}

/* Lock held. Block until nothing is in flight. */
static void wait_idle_locked(struct virtio_blk *b, bool deliver)
{
	while (b->in_flight) {
		if (reap_locked(b, deliver))
			continue;
		int ret = blk_io_wait(b->io);
		if (ret < 0) {
			pr_err("%s: waiting for I/O failed: %s", b->st.path, strerror(-ret));
			return;
		}
	}
}

void virtio_blk_complete(struct virtio_blk *b)
{
	pthread_mutex_lock(&b->lock);
	blk_io_clear_event(b->io);
	reap_locked(b, true);
	if (b->stalled && b->free_slots) {
		b->stalled = false;
		process_queue_locked(b);
	}
	pthread_mutex_unlock(&b->lock);
}

void virtio_blk_kick(struct virtio_blk *b)
{
	pthread_mutex_lock(&b->lock);
	b->stalled = false;
	process_queue_locked(b);
	pthread_mutex_unlock(&b->lock);
}

void virtio_blk_drain(struct virtio_blk *b)
{
	pthread_mutex_lock(&b->lock);
	wait_idle_locked(b, true);
	pthread_mutex_unlock(&b->lock);
}

/* --- transport callbacks --------------------------------------------------------- */

static void blk_config_read(struct virtio_mmio *t, uint32_t off, uint8_t *data, unsigned int len)
{
	const struct virtio_blk *b = t->dev;

	memcpy(data, b->config + off, len); /* the transport checked off + len <= config_size */
}

static void blk_queue_notify(struct virtio_mmio *t, unsigned int q)
{
	if (q == QUEUE)
		virtio_blk_kick(t->dev);
}

static void blk_reset(struct virtio_mmio *t)
{
	struct virtio_blk *b = t->dev;

	/* The rings are about to be forgotten: let the I/O finish, answer nothing. */
	pthread_mutex_lock(&b->lock);
	wait_idle_locked(b, false);
	b->stalled = false;
	pthread_mutex_unlock(&b->lock);
}

/* --- snapshots and migration ----------------------------------------------------------- */

static void blk_quiesce(struct virtio_mmio *t)
{
	virtio_blk_drain(t->dev);
}

/* Nothing is in flight (quiesced): what the guest wrote reaches the disk before its state is saved. */
static int blk_sync(struct virtio_mmio *t)
{
	struct virtio_blk *b = t->dev;

	if (b->st.read_only || fdatasync(b->fd) == 0)
		return 0;
	int err = errno;
	pr_err("cannot flush disk '%s' (fdatasync): %s", b->st.path, strerror(err));
	return -err;
}

/*
 * Payload (format version 2): the disk's identity as disk.h records it
 * (canonical path, device, inode, size, mtime; taken now, after blk_sync),
 * read_only (u8 0/1), capacity (u64, sectors), offered features (u64), the
 * GET_ID serial (20 bytes). Nothing is in flight after blk_quiesce; the disk's
 * contents are the file's own business: the identity lets a restore tell
 * the guest will find the same disk, as it left it.
 * Version 1 had: path (string), read_only, capacity, features.
 */
int virtio_blk_identity(const struct virtio_blk *b, struct disk_identity *id)
{
	int ret = disk_identity_of(b->fd, b->st.path, id);

	if (ret < 0)
		pr_err("cannot stat disk '%s' to record it: %s", b->st.path, strerror(-ret));
	return ret;
}

static void blk_save(struct virtio_mmio *t, struct snap_buf *b)
{
	const struct virtio_blk *blk = t->dev;
	struct disk_identity id;

	if (virtio_blk_identity(blk, &id) < 0) {
		b->err = true;
		return;
	}
	disk_identity_put(b, &id);
	snap_put_u8(b, blk->st.read_only);
	snap_put_u64(b, blk->st.capacity);
	snap_put_u64(b, blk->st.features);
	snap_put_bytes(b, blk->st.serial, VIRTIO_BLK_ID_BYTES);
}

/* The device was re-created from the saved configuration: check it is still the disk the guest knew. */
static int blk_restore(struct virtio_mmio *t, struct snap_cursor *c)
{
	struct virtio_blk *blk = t->dev;
	const struct virtio_blk_state *st = &blk->st;
	struct disk_identity saved;
	char what[64], serial[VIRTIO_BLK_ID_BYTES] = { 0 };
	bool read_only;
	uint64_t capacity, features;
	int ret;

	memset(&saved, 0, sizeof(saved));
	if (c->version == 1)
		snap_get_str(c, saved.path, sizeof(saved.path));
	else
		disk_identity_get(c, &saved);
	read_only = snap_get_bool(c);
	capacity = snap_get_u64(c);
	features = snap_get_u64(c);
	if (c->version != 1)
		snap_get_bytes(c, serial, sizeof(serial));
	snprintf(what, sizeof(what), "virtio-blk at 0x%llx", (unsigned long long)t->base);
	ret = snap_cursor_done(c, what);
	if (ret < 0)
		return ret;
	if (strcmp(saved.path, blk->recorded_path)) {
		pr_err("%s: the snapshot's disk is '%s', this one is '%s'", what, saved.path, blk->recorded_path);
		return -EINVAL;
	}
	/* Against the file as opened: probing it for hole punching moves a tmpfs file's mtime. */
	if (c->version != 1) {
		ret = disk_identity_check(blk->check, &saved, &blk->opened);
		if (ret < 0)
			return ret;
	}
	if (capacity != st->capacity) {
		pr_err("disk '%s' is %llu sectors now, the snapshot has %llu: the disk changed since the snapshot",
		       st->path, (unsigned long long)st->capacity, (unsigned long long)capacity);
		return -EINVAL;
	}
	if (read_only != st->read_only) {
		pr_err("disk '%s' is %s now, the snapshot has it %s", st->path, st->read_only ? "read-only" : "writable",
		       read_only ? "read-only" : "writable");
		return -EINVAL;
	}
	/* The guest read the feature bits and the config space built from them: they must not move. */
	if (features != st->features) {
		pr_err("disk '%s' offers features 0x%llx now, the snapshot has 0x%llx (another host file system?)",
		       st->path, (unsigned long long)st->features, (unsigned long long)features);
		return -EINVAL;
	}
	/* The guest may have read its serial: it stays what it was, whatever the file is called now. */
	if (c->version != 1)
		memcpy(blk->st.serial, serial, sizeof(serial));
	return 0;
}

/* Migration: the source lets go of the disk once its state is captured, the destination takes it. */
static int blk_release(struct virtio_mmio *t)
{
	struct virtio_blk *b = t->dev;

	if (b->locked)
		disk_unlock(b->fd);
	b->locked = false;
	return 0;
}

/* The disk as the source left it is what the restore checks the saved identity against. */
static int blk_acquire(struct virtio_mmio *t)
{
	struct virtio_blk *b = t->dev;
	int ret = b->locked ? 0 : disk_lock(b->fd, b->st.path, b->st.read_only);

	b->locked = ret == 0;
	return ret == 0 ? virtio_blk_identity(b, &b->opened) : ret;
}

static void completion_cb(void *opaque, int fd, short revents)
{
	(void)fd;
	(void)revents;
	virtio_blk_complete(opaque);
}

/* The backend's submission retry timer: requests the kernel refused are offered again. */
static void retry_cb(void *opaque, int fd, short revents)
{
	struct virtio_blk *b = opaque;

	(void)fd;
	(void)revents;
	pthread_mutex_lock(&b->lock);
	(void)blk_io_retry(b->io); /* still refused: it re-armed itself */
	pthread_mutex_unlock(&b->lock);
}

/* --- creation -------------------------------------------------------------------- */

static void put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void build_config(struct virtio_blk *b)
{
	const struct virtio_blk_state *st = &b->st;
	uint64_t cap = htole64(st->capacity);

	memset(b->config, 0, sizeof(b->config));
	memcpy(b->config + VIRTIO_BLK_CFG_CAPACITY, &cap, 8);
	put_le32(b->config + VIRTIO_BLK_CFG_SEG_MAX, st->seg_max);
	put_le32(b->config + VIRTIO_BLK_CFG_BLK_SIZE, st->blk_size);
	if (st->features & VIRTIO_BLK_F_DISCARD) {
		put_le32(b->config + VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS, st->max_discard_sectors);
		put_le32(b->config + VIRTIO_BLK_CFG_MAX_DISCARD_SEG, 1);
		put_le32(b->config + VIRTIO_BLK_CFG_DISCARD_ALIGNMENT, st->discard_sector_alignment);
	}
	if (st->features & VIRTIO_BLK_F_WRITE_ZEROES) {
		put_le32(b->config + VIRTIO_BLK_CFG_MAX_WZ_SECTORS, st->max_write_zeroes_sectors);
		put_le32(b->config + VIRTIO_BLK_CFG_MAX_WZ_SEG, 1);
		b->config[VIRTIO_BLK_CFG_WZ_MAY_UNMAP] = st->write_zeroes_may_unmap;
	}
}

/*
 * Can the host file punch holes? The probe punches past the end of the file
 * (KEEP_SIZE), where there is nothing to lose. FALLOC_FL_ZERO_RANGE cannot be
 * probed without allocating blocks, so it is assumed and given up on the
 * first EOPNOTSUPP (see reap_locked).
 */
static void probe_fallocate(struct virtio_blk_state *st, int fd, uint64_t size)
{
	st->can_punch = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)size, 4096) == 0;
	st->can_zero_range = st->can_punch;
}

/* Size, block size and fallocate support of the open disk; 0 or -errno after a pr_err. */
static int disk_geometry(struct virtio_blk_state *st, int fd)
{
	struct stat sb;
	uint64_t size;

	if (fstat(fd, &sb) < 0) {
		int err = errno;
		pr_err("cannot stat disk '%s': %s", st->path, strerror(err));
		return -err;
	}
	st->blk_size = VIRTIO_BLK_SECTOR_SIZE;
	st->discard_sector_alignment = 1;
	if (S_ISBLK(sb.st_mode)) {
		int lbs = 0;
		if (ioctl(fd, BLKGETSIZE64, &size) < 0) {
			int err = errno;
			pr_err("cannot get the size of disk '%s': %s", st->path, strerror(err));
			return -err;
		}
		if (ioctl(fd, BLKSSZGET, &lbs) == 0 && lbs >= 512 && lbs <= 65536 && !(lbs & (lbs - 1)))
			st->blk_size = (uint32_t)lbs;
		/* Discard on a block device cannot be probed harmlessly: not offered. */
	} else if (S_ISREG(sb.st_mode)) {
		size = (uint64_t)sb.st_size;
		if (!st->read_only)
			probe_fallocate(st, fd, size);
		if (sb.st_blksize >= 512 && sb.st_blksize <= 1 << 20)
			st->discard_sector_alignment = (uint32_t)sb.st_blksize / VIRTIO_BLK_SECTOR_SIZE;
	} else {
		pr_err("disk '%s' is neither a regular file nor a block device", st->path);
		return -EINVAL;
	}
	if (size % VIRTIO_BLK_SECTOR_SIZE) {
		pr_err("disk '%s' is %llu bytes, not a multiple of 512: pad or truncate it to whole sectors",
		       st->path, (unsigned long long)size);
		return -EINVAL;
	}
	st->capacity = size / VIRTIO_BLK_SECTOR_SIZE;
	return 0;
}

static void fill_state(struct virtio_blk_state *st)
{
	char copy[PATH_MAX];

	st->seg_max = VIRTQ_MAX_SIZE - 2; /* the header and the status byte need a descriptor each */
	st->max_discard_sectors = VIRTIO_BLK_MAX_DWZ_SECTORS;
	st->max_write_zeroes_sectors = VIRTIO_BLK_MAX_DWZ_SECTORS;
	st->write_zeroes_may_unmap = st->can_punch;
	st->features = VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH;
	if (st->read_only)
		st->features |= VIRTIO_BLK_F_RO;
	if (st->can_punch)
		st->features |= VIRTIO_BLK_F_DISCARD | VIRTIO_BLK_F_WRITE_ZEROES;
	/* Serial number: the file's name, cut to 20 bytes (NUL-padded when shorter). */
	const char *name;
	size_t len;

	memcpy(copy, st->path, sizeof(copy));
	name = basename(copy);
	len = strlen(name);
	memset(st->serial, 0, sizeof(st->serial));
	memcpy(st->serial, name, len < sizeof(st->serial) ? len : sizeof(st->serial));
}

/* io_uring unless told otherwise or unavailable; the fallback is announced once per process. */
static int choose_backend(struct virtio_blk *b, enum disk_io mode)
{
	static atomic_flag fallback_said = ATOMIC_FLAG_INIT;
	int ret;

	if (mode != DISK_IO_THREAD) {
		ret = blk_io_uring_create(&b->io, b->fd, BLK_IO_DEFAULT_DEPTH);
		if (ret == 0)
			return 0;
		if (mode == DISK_IO_URING) {
			pr_err("disk '%s': io=uring asked for, but io_uring is unavailable: %s", b->st.path,
			       strerror(-ret));
			return ret;
		}
		if (!atomic_flag_test_and_set(&fallback_said))
			pr_info("io_uring unavailable (%s): disks use a worker thread", strerror(-ret));
	}
	ret = blk_io_thread_create(&b->io, b->fd, BLK_IO_DEFAULT_DEPTH);
	if (ret < 0)
		pr_err("disk '%s': cannot start the I/O thread: %s", b->st.path, strerror(-ret));
	return ret;
}

static void blk_destroy(struct virtio_mmio *t)
{
	virtio_blk_destroy(t->dev);
}

int virtio_blk_create(struct device_ctx *ctx, uint64_t base, unsigned int spi, const struct disk_config *cfg)
{
	struct virtio_blk *b;
	int ret;

	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->loop_id = b->retry_id = -1;
	b->st.read_only = cfg->read_only;
	b->check = cfg->check;
	b->fd = disk_open(cfg->path, cfg->read_only, !cfg->untrusted_path, cfg->check, cfg->recorded, &b->opened);
	if (b->fd < 0) {
		ret = b->fd;
		free(b);
		return ret;
	}
	snprintf(b->st.path, sizeof(b->st.path), "%s", b->opened.path);
	/* What a snapshot names this disk by: its canonical path (a restore: the one the snapshot recorded). */
	snprintf(b->recorded_path, sizeof(b->recorded_path), "%s",
		 cfg->recorded ? cfg->recorded->path : cfg->untrusted_path ? cfg->path : b->opened.path);
	if (!cfg->defer_lock) {
		ret = disk_lock(b->fd, b->st.path, cfg->read_only);
		if (ret < 0)
			goto fail_fd;
		b->locked = true;
	}
	ret = disk_geometry(&b->st, b->fd);
	if (ret < 0)
		goto fail_fd;
	fill_state(&b->st);
	build_config(b);

	b->slots = calloc(BLK_IO_DEFAULT_DEPTH, sizeof(*b->slots));
	if (!b->slots) {
		ret = -ENOMEM;
		goto fail_fd;
	}
	for (unsigned int i = BLK_IO_DEFAULT_DEPTH; i-- > 0;)
		slot_free(b, &b->slots[i]);
	pthread_mutex_init(&b->lock, NULL);
	ret = choose_backend(b, cfg->io);
	if (ret < 0)
		goto fail_slots;

	b->ops = (struct virtio_device_ops){
		.name = "virtio-blk", .device_id = VIRTIO_ID_BLOCK, .num_queues = 1, .features = b->st.features,
		.config_size = VIRTIO_BLK_CONFIG_SIZE, .config_read = blk_config_read,
		.queue_notify = blk_queue_notify, .reset = blk_reset, .destroy = blk_destroy,
		.quiesce = blk_quiesce, .sync = blk_sync, .save = blk_save, .restore = blk_restore,
		.release = blk_release, .acquire = blk_acquire,
	};
	b->loop_id = eventloop_add(ctx->loop, b->io->event_fd, POLLIN, completion_cb, b);
	if (b->loop_id >= 0 && b->io->retry_fd >= 0)
		b->retry_id = eventloop_add(ctx->loop, b->io->retry_fd, POLLIN, retry_cb, b);
	if (b->loop_id < 0 || (b->io->retry_fd >= 0 && b->retry_id < 0)) {
		eventloop_enable(ctx->loop, b->loop_id, false);
		ret = -ENOSPC;
		pr_err("disk '%s': no room in the event loop", b->st.path);
		goto fail_io;
	}
	b->t = virtio_mmio_create(ctx, base, spi, &b->ops, b);
	if (!b->t) {
		eventloop_enable(ctx->loop, b->loop_id, false);
		eventloop_enable(ctx->loop, b->retry_id, false);
		ret = -ENOSPC;
		goto fail_io;
	}
	pr_info("disk '%s': %llu sectors%s, %s I/O%s", b->st.path, (unsigned long long)b->st.capacity,
		cfg->read_only ? ", read-only" : "", b->io->ops->name,
		(b->st.features & VIRTIO_BLK_F_DISCARD) ? ", discard" : "");
	return 0;

fail_io:
	blk_io_destroy(b->io);
fail_slots:
	pthread_mutex_destroy(&b->lock);
	free(b->slots);
fail_fd:
	close(b->fd);
	free(b);
	return ret;
}

void virtio_blk_destroy(struct virtio_blk *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	wait_idle_locked(b, false);
	pthread_mutex_unlock(&b->lock);
	blk_io_destroy(b->io);
	pthread_mutex_destroy(&b->lock);
	close(b->fd);
	free(b->slots);
	free(b);
}
