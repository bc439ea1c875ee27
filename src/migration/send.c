/*
 * The sending side of a live migration (send.h). One thread does the
 * talking and the copying; the main thread does what only it may: pause the
 * VM, capture its state, hand over or take back the disks, resume or end it.
 * They meet through step (under lock) and event_fd.
 */
#include "migration/send.h"

#include <errno.h>
#include <stdarg.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "board/board.h"
#include "core/clock.h"
#include "core/files.h"
#include "core/log.h"
#include "core/sandbox.h"
#include "core/threads.h"
#include "migration/stream.h"
#include "snapshot/snapshot.h"

_Static_assert(MIG_TAG_NETCONF == BOARD_SEC_NETCONF, "the handshake's NETC is the snapshot's");

#define CONNECT_TIMEOUT_MS 10000
#define SEND_TIMEOUT_MS 60000
/* The destination builds a VM before it answers, and restores one before it confirms: both may take a while. */
#define REPLY_TIMEOUT_MS 120000
#define CLEAR_CHUNK 4096u	/* pages write-protected again at a time (manual dirty log), 64 words */
#define TAKE_BACK_TRIES 5	/* tenths of a second to get the disks back after a failure */

/* --- talking to the destination ---------------------------------------------------------- */

/* Fail with one line into m->msg (the first failure wins). */
__attribute__((format(printf, 3, 4))) static int fail(struct mig_send *m, int err, const char *fmt, ...)
{
	va_list ap;

	if (!m->msg[0]) {
		va_start(ap, fmt);
		vsnprintf(m->msg, sizeof(m->msg), fmt, ap);
		va_end(ap);
	}
	return err;
}

/* A reply frame within timeout_ms: 0 with *yes and the reason, or -errno (m->msg says why). */
static int read_reply(struct mig_send *m, int timeout_ms, bool *yes, char *reason, size_t cap)
{
	uint8_t hdr[MIG_FRAME_HEADER_SIZE], payload[8 + MIG_MAX_REASON];
	uint32_t tag, instance, crc;
	uint64_t len;
	int err;

	m->in.timeout_ms = timeout_ms;
	err = mig_reader_read(&m->in, hdr, sizeof(hdr));

	if (err == -ETIMEDOUT)
		return fail(m, err, "the destination did not answer within %d s", timeout_ms / 1000);
	if (err)
		return fail(m, err, "the destination went away (%s)",
			    err == -ENODATA || err == -EPROTO ? "it closed the connection" : strerror(-err));
	log_clear_error();
	err = mig_parse_frame_header(hdr, 0, &tag, &instance, &len, &crc);
	if (!err && tag != MIG_TAG_REPLY)
		err = -EPROTO;
	if (!err)
		err = mig_reader_read(&m->in, payload, (size_t)len);
	if (!err && snap_crc32(payload, (size_t)len) != crc)
		err = -EPROTO;
	if (!err)
		err = mig_parse_reply(payload, (size_t)len, yes, reason, cap);
	if (err)
		return fail(m, -EPROTO, "the destination's answer is garbled");
	return 0;
}

/*
 * A send failed: the destination may have said no meanwhile (it answers and
 * closes when the stream is wrong) or gone away. m->msg says which.
 */
static int send_failed(struct mig_send *m, int err)
{
	char reason[MIG_MAX_REASON];
	bool yes;

	if (atomic_load(&m->cancel))
		return fail(m, -ECANCELED, "the VM ended during the migration");
	if (read_reply(m, 2000, &yes, reason, sizeof(reason)) == 0 && !yes) {
		m->msg[0] = 0;
		return fail(m, -EPROTO, "the destination refused the migration: %s", reason);
	}
	m->msg[0] = 0;
	/* -EAGAIN / -ECONNRESET from the checks between frames: it hung up without a word. */
	return fail(m, err, "the destination went away during the migration (%s)",
		    err == -EAGAIN || err == -ECONNRESET ? "it closed the connection" : strerror(-err));
}

static int send_frame(struct mig_send *m, uint32_t tag, uint32_t instance, const void *payload, size_t len)
{
	int err = mig_writer_frame(&m->out, tag, instance, payload, len);

	if (err)
		return send_failed(m, err);
	m->st.bytes += MIG_FRAME_HEADER_SIZE + len;
	return 0;
}

