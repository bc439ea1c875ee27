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
/* Does the script have a "migrate" command from where it starts? */
bool script_migrates(const struct script *s);
/*
 * Before any thread exists (and before the sandbox, which allows no new
 * process): fork the process that will run "armvmm restore" should the script
 * migrate. It waits on a pipe and execs only when told to. 0 or -errno after
 * one error line.
 */
int script_start_launcher(struct script *s, const struct vm_config *cfg);
/* After the VM ended: true if the script migrated it, with the migration directory and the command to continue at. */
bool script_migration(const struct script *s, char *dir, size_t cap, unsigned int *start);
/*
 * After a "migrate" tore this VM down: have the launcher run "armvmm restore"
 * on the snapshot, continuing the script at command start; wait for it,
 * remove the migration directory, and return that process's exit status.
 */
int script_migrate_continue(struct script *s, const char *migrate_dir, unsigned int start);
/* No migration after all: let the launcher go (script_free does this too). */
void script_stop_launcher(struct script *s);

#endif
