/*
 * What the script's files share (script.c runs a script, script_parse.c
 * reads one, script_migrate.c continues one in a new process): the parsed
 * commands and the runner's state. Nothing outside app/script*.c includes it.
 */
#ifndef ARMVMM_APP_SCRIPT_INTERNAL_H
#define ARMVMM_APP_SCRIPT_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/launcher.h"
#include "app/script.h"

struct control_ops;

enum script_op {
	OP_WAIT, OP_SEND, OP_TIMEOUT, OP_SLEEP, OP_PAUSE, OP_RESUME, OP_SNAPSHOT, OP_MIGRATE, OP_EXPECT_EXIT,
	OP_MSI,
};

struct script_cmd {
	enum script_op op;
	unsigned int line;
	char *text;		/* WAIT/SEND: unescaped bytes; SNAPSHOT: directory */
	size_t len;
	unsigned long num;	/* TIMEOUT: seconds; SLEEP: ms; EXPECT_EXIT: status; MSI: DeviceID */
	unsigned long num2;	/* MSI: EventID */
};

enum script_req { REQ_NONE, REQ_PAUSE, REQ_RESUME, REQ_SNAPSHOT, REQ_MIGRATE, REQ_MSI };

#define SCRIPT_WINDOW 65536u	/* unmatched console output kept for WAIT */
#define SCRIPT_CARRIED_MAX 65536u	/* console input a migration carries: one pipe's worth */

struct script {
	const char *path;
	struct script_cmd *cmds;
	unsigned int n, start, pc;
	const char *input_path;	/* input a migrated run sends first */
	char *carried;		/* its contents (read at load time), carried_len bytes */
	size_t carried_len;
	int in_r, in_w, out_r, out_w;
	const struct control_ops *ops;	/* what the VM does for the script (main thread; stop from any) */
	void *ops_opaque;
	int req_fd;		/* eventfd: the script thread asks the main thread to act */
	int end_fd;		/* eventfd: readable once the VM has ended, so a waiting pump returns at once */
	pthread_t thread;
	bool thread_started;
	unsigned int timeout_s;

	pthread_mutex_t lock;	/* guards the request and the VM's end below */
	enum script_req req;
	bool req_done;
	int req_result;
	char req_msg[512];
	bool vm_ended;
	int vm_status;

	int result;		/* the process exit status the script decided, or -1 */
	struct launcher launcher;	/* the process a migration continues in (script_start_launcher) */
	bool migrated;
	char migrate_dir[PATH_MAX];	/* a migrate's directory, for script_migrate_continue */
	unsigned int migrate_start;	/* the command the new process continues at */
	char buf[SCRIPT_WINDOW];
	size_t buf_len;
	/* Console output not yet on stdout: a partial line, held briefly so log lines do not split it. */
	char line[4096];
	size_t line_len;
	uint64_t line_since_ms;
};

#endif