/* Everything queued goes out: before waiting for an answer, and at the end of each round. */
static int flush(struct mig_send *m)
{
	int err = mig_writer_flush(&m->out);

	return err ? send_failed(m, err) : 0;
}

/* Has the destination said something (a refusal) or hung up? Checked between frames. */
static int check_peer(struct mig_send *m)
{
	struct pollfd p = { .fd = m->fd, .events = POLLIN };

	if (atomic_load(&m->cancel))
		return fail(m, -ECANCELED, "the VM ended during the migration");
	if (poll(&p, 1, 0) > 0)
		return send_failed(m, -ECONNRESET);
	return 0;
}

/* --- guest memory ----------------------------------------------------------------------------- */

static bool page_is_zero(const uint8_t *p, size_t n)
{
	static const uint8_t zero8[8];

	return memcmp(p, zero8, 8) == 0 && memcmp(p, p + 8, n - 8) == 0;
}

/*
 * Pages [first, first + n) copied into m->buf (the guest may write them
 * meanwhile: the dirty log has been cleared for them, so a write now sends
 * them again), then sent: runs of non-zero pages as PAGE frames, runs of
 * zero pages as ZERO frames (unless send_zeros is off: the destination's
 * RAM starts out zero).
 */
static int send_run(struct mig_send *m, uint64_t first, uint64_t n, bool send_zeros)
{
	const struct guest_mem *mem = &m->b->vm.mem;
	uint64_t ps = mem->page_size;
	uint8_t *pages = m->buf + 8;	/* m->buf: 8 bytes of room, then the pages */
	int err = 0;

	memcpy(pages, mem->host + first * ps, n * ps);
	for (uint64_t i = 0; !err && i < n;) {
		bool zero = page_is_zero(pages + i * ps, ps);
		uint64_t j = i + 1;
		while (j < n && page_is_zero(pages + j * ps, ps) == zero)
			j++;
		if (!zero) {
			/* The frame: the first page's index in the 8 bytes before it (room, or a page already dealt with). */
			uint8_t *frame = pages + i * ps - 8;
			le64_put(frame, first + i);
			err = send_frame(m, MIG_TAG_PAGES, 0, frame, 8 + (j - i) * ps);
		} else if (send_zeros) {
			uint8_t z[16];
			le64_put(z, first + i);
			le64_put(z + 8, j - i);
			err = send_frame(m, MIG_TAG_ZEROS, 0, z, sizeof(z));
		}
		i = j;
	}
	return err;
}

/*
 * Every page whose bit is set in bitmap, in runs of up to MIG_MAX_RUN
 * contiguous pages. clear: write-protect each chunk again in KVM's log
 * (manual mode) just before its pages are copied.
 */
static int send_pages(struct mig_send *m, uint64_t *bitmap, bool send_zeros, bool clear)
{
	struct vm *vm = &m->b->vm;
	uint64_t pages = guest_mem_pages(&vm->mem);
	int err = 0;

	for (uint64_t chunk = 0; !err && chunk < pages; chunk += CLEAR_CHUNK) {
		uint64_t end = chunk + CLEAR_CHUNK < pages ? chunk + CLEAR_CHUNK : pages;
		bool any = false;
		for (uint64_t w = chunk / 64; w < (end + 63) / 64; w++)
			any |= bitmap[w] != 0;
		if (!any)
			continue;
		if (clear)
			err = vm_dirty_log_clear(vm, bitmap, chunk, end - chunk);
		if (err)
			return fail(m, err, "%s", "KVM's dirty-page log failed");
		for (uint64_t p = chunk; !err && p < end;) {
			if (!(bitmap[p / 64] >> (p % 64) & 1)) {
				p++;
				continue;
			}
			uint64_t n = 1;
			while (p + n < end && n < MIG_MAX_RUN && (bitmap[(p + n) / 64] >> ((p + n) % 64) & 1))
				n++;
			err = send_run(m, p, n, send_zeros);
			p += n;
		}
		if (!err)
			err = check_peer(m);
	}
	return err ? err : flush(m);
}

static uint64_t count_bits(const uint64_t *bitmap, size_t words)
{
	uint64_t n = 0;

	for (size_t i = 0; i < words; i++)
		n += (uint64_t)__builtin_popcountll(bitmap[i]);
	return n;
}

