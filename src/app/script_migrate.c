/*
 * A script's "migrate", the part after this VM ended: the launcher (forked
 * before any thread) restores its snapshot in a new armvmm process that
 * continues the script; the snapshot is removed only once that process has
 * restored the VM (until then the snapshot is all there is of it).
 */
#include "app/script_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/vm.h"

bool script_migration(const struct script *s, char *dir, size_t cap, unsigned int *start)
{
	if (!s->migrate_dir[0])
		return false;
	snprintf(dir, cap, "%s", s->migrate_dir);
	*start = s->migrate_start;
	return true;
}

static void remove_migrate_dir(const char *dir)
{
	static const char *const files[] = { "snap/state", "snap/memory", "input", "restored" };
	char p[PATH_MAX + 32];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		unlink(p);
	}
	snprintf(p, sizeof(p), "%s/snap", dir);
	rmdir(p);
	if (rmdir(dir) < 0)
		pr_warn("could not remove the migration directory %s: %s", dir, strerror(errno));
}

bool script_migrates(const struct script *s)
{
	for (unsigned int i = s->start; i < s->n; i++)
		if (s->cmds[i].op == OP_MIGRATE)
			return true;
	return false;
}

int script_start_launcher(struct script *s, const struct vm_config *cfg)
{
	return script_migrates(s) ? launcher_start(&s->launcher, cfg) : 0;
}

void script_stop_launcher(struct script *s)
{
	launcher_stop(&s->launcher);
}

int script_migrate_continue(struct script *s, const char *migrate_dir, unsigned int start)
{
	char restored[PATH_MAX + 16];
	int status = launcher_restore(&s->launcher, migrate_dir, start);
	struct stat st;

	/* The VM lives on only in its snapshot until a new process has restored it: never remove it before. */
	snprintf(restored, sizeof(restored), "%s/restored", migrate_dir);
	if (stat(restored, &st) < 0) {
		pr_err("migrate: the VM could not be restored in a new process; its snapshot is kept in %s/snap "
		       "(armvmm restore %s/snap)", migrate_dir, migrate_dir);
		return VM_EXIT_ERROR;
	}
	remove_migrate_dir(migrate_dir);
	return status;
}
