/*
 * Sending a running VM to another armvmm ("armvmm migrate NAME ADDR"):
 * a sender thread connects, shakes hands (the destination says whether it
 * can host the VM before anything else happens), turns on KVM's dirty-page
 * log and sends the touched memory while the guest runs, then rounds of
 * the pages dirtied meanwhile until the pause they would cost is below the
 * target (or the rounds stop shrinking); then the main thread pauses the VM
 * and captures its state (snapshot_capture: devices quiesced, disks synced),
 * the devices let go of their disks, and the thread sends the last dirty
 * pages, every state section and the end, and waits for the destination to
 * confirm its vCPUs run. Until then the VM is this process's: on any failure
 * the disks are taken back, the guest resumes, and the caller hears why.
 */
#ifndef ARMVMM_MIGRATION_SEND_H
#define ARMVMM_MIGRATION_SEND_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migration/net.h"
#include "snapshot/snapfile.h"

struct board;

#define MIG_DEFAULT_DOWNTIME_MS 300u
#define MIG_MAX_ROUNDS 30u

struct mig_stats {
	unsigned int rounds;	/* passes over guest memory while the VM ran */
	uint64_t bytes;		/* everything sent, frame headers included */
	uint64_t downtime_ns;	/* from the pause here to the destination's confirmation */
	uint64_t total_ns;
};

/* Main thread: the migration ended; result 0 (the VM runs there now; this one is stopping) or -errno and one line. */
typedef void mig_done_fn(void *opaque, int result, const struct mig_stats *st, const char *msg);

enum mig_step { MIG_IDLE, MIG_RUNNING, MIG_WANT_STOP, MIG_STOPPED, MIG_FINISHED };

struct mig_send {
	struct board *b;
	struct mig_addr addr;
	uint64_t max_downtime_ns;
	mig_done_fn *done;
	void *opaque;
	int fd;				/* the connection, -1 */
	struct mig_writer out;		/* frames to it, gathered */
	struct mig_reader in;		/* its answers */
	pthread_t thread;		/* the sender: started with the VM, waits for a migration */
	bool thread_started;
	bool job, quit;			/* (under lock) a migration to do; the VM is ending: leave */
	bool busy;			/* (under lock) from the start of a migration until the thread is done with it */
	int event_fd;			/* the thread wakes the main thread: stop the VM, or finished */
	pthread_mutex_t lock;		/* guards step, cancel's wake-up and the stop step's results */
	pthread_cond_t cond;
	enum mig_step step;
	atomic_bool cancel;		/* the VM is ending: give up */
	/* The stop step (main thread): */
	int stop_ret;
	bool paused_here;		/* this migration paused the VM (resume it on failure) */
	unsigned int released;		/* devices that let go of their host resources */
	uint64_t pause_ns;		/* CLOCK_MONOTONIC when the pause began */
	struct snap_reader state;	/* the captured state sections */
	/* Built on the main thread at start: the greeting and the configuration. */
	uint8_t hello[48];
	struct snap_buf conf;
	struct snap_buf netconf;	/* NETC for the handshake (empty: no network devices) */
	/* The outcome. */
	int result;
	char msg[512];
	struct mig_stats st;
	uint64_t *dirty, *scratch;	/* page bitmaps */
	uint8_t *buf;			/* MIG_MAX_RUN pages */
};

/* Once per VM: the wake-up eventfd on the main loop. 0 or -errno after one error line. */
int mig_send_init(struct mig_send *m, struct board *b);
/*
 * Main thread: start migrating to addr (downtime_ms: the pause to aim for;
 * 0: the default). 0 when started (done is called later, on the main
 * thread), or -errno with one line in msg (bad address, one already running).
 */
int mig_send_start(struct mig_send *m, const char *addr, unsigned int downtime_ms, mig_done_fn *done, void *opaque,
		   char *msg, size_t cap);
bool mig_send_active(const struct mig_send *m);
/* Main thread, the VM is ending: stop a migration in progress (done is called with an error) and wait for it. */
void mig_send_cancel(struct mig_send *m);
void mig_send_destroy(struct mig_send *m);

#endif
