/*
 * virtio-blk (virtio 1.x, section 5.2): one request queue, a raw disk image
 * (a regular file or a block device), I/O through a blk_io backend
 * (io_uring, or a worker thread where io_uring is unavailable).
 *
 * Requests are popped on whichever thread notified (a vCPU, or the main
 * thread with an ioeventfd), checked, and handed to the backend without
 * waiting; completions arrive on the backend's eventfd in the main event loop,
 * which writes the status byte and pushes the used entry. At most
 * BLK_IO_DEFAULT_DEPTH requests are in flight; the rest wait in the avail ring.
 */
#ifndef ARMVMM_VIRTIO_BLK_H
#define ARMVMM_VIRTIO_BLK_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/blk_io.h"
#include "devices/disk.h"
#include "devices/virtio_mmio.h"
#include "devices/virtqueue.h"

struct device_ctx;

#define VM_MAX_DISKS 8u

enum disk_io { DISK_IO_AUTO, DISK_IO_URING, DISK_IO_THREAD };

struct disk_config {
	const char *path;
	bool read_only;
	enum disk_io io;	/* io_uring, falling back to a thread; or forced */
	/*
	 * Restoring (a snapshot, or a migration's destination): path came from
	 * the saved state (untrusted, opened as disk.h says) unless it is the
	 * user's --disk NEW; recorded is the identity saved with it (NULL for a
	 * version-1 snapshot) and check how the file opened must match it.
	 */
	bool untrusted_path;
	enum disk_check check;
	const struct disk_identity *recorded;
	/* A migration's destination takes the lock only once the source has let go (device acquire). */
	bool defer_lock;
};

#define VIRTIO_ID_BLOCK 2u

/* Feature bits (virtio 1.x 5.2.3), as masks. */
#define VIRTIO_BLK_F_SIZE_MAX (1ull << 1)
#define VIRTIO_BLK_F_SEG_MAX (1ull << 2)
#define VIRTIO_BLK_F_GEOMETRY (1ull << 4)
#define VIRTIO_BLK_F_RO (1ull << 5)
#define VIRTIO_BLK_F_BLK_SIZE (1ull << 6)
#define VIRTIO_BLK_F_FLUSH (1ull << 9)
#define VIRTIO_BLK_F_TOPOLOGY (1ull << 10)
#define VIRTIO_BLK_F_CONFIG_WCE (1ull << 11)
#define VIRTIO_BLK_F_MQ (1ull << 12)
#define VIRTIO_BLK_F_DISCARD (1ull << 13)
#define VIRTIO_BLK_F_WRITE_ZEROES (1ull << 14)

/* Request types and statuses (5.2.6). */
#define VIRTIO_BLK_T_IN 0u
#define VIRTIO_BLK_T_OUT 1u
#define VIRTIO_BLK_T_FLUSH 4u
#define VIRTIO_BLK_T_GET_ID 8u
#define VIRTIO_BLK_T_DISCARD 11u
#define VIRTIO_BLK_T_WRITE_ZEROES 13u
#define VIRTIO_BLK_S_OK 0u
#define VIRTIO_BLK_S_IOERR 1u
#define VIRTIO_BLK_S_UNSUPP 2u

#define VIRTIO_BLK_SECTOR_SIZE 512u
#define VIRTIO_BLK_HDR_SIZE 16u		/* le32 type, le32 reserved, le64 sector */
#define VIRTIO_BLK_DWZ_SEG_SIZE 16u	/* le64 sector, le32 num_sectors, le32 flags */
#define VIRTIO_BLK_DWZ_F_UNMAP 1u
#define VIRTIO_BLK_ID_BYTES 20u
/* Largest IN/OUT data length accepted (Linux sends a few MiB at most); larger → IOERR. */
#define VIRTIO_BLK_MAX_DATA (1u << 30)
#define VIRTIO_BLK_MAX_DWZ_SECTORS (1u << 22)	/* 2 GiB per discard / write-zeroes */

/*
 * Config space layout (5.2.4), little-endian: capacity 0, size_max 8, seg_max 12,
 * geometry 16, blk_size 20, topology 24, writeback 32, num_queues 34,
 * max_discard_sectors 36, max_discard_seg 40, discard_sector_alignment 44,
 * max_write_zeroes_sectors 48, max_write_zeroes_seg 52, write_zeroes_may_unmap 56.
 */
#define VIRTIO_BLK_CFG_CAPACITY 0u
#define VIRTIO_BLK_CFG_SEG_MAX 12u
#define VIRTIO_BLK_CFG_BLK_SIZE 20u
#define VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS 36u
#define VIRTIO_BLK_CFG_MAX_DISCARD_SEG 40u
#define VIRTIO_BLK_CFG_DISCARD_ALIGNMENT 44u
#define VIRTIO_BLK_CFG_MAX_WZ_SECTORS 48u
#define VIRTIO_BLK_CFG_MAX_WZ_SEG 52u
#define VIRTIO_BLK_CFG_WZ_MAY_UNMAP 56u
#define VIRTIO_BLK_CONFIG_SIZE 60u