/* The pages written since the last look: KVM's log (the guest's writes) and armvmm's own (devices). */
static int fetch_dirty(struct mig_send *m, uint64_t *bitmap)
{
	struct vm *vm = &m->b->vm;
	int err = vm_dirty_log_fetch(vm, bitmap);

	if (err)
		return fail(m, err, "%s", "KVM's dirty-page log failed");
	guest_mem_collect(&vm->mem, bitmap);
	return 0;
}

/* Every device's own logging of its writes to guest RAM (vhost) on or off; the first failure stops it. */
static int devices_track(struct board *b, bool on)
{
	int ret = 0;

	for (unsigned int i = 0; i < b->devices.count; i++) {
		struct device *d = &b->devices.dev[i];
		int r = d->ops->track ? d->ops->track(d, on) : 0;
		if (r < 0 && !ret)
			ret = r;
		if (ret && on)
			break;
	}
	return ret;
}

/*
 * Pre-copy: all touched memory, then rounds of what was dirtied meanwhile,
 * until sending the rest would pause the guest no longer than the target,
 * or the rounds stop getting smaller (the guest dirties as fast as we send),
 * or MIG_MAX_ROUNDS. What is left is in m->dirty for the stop-and-copy.
 */
static int precopy(struct mig_send *m)
{
	struct vm *vm = &m->b->vm;
	size_t words = guest_mem_bitmap_bytes(&vm->mem) / 8;
	uint64_t ps = vm->mem.page_size, prev = UINT64_MAX, rate = 0;
	unsigned int stalls = 0;
	int err;

	err = vm_dirty_log_start(vm);
	if (!err)
		err = guest_mem_track(&vm->mem, true);
	if (!err)
		err = devices_track(m->b, true);
	if (err)
		return fail(m, err, "%s", log_last_error());
	/* Pass 1: what the guest ever touched (zero pages need not travel: the destination starts zeroed). */
	guest_mem_touched(&vm->mem, m->dirty);
	for (;;) {
		uint64_t t0 = clock_monotonic_ns(), b0 = m->st.bytes, n = count_bits(m->dirty, words);
		err = send_pages(m, m->dirty, m->st.rounds > 0, vm->dirty_manual && m->st.rounds > 0);
		if (err)
			return err;
		uint64_t dt = clock_monotonic_ns() - t0, sent = m->st.bytes - b0;
		m->st.rounds++;
		/* Bytes per second, from a pass long enough to measure. */
		if (dt > 1000000 && sent > 65536)
			rate = sent * 1000000000ull / dt;
		err = fetch_dirty(m, m->dirty);
		if (err)
			return err;
		n = count_bits(m->dirty, words);
		/* No rate measured yet (too little was sent): a few pages left is as good as none. */
		uint64_t estimate = rate ? n * ps * 1000000000ull / rate : n * ps <= (256u << 10) ? 0 : UINT64_MAX;
		pr_info("migration round %u: %llu pages dirty, %llu ms to send them at %llu MiB/s", m->st.rounds,
			(unsigned long long)n, (unsigned long long)(estimate == UINT64_MAX ? 0 : estimate / 1000000),
			(unsigned long long)(rate >> 20));
		if (estimate <= m->max_downtime_ns || m->st.rounds >= MIG_MAX_ROUNDS)
			return 0;
		stalls = n * 10 >= prev * 9 ? stalls + 1 : 0;
		if (stalls >= 2) {
			pr_info("migration: the guest dirties memory as fast as it is sent: stopping it for the rest");
			return 0;
		}
		prev = n;
	}
}

/* --- the main thread's part ----------------------------------------------------------------- */

static void wake_main(struct mig_send *m)
{
	uint64_t one = 1;

	if (write(m->event_fd, &one, sizeof(one)) < 0)
		(void)0; /* the counter cannot overflow from a few writes */
}

/* Thread: ask the main thread to pause the VM and capture its state; wait for it. */
static int request_stop(struct mig_send *m)
{
	pthread_mutex_lock(&m->lock);
	m->step = MIG_WANT_STOP;
	wake_main(m);
	while (m->step == MIG_WANT_STOP && !atomic_load(&m->cancel))
		pthread_cond_wait(&m->cond, &m->lock);
	pthread_mutex_unlock(&m->lock);
	if (atomic_load(&m->cancel))
		return fail(m, -ECANCELED, "the VM ended during the migration");
	return m->stop_ret; /* stop_step said why in m->msg */
}

