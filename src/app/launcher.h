/*
 * The migration launcher: the process a script's "migrate" continues in.
 * The sandbox lets no thread create a process, so it is forked at the start,
 * while armvmm is still one thread, and waits on a pipe; when the script
 * migrates it becomes "armvmm restore" on the snapshot, and the old process
 * waits for it. Without a migration it just exits.
 */
#ifndef ARMVMM_APP_LAUNCHER_H
#define ARMVMM_APP_LAUNCHER_H

#include <sys/types.h>

#include "board/config.h"

struct launcher {
	pid_t pid;	/* 0: none */
	int fd;		/* the pipe the migration's directory and start go down, or -1 */
};

/* Fork it (before any thread exists) for a run configured as cfg. 0 or -errno after one error line. */
int launcher_start(struct launcher *l, const struct vm_config *cfg);
/*
 * Have it run "armvmm restore <dir>/snap", continuing the script at command
 * start; wait for it and return its exit status (as the process's own).
 */
int launcher_restore(struct launcher *l, const char *dir, unsigned int start);
/* No migration: let it go and reap it. Safe to call twice or without a launcher. */
void launcher_stop(struct launcher *l);

#endif
