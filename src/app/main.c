/* armvmm: a userspace VMM for arm64 KVM. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "app/control.h"
#include "core/log.h"
#include "app/options.h"
#include "app/run.h"
#include "core/vm.h"

static void print_usage(FILE *f)
{
	fprintf(f, "usage: armvmm <command> [options]\n"
		   "\n"
		   "commands:\n"
		   "  run        boot a guest (see 'armvmm run --help')\n"
		   "  restore    continue a VM from a snapshot directory, or receive a migrating one\n"
		   "             (see 'armvmm restore --help')\n"
		   "  list       list your running VMs\n"
		   "  pause      pause a VM: armvmm pause NAME\n"
		   "  resume     let a paused VM run on: armvmm resume NAME\n"
		   "  stop       end a VM: armvmm stop NAME\n"
		   "  snapshot   save a VM to a directory: armvmm snapshot NAME DIR [--stop]\n"
		   "  migrate    send a running VM to another armvmm:\n"
		   "             armvmm migrate NAME unix:PATH|tcp:HOST:PORT [--downtime-ms N]\n"
		   "             (each takes --help; VMs are named with 'armvmm run --name NAME')\n"
		   "\n"
		   "  armvmm --help | --version\n");
}

/* The commands that talk to a running VM over its control socket. */
static bool is_control_command(const char *cmd)
{
	static const char *const cmds[] = { "list", "pause", "resume", "stop", "snapshot", "migrate" };

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(cmd, cmds[i]) == 0)
			return true;
	return false;
}

int main(int argc, char **argv)
{
	struct vm_config cfg;
	int ret;

	if (argc < 2) {
		print_usage(stderr);
		return VM_EXIT_ERROR;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		print_usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("armvmm %s\n", ARMVMM_VERSION);
		return 0;
	}
	if (is_control_command(argv[1]))
		return control_client_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "restore") == 0)
		ret = options_parse_restore(argc - 1, argv + 1, &cfg);
	else if (strcmp(argv[1], "run") == 0)
		ret = options_parse_run(argc - 1, argv + 1, &cfg);
	else {
		pr_err("unknown command '%s' (try 'armvmm --help')", argv[1]);
		return VM_EXIT_ERROR;
	}
	if (ret)
		return ret > 0 ? 0 : VM_EXIT_ERROR;
	log_threshold = cfg.loglevel;
	return run_vm(&cfg);
}
