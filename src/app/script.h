/*
 * Scripted runs ("armvmm run|restore --script FILE"): a thread stands in for
 * the person at the console. It reads everything the guest prints (and
 * copies it to stdout), waits for text, types input, and asks the main thread
 * to pause, resume, snapshot or migrate the VM. The language is documented in
 * man/armvmm.1 (SCRIPTS); the process's exit status is the script's result.
 */
#ifndef ARMVMM_SCRIPT_H
#define ARMVMM_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>

#include "app/options.h"

struct control_ops;
struct eventloop;
struct script;

#define SCRIPT_DEFAULT_TIMEOUT_S 30u
#define SCRIPT_MAX_COMMANDS 4096u

/* Read and check the whole script (cfg->script_path) before anything runs. 0 or -errno after one error line. */
int script_load(const struct vm_config *cfg, struct script **out);
/* The console's host side for the VM: in_fd is read by the guest's console device, out_fd written by it. */
int script_console_fds(struct script *s, int *in_fd, int *out_fd);
/*
 * Start the script thread (the vCPUs run already). It acts on the VM through
 * ops (the control socket's operations), which run on loop's thread.
 */
int script_start(struct script *s, struct eventloop *loop, const struct control_ops *ops, void *opaque);
/* After the VM ended with vm_status: let the script see it, wait for it; returns the process exit status. */
int script_finish(struct script *s, int vm_status);
void script_free(struct script *s);
/* After the VM ended: true if the script migrated it, with the migration directory and the command to continue at. */
bool script_migration(const struct script *s, char *dir, size_t cap, unsigned int *start);
/*
 * After a "migrate" tore this VM down: run "armvmm restore" on the snapshot in
 * a new process that continues the script at command start, wait for it,
 * remove the migration directory, and return that process's exit status.
 */
int script_migrate_continue(const struct vm_config *cfg, const char *migrate_dir, unsigned int start);

#endif
