/* Command-line options of "armvmm run" (kvmtool-compatible where kvmtool has the option). */
#ifndef ARMVMM_OPTIONS_H
#define ARMVMM_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/log.h"

enum irqchip_request {
	IRQCHIP_REQ_AUTO,		/* in-kernel GICv3 → in-kernel GICv2 (device, then legacy) → userspace GICv2 */
	IRQCHIP_REQ_GICV2,		/* in-kernel GICv2, else the userspace model (said at info level) */
	IRQCHIP_REQ_GICV2_KERNEL,	/* in-kernel GICv2 or fail */
	IRQCHIP_REQ_GICV2_LEGACY,	/* in-kernel GICv2 through KVM_CREATE_IRQCHIP */
	IRQCHIP_REQ_GICV3,
	IRQCHIP_REQ_USER,		/* the userspace GICv2 model */
};

#define VM_DEFAULT_MEM_MIB 256u
/* RAM starts at 2 GiB and a 48-bit IPA space is the architectural ceiling. */
#define VM_MAX_MEM_MIB (((1ull << 48) - 0x80000000ull) >> 20)
#define VM_MAX_CPUS_OPTION 4096u /* a sanity bound; KVM_CAP_MAX_VCPUS is the real limit */

#define VM_MAX_DISKS 8u

enum console_type { CONSOLE_SERIAL, CONSOLE_VIRTIO };

enum disk_io { DISK_IO_AUTO, DISK_IO_URING, DISK_IO_THREAD };

struct disk_config {
	const char *path;
	bool read_only;
	enum disk_io io;	/* io_uring, falling back to a thread; or forced */
};

struct vm_config {
	const char *kernel_path;
	const char *initrd_path;
	const char *cmdline;	/* user's -p, may be NULL */
	const char *dump_dtb_path;
	unsigned int nr_cpus;
	uint64_t mem_size;	/* bytes */
	enum irqchip_request irqchip;
	enum log_level loglevel;
	bool nodefaults;	/* no virtio-rng and no RTC unless asked for */
	enum console_type console;
	struct disk_config disks[VM_MAX_DISKS];
	unsigned int nr_disks;
	const char *name;		/* --name: listen on the control socket of that name */
	const char *script_path;	/* --script: drive the console from a script */
	unsigned int script_start;	/* first script command to run (a migrated run continues) */
	const char *script_input;	/* console input a migrated run sends before anything else */
	const char *restore_dir;	/* "armvmm restore DIR": the snapshot to continue */
};

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