/* Main thread: pause, capture, let go of the disks. */
static void stop_step(struct mig_send *m)
{
	struct board *b = m->b;
	uint64_t ns;
	int ret;

	log_clear_error();
	m->pause_ns = clock_monotonic_ns();
	m->paused_here = !b->vm.paused;
	ret = vm_pause(&b->vm, &ns);
	if (ret < 0)
		m->paused_here = false;
	if (ret == 0)
		ret = snapshot_capture(b, &m->state);
	for (unsigned int i = 0; ret == 0 && i < b->devices.count; i++, m->released++) {
		struct device *d = &b->devices.dev[i];
		if (d->ops->release)
			ret = d->ops->release(d);
	}
	if (ret < 0)
		fail(m, ret, "stopping the VM for the migration failed: %s",
		     *log_last_error() ? log_last_error() : strerror(-ret));
	m->stop_ret = ret;
}

/* Main thread, the migration failed: the VM is this process's again, as it was. */
static void take_back(struct mig_send *m)
{
	struct board *b = m->b;
	int ret = 0;

	vm_dirty_log_stop(&b->vm);
	(void)devices_track(b, false);
	guest_mem_track(&b->vm.mem, false);
	/* A destination that took the disks and then failed lets go of them as it says no: wait a moment for it. */
	for (unsigned int tries = 0; m->released && tries < TAKE_BACK_TRIES; tries++) {
		ret = 0;
		for (unsigned int i = 0; i < m->released; i++) {
			struct device *d = &b->devices.dev[i];
			if (d->ops->acquire && d->ops->acquire(d) < 0)
				ret = -EBUSY;
		}
		if (ret == 0)
			break;
		usleep(100000);
	}
	m->released = 0;
	/* What the capture's quiesce stopped (a NIC's data path) goes on. */
	snapshot_devices_resume(b);
	if (ret < 0) {
		/* Someone else has a disk: the destination may run the guest. Two copies must not run. */
		size_t n = strlen(m->msg);
		snprintf(m->msg + n, sizeof(m->msg) - n, "; and a disk or tap is held by another process now: "
			 "the VM stays paused here (check the destination, then 'armvmm resume' or 'stop')");
		return;
	}
	if (m->paused_here)
		vm_resume(&b->vm);
}

/* Main thread: wait until the sender thread is done with the migration (it then waits for the next). */
static void wait_sender_idle(struct mig_send *m)
{
	pthread_mutex_lock(&m->lock);
	while (m->busy)
		pthread_cond_wait(&m->cond, &m->lock);
	pthread_mutex_unlock(&m->lock);
}

static void finish_step(struct mig_send *m)
{
	wait_sender_idle(m);
	close_fd(&m->fd);
	mig_writer_free(&m->out);
	mig_reader_free(&m->in);
	snap_reader_close(&m->state);
	if (m->result == 0) {
		pr_info("migrated to %s: %u rounds, %llu MiB sent, downtime %llu ms, total %llu ms", m->addr.text,
			m->st.rounds, (unsigned long long)(m->st.bytes >> 20),
			(unsigned long long)(m->st.downtime_ns / 1000000), (unsigned long long)(m->st.total_ns / 1000000));
		/* The guest runs at the destination now: this copy ends (exit status 0). */
		vm_request_stop(&m->b->vm, VM_EXIT_POWEROFF);
	} else {
		take_back(m);
		pr_err("migration to %s failed: %s", m->addr.text, m->msg);
	}
	m->step = MIG_IDLE;
	if (m->done)
		m->done(m->opaque, m->result, &m->st, m->msg);
}

static void event_cb(void *opaque, int fd, short revents)
{
	struct mig_send *m = opaque;
	enum mig_step step;

	(void)revents;
	if (eventfd_drain(fd) <= 0)
		return;
	pthread_mutex_lock(&m->lock);
	step = m->step;
	pthread_mutex_unlock(&m->lock);
	if (step == MIG_WANT_STOP) {
		stop_step(m);
		pthread_mutex_lock(&m->lock);
		m->step = MIG_STOPPED;
		pthread_cond_broadcast(&m->cond);
		pthread_mutex_unlock(&m->lock);
	} else if (step == MIG_FINISHED) {
		finish_step(m);
	}
}

/* --- the thread --------------------------------------------------------------------------- */

