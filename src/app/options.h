/* Command-line options of "armvmm run" (kvmtool-compatible where kvmtool has the option). */
#ifndef ARMVMM_OPTIONS_H
#define ARMVMM_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "board/config.h"

/* "armvmm", "armvmm --help", "armvmm help": the commands, in kvmtool's layout. */
void options_print_usage(FILE *f);
/* name is one of the commands usage lists. */
bool options_is_command(const char *name);
/*
 * Parse "armvmm run" arguments (argv[0] is "run"). Returns 0 on success,
 * 1 when help was printed (exit 0), or -EINVAL after printing one error line.
 */
int options_parse_run(int argc, char **argv, struct vm_config *cfg);
void options_print_run_help(void);
/*
 * Parse "armvmm restore DIR [options]" (argv[0] is "restore"); the rest of
 * cfg comes from the snapshot. Same return values as options_parse_run.
 */
int options_parse_restore(int argc, char **argv, struct vm_config *cfg);
void options_print_restore_help(void);
int options_parse_mem_mib(const char *arg, uint64_t *bytes);
const char *irqchip_request_name(enum irqchip_request req);

#endif