/* What the device is: plain data, fixed at creation, for snapshots and the config space. */
struct virtio_blk_state {
	char path[PATH_MAX];		/* canonical (disk.h) */
	bool read_only;
	uint64_t capacity;		/* 512-byte sectors */
	uint64_t features;		/* VIRTIO_BLK_F_* offered */
	uint32_t blk_size;
	uint32_t seg_max;
	uint32_t discard_sector_alignment;	/* 512-byte sectors */
	uint32_t max_discard_sectors;
	uint32_t max_write_zeroes_sectors;
	bool write_zeroes_may_unmap;
	bool can_punch, can_zero_range;	/* what fallocate() does on the host file */
	char serial[VIRTIO_BLK_ID_BYTES];	/* GET_ID answer: the file's basename, NUL-padded (a restore keeps the saved one) */
};

/* One request after virtio_blk_parse(): what to do and where the answer goes. */
struct virtio_blk_request {
	uint32_t type;
	uint64_t sector;
	uint8_t *status;	/* the status byte in guest RAM; NULL when the chain has no writable byte */
	uint32_t written;	/* used length to report when the request succeeds */
	bool io;		/* true: hand op to the backend; false: nothing (more) to do */
	enum blk_io_op op;
	uint64_t offset, len;	/* bytes */
	int mode;		/* BLK_IO_FALLOCATE */
	unsigned int iovcnt;	/* data buffers: READ/WRITE payload, or GET_ID's answer area */
	struct iovec iov[VIRTQ_MAX_CHAIN];
};

struct virtio_blk_slot {
	struct virtio_blk_request r;
	struct blk_io_req io;
	uint16_t head;
	struct virtio_blk_slot *next_free;
};

struct virtio_blk {
	struct virtio_blk_state st;
	struct virtio_device_ops ops;	/* per disk: the features differ */
	uint8_t config[VIRTIO_BLK_CONFIG_SIZE];
	struct virtio_mmio *t;
	int fd;
	bool locked;			/* holds the disk's flock */
	enum disk_check check;		/* restoring: how the saved disk must match this file */
	char recorded_path[PATH_MAX];	/* restoring: the path the snapshot names (st.path, unless remapped) */
	/*
	 * The file as it was when opened (a migration's destination: when the
	 * source let go of it), before armvmm itself touched it: what a restore
	 * compares the saved identity with.
	 */
	struct disk_identity opened;
	struct blk_io *io;
	int loop_id;			/* event loop entry of io->event_fd */
	int retry_id;			/* event loop entry of io->retry_fd, or -1 */
	pthread_mutex_t lock;		/* guards everything below, and calls into io */
	struct virtio_blk_slot *slots, *free_slots;
	unsigned int in_flight;
	bool stalled;			/* stopped popping for want of a slot */
	bool io_error_logged;
	struct virtq_chain chain;	/* where chains are popped to */
};

/*
 * Open cfg->path (read-only with cfg->read_only), choose the backend
 * (cfg->io: io_uring, falling back to the thread backend, or forced), hook the
 * completion eventfd into vm->loop and give the device a virtio-mmio
 * transport. 0 or -errno after one pr_err line.
 */
int virtio_blk_create(struct device_ctx *ctx, uint64_t base, unsigned int spi, const struct disk_config *cfg);

/*
 * Parse one chain (features: negotiated). Copies the header out of guest RAM
 * before looking at it and checks every length and sector against st.
 * Returns the status: VIRTIO_BLK_S_OK (then r->io says whether the backend
 * has work; GET_ID's answer goes to r->iov), or IOERR / UNSUPP to report at once.
 * r->status is set whenever the chain has a writable byte, even on errors.
 */
uint8_t virtio_blk_parse(const struct virtio_blk_state *st, uint64_t features, const struct virtq_chain *c,
			 struct virtio_blk_request *r);

/* The disk's identity now (disk.h), as a snapshot records it. 0 or -errno after one error line. */
int virtio_blk_identity(const struct virtio_blk *b, struct disk_identity *id);

/* Complete every request in flight (status written, used entries pushed); chains not yet popped stay queued. */
void virtio_blk_drain(struct virtio_blk *b);
/* Take and start whatever the driver has queued (what a queue notification does). */
void virtio_blk_kick(struct virtio_blk *b);
/* Handle finished requests now: the event loop callback of the completion eventfd. */
void virtio_blk_complete(struct virtio_blk *b);
/* Wait for in-flight requests, then free everything (the transport must not call the device any more). */
void virtio_blk_destroy(struct virtio_blk *b);

#endif