static int handshake(struct mig_send *m)
{
	char reason[MIG_MAX_REASON];
	bool yes;
	int err;

	m->fd = mig_addr_resolve(&m->addr);
	if (m->fd == 0)
		m->fd = mig_connect(&m->addr, CONNECT_TIMEOUT_MS);
	if (m->fd < 0)
		return fail(m, m->fd, "%s", log_last_error());
	if (mig_writer_init(&m->out, m->fd, SEND_TIMEOUT_MS) < 0 || mig_reader_init(&m->in, m->fd, REPLY_TIMEOUT_MS) < 0)
		return fail(m, -ENOMEM, "out of memory starting the migration");
	err = send_frame(m, MIG_TAG_HELLO, 0, m->hello, MIG_HELLO_SIZE);
	if (!err)
		err = send_frame(m, SNAP_SEC_CONFIG, 0, m->conf.data, m->conf.len);
	/* The destination builds the NICs and vsock before it answers: their taps and CID come now. */
	if (!err && m->netconf.len)
		err = send_frame(m, MIG_TAG_NETCONF, 0, m->netconf.data, m->netconf.len);
	if (!err)
		err = flush(m);
	if (!err)
		err = read_reply(m, REPLY_TIMEOUT_MS, &yes, reason, sizeof(reason));
	if (!err && !yes)
		err = fail(m, -EPERM, "the destination cannot take this VM: %s", reason);
	return err;
}

static int stop_and_copy(struct mig_send *m)
{
	size_t words = guest_mem_bitmap_bytes(&m->b->vm.mem) / 8;
	const struct snap_reader *s = &m->state;
	uint64_t captured, n = 0;
	uint8_t done[4];
	unsigned int sent = 0;
	int err = request_stop(m);

	/* The VM is paused and its devices quiet: whatever was written since the last round. */
	captured = clock_monotonic_ns();
	if (!err)
		err = fetch_dirty(m, m->scratch);
	for (size_t i = 0; !err && i < words; i++) {
		m->dirty[i] |= m->scratch[i];
		n += (uint64_t)__builtin_popcountll(m->dirty[i]);
	}
	if (!err)
		err = send_pages(m, m->dirty, true, false);
	if (!err)
		pr_info("migration: VM paused, state captured in %llu ms, the last %llu pages sent in %llu ms",
			(unsigned long long)((captured - m->pause_ns) / 1000000), (unsigned long long)n,
			(unsigned long long)((clock_monotonic_ns() - captured) / 1000000));
	for (unsigned int i = 0; !err && i < s->nr_sections; i++) {
		const struct snap_section *sec = &s->sections[i];
		if (sec->tag == SNAP_SEC_CONFIG || sec->tag == BOARD_SEC_NETCONF)
			continue; /* sent in the handshake */
		err = send_frame(m, sec->tag, sec->instance, s->state + sec->offset, (size_t)sec->length);
		sent++;
	}
	le32_put(done, sent);
	if (!err)
		err = send_frame(m, MIG_TAG_DONE, 0, done, sizeof(done));
	return err ? err : flush(m);
}

static int migrate(struct mig_send *m)
{
	char reason[MIG_MAX_REASON];
	bool yes;
	int err = handshake(m);

	if (!err)
		err = precopy(m);
	if (!err)
		err = stop_and_copy(m);
	if (!err)
		err = read_reply(m, REPLY_TIMEOUT_MS, &yes, reason, sizeof(reason));
	if (!err && !yes)
		err = fail(m, -EPROTO, "the destination could not start the VM: %s", reason);
	if (!err)
		m->st.downtime_ns = clock_monotonic_ns() - m->pause_ns;
	return err;
}

/*
 * Started with the VM, before any thread is sandboxed (none may start a
 * thread later), it waits for a migration to do and does it.
 */
