/* armvmm: a userspace VMM for arm64 KVM. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "app/control.h"
#include "core/log.h"
#include "app/options.h"
#include "app/run.h"
#include "core/vm.h"

/* The commands that talk to a running VM over its control socket. */
static bool is_control_command(const char *cmd)
{
	static const char *const cmds[] = { "list", "pause", "resume", "stop", "snapshot" };

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(cmd, cmds[i]) == 0)
			return true;
	return false;
}

static bool is_help(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0 || strcmp(arg, "help") == 0;
}

int main(int argc, char **argv)
{
	static char help_opt[] = "--help";
	struct vm_config cfg;
	int ret;

	/* As kvmtool: no command, --help and help print the commands and succeed. */
	if (argc < 2 || (is_help(argv[1]) && argc == 2)) {
		options_print_usage(stdout);
		return 0;
	}
	/* "armvmm help COMMAND" is "armvmm COMMAND --help". */
	if (strcmp(argv[1], "help") == 0) {
		if (argc > 3 || !options_is_command(argv[2])) {
			pr_err("'armvmm help' takes one command (try 'armvmm help')");
			return VM_EXIT_ERROR;
		}
		if (strcmp(argv[2], "help") == 0 || strcmp(argv[2], "version") == 0) {
			options_print_usage(stdout);
			return 0;
		}
		argv[1] = argv[2];
		argv[2] = help_opt;
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
		pr_err("unknown command '%s' (try 'armvmm help')", argv[1]);
		return VM_EXIT_ERROR;
	}
	if (ret)
		return ret > 0 ? 0 : VM_EXIT_ERROR;
	log_threshold = cfg.loglevel;
	return run_vm(&cfg);
}