static void *sender_thread(void *arg)
{
	struct mig_send *m = arg;

	sandbox_enter(SANDBOX_MIGRATION);
	pthread_mutex_lock(&m->lock);
	for (;;) {
		while (!m->job && !m->quit)
			pthread_cond_wait(&m->cond, &m->lock);
		if (m->quit)
			break;
		m->job = false;
		pthread_mutex_unlock(&m->lock);

		uint64_t t0 = clock_monotonic_ns();
		m->result = migrate(m);
		m->st.total_ns = clock_monotonic_ns() - t0;

		pthread_mutex_lock(&m->lock);
		m->step = MIG_FINISHED;
		m->busy = false;
		pthread_cond_broadcast(&m->cond);
		wake_main(m);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

/* --- the main thread's interface ------------------------------------------------------------- */

int mig_send_init(struct mig_send *m, struct board *b)
{
	memset(m, 0, sizeof(*m));
	m->b = b;
	m->fd = -1;
	m->state.mem_fd = -1;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	atomic_init(&m->cancel, false);
	m->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->event_fd < 0 || eventloop_add(&b->vm.loop, m->event_fd, POLLIN, event_cb, m) < 0) {
		pr_err("cannot set up migrations: %s", m->event_fd < 0 ? strerror(errno) : "no room in the event loop");
		return -ENOSPC;
	}
	int err = thread_start_unsignalled(&m->thread, sender_thread, m);
	if (err) {
		pr_err("cannot start the migration thread: %s", strerror(err));
		return -err;
	}
	m->thread_started = true;
	return 0;
}

bool mig_send_active(const struct mig_send *m)
{
	return m->step != MIG_IDLE;
}

int mig_send_start(struct mig_send *m, const char *addr, unsigned int downtime_ms, mig_done_fn *done, void *opaque,
		   char *msg, size_t cap)
{
	struct snap_header h;
	size_t bitmap = guest_mem_bitmap_bytes(&m->b->vm.mem);

	if (mig_send_active(m)) {
		snprintf(msg, cap, "a migration of this VM is already in progress");
		return -EBUSY;
	}
	log_clear_error();
	if (mig_addr_parse(addr, &m->addr) < 0) {
		snprintf(msg, cap, "%s", log_last_error());
		return -EINVAL;
	}
	free(m->dirty);
	free(m->scratch);
	free(m->buf);
	snap_buf_free(&m->conf);
	snap_buf_free(&m->netconf);
	m->dirty = malloc(bitmap);
	m->scratch = malloc(bitmap);
	m->buf = malloc(8 + MIG_MAX_RUN * m->b->vm.mem.page_size);
	snapshot_header(m->b, &h);
	board_conf_save(m->b, &m->conf);
	if (board_netconf_needed(m->b))
		board_netconf_save(m->b, &m->netconf);
	mig_hello_payload(m->hello, &h, m->netconf.len ? MIG_HELLO_NETCONF : 0);
	if (!m->dirty || !m->scratch || !m->buf || m->conf.err || m->netconf.err) {
		snprintf(msg, cap, "out of memory starting the migration");
		return -ENOMEM;
	}
	m->max_downtime_ns = (uint64_t)(downtime_ms ? downtime_ms : MIG_DEFAULT_DOWNTIME_MS) * 1000000ull;
	m->done = done;
	m->opaque = opaque;
	m->result = 0;
	m->msg[0] = 0;
	m->st = (struct mig_stats){ 0 };
	m->released = 0;
	m->paused_here = false;
	m->stop_ret = 0;
	atomic_store(&m->cancel, false);
	if (!m->thread_started) {
		snprintf(msg, cap, "this VM has no migration thread");
		return -ENOSYS;
	}
	pthread_mutex_lock(&m->lock);
	m->step = MIG_RUNNING;
	m->busy = true;
	m->job = true;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	pr_info("migrating to %s", m->addr.text);
	return 0;
}

void mig_send_cancel(struct mig_send *m)
{
	if (!mig_send_active(m))
		return;
	pthread_mutex_lock(&m->lock);
	atomic_store(&m->cancel, true);
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	if (m->fd >= 0)
		shutdown(m->fd, SHUT_RDWR);
	wait_sender_idle(m);
	/* Unless the destination confirmed already, the VM ends here with the migration unfinished. */
	if (m->result == 0 && m->st.downtime_ns == 0)
		m->result = fail(m, -ECANCELED, "the VM ended during the migration");
	finish_step(m);
}

void mig_send_destroy(struct mig_send *m)
{
	mig_send_cancel(m);
	if (m->thread_started) {
		pthread_mutex_lock(&m->lock);
		m->quit = true;
		pthread_cond_broadcast(&m->cond);
		pthread_mutex_unlock(&m->lock);
		pthread_join(m->thread, NULL);
		m->thread_started = false;
	}
	close_fd(&m->event_fd);
	free(m->dirty);
	free(m->scratch);
	free(m->buf);
	snap_buf_free(&m->conf);
	snap_buf_free(&m->netconf);
	pthread_mutex_destroy(&m->lock);
	pthread_cond_destroy(&m->cond);
}
