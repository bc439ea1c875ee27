#include "app/options.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/control.h"
#include "devices/net_tap.h"
#include "devices/virtio_vsock.h"

/*
 * The commands, in the order usage lists them. The layout is kvmtool's ("lkvm
 * --help"): harnesses written for kvmtool recognise a launcher by the line
 * "The most commonly used ... commands are:" followed by the commands.
 */
static const struct {
	const char *name, *summary;
} commands[] = {
	{ "run", "Boot a guest from an arm64 kernel Image or a flat binary" },
	{ "restore", "Continue a VM from a snapshot directory, or receive a migrating one" },
	{ "list", "Print the running VMs of this user" },
	{ "pause", "Pause a running VM" },
	{ "resume", "Resume a paused VM" },
	{ "stop", "Stop a running VM" },
	{ "snapshot", "Save a running VM into a snapshot directory" },
	{ "migrate", "Send a running VM to another armvmm (live migration)" },
	{ "version", "Print the version of armvmm" },
	{ "help", "Print this text, or with COMMAND that command's help" },
};

void options_print_usage(FILE *f)
{
	fprintf(f, "\n usage: armvmm COMMAND [ARGS]\n\n The most commonly used armvmm commands are:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "   %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n See 'armvmm help COMMAND' for more information on a specific command.\n\n");
}

bool options_is_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(name, commands[i].name) == 0)
			return true;
	return false;
}

void options_print_run_help(void)
{
	printf("usage: armvmm run [options] [-k] IMAGE\n"
	       "\n"
	       "  -k, --kernel FILE       arm64 Image (plain or gzip) or flat binary to boot\n"
	       "  -i, --initrd FILE       initial ramdisk\n"
	       "  -p, --params STRING     kernel command line (\"console=ttyS0 earlycon\" is put in\n"
	       "                          front unless it names a console or --nodefaults is given)\n"
	       "  -c, --cpus N            number of vCPUs (default 1)\n"
	       "  -m, --mem MiB           guest RAM in MiB, or with a G suffix in GiB (default %u)\n"
	       "  -d, --disk FILE[,ro][,io=uring|thread]\n"
	       "                          virtio-blk disk backed by FILE (up to 8; ro: read-only)\n"
	       "      --console TYPE      serial (16550 UART, default) or virtio (virtio-console, hvc0)\n"
	       "      --irqchip TYPE      auto | gicv3 | gicv3-its | gicv2 | gicv2-kernel | gicv2-legacy | user\n"
	       "                          (default auto: in-kernel GICv3, else in-kernel GICv2,\n"
	       "                          else the userspace GICv2 model; gicv3-its adds an ITS)\n"
	       "      --pmu               give every vCPU a PMUv3 (arm,armv8-pmuv3, interrupt PPI 7)\n"
	       "      --dump-dtb FILE     write the generated device tree to FILE and exit\n"
	       "      --loglevel LEVEL    error | warning | info | debug (default warning)\n"
	       "      --nodefaults        nothing implicit: no virtio-rng, no PL031 RTC, and the\n"
	       "                          kernel command line exactly as --params gives it\n"
	       "  -n, --network mode=tap[,tapif=NAME][,vhost=1][,guest_mac=XX:XX:XX:XX:XX:XX]\n"
	       "                          a virtio-net NIC on a tap (up to %u; created when NAME is\n"
	       "                          absent or not there); mode=none (the default): no NIC\n"
	       "      --vsock CID         a virtio-vsock device (vhost-vsock) with guest CID CID\n"
	       "      --name NAME         listen on a control socket: 'armvmm pause|resume|stop|snapshot NAME'\n"
	       "      --script FILE       drive the console from a script (see armvmm(1), SCRIPTS)\n"
	       "      --sandbox on|off    seccomp filter per thread (default on; off for debugging)\n"
	       "      --jail DIR          run in new mount, PID, IPC and network namespaces with DIR\n"
	       "                          as the root (see armvmm(1), SANDBOX)\n"
	       "      --uid N, --gid N    the user and group to drop to in the jail (needed as root)\n"
	       "  -h, --help              this text\n"
	       "\n"
	       "Exit status: 0 guest powered off, 1 error, 3 guest requested a reset,\n"
	       "4 guest crashed, 5 script failed, 130/143 stopped by SIGINT/SIGTERM.\n",
	       VM_DEFAULT_MEM_MIB, NET_MAX_NICS);
}

static int parse_irqchip(const char *arg, enum irqchip_request *req)
{
	static const enum irqchip_request all[] = {
		IRQCHIP_REQ_AUTO, IRQCHIP_REQ_GICV2, IRQCHIP_REQ_GICV2_KERNEL,
		IRQCHIP_REQ_GICV2_LEGACY, IRQCHIP_REQ_GICV3, IRQCHIP_REQ_GICV3_ITS, IRQCHIP_REQ_USER,
	};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (strcmp(arg, irqchip_request_name(all[i])) == 0) {
			*req = all[i];
			return 0;
		}
	}
	return -EINVAL;
}

const char *irqchip_request_name(enum irqchip_request req)
{
	switch (req) {
	case IRQCHIP_REQ_AUTO: return "auto";
	case IRQCHIP_REQ_GICV2: return "gicv2";
	case IRQCHIP_REQ_GICV3: return "gicv3";
	case IRQCHIP_REQ_GICV3_ITS: return "gicv3-its";
	case IRQCHIP_REQ_GICV2_KERNEL: return "gicv2-kernel";
	case IRQCHIP_REQ_GICV2_LEGACY: return "gicv2-legacy";
	case IRQCHIP_REQ_USER: return "user";
	}
	return "?";
}

static int parse_uint(const char *arg, unsigned long long max, unsigned long long *out, char **end)
{
	errno = 0;
	if (!arg || !isdigit((unsigned char)*arg)) /* strtoull would take spaces and signs */
		return -EINVAL;
	unsigned long long v = strtoull(arg, end, 10);
	if (errno || *end == arg || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int options_parse_mem_mib(const char *arg, uint64_t *bytes)
{
	unsigned long long v;
	char *end;

	if (parse_uint(arg, VM_MAX_MEM_MIB, &v, &end) < 0)
		return -EINVAL;
	if (*end == 'G' || *end == 'g') {
		if (v > VM_MAX_MEM_MIB / 1024)
			return -EINVAL;
		v *= 1024;
		end++;
	} else if (*end == 'M' || *end == 'm') {
		end++;
	}
	if (*end != '\0' || v == 0 || v > VM_MAX_MEM_MIB)
		return -EINVAL;
	*bytes = (uint64_t)v << 20;
	return 0;
}

enum {
	OPT_IRQCHIP = 256, OPT_DUMP_DTB, OPT_LOGLEVEL, OPT_NODEFAULTS, OPT_CONSOLE,
	OPT_NAME, OPT_SCRIPT, OPT_SCRIPT_START, OPT_SCRIPT_INPUT, OPT_VSOCK, OPT_PMU, OPT_SANDBOX,
	OPT_JAIL, OPT_UID, OPT_GID, OPT_INCOMING, OPT_REMAP, OPT_ALLOW_CHANGED, OPT_SCRIPT_RESTORED,
};

/* The options run and restore share, for both getopt tables. */
#define SHARED_LONGOPTS                                                         \
	{ "name", required_argument, NULL, OPT_NAME },                          \
	{ "script", required_argument, NULL, OPT_SCRIPT },                      \
	{ "loglevel", required_argument, NULL, OPT_LOGLEVEL },                  \
	{ "sandbox", required_argument, NULL, OPT_SANDBOX },                    \
	{ "jail", required_argument, NULL, OPT_JAIL },                          \
	{ "uid", required_argument, NULL, OPT_UID },                            \
	{ "gid", required_argument, NULL, OPT_GID }

/* --uid / --gid: a number below 2^31 - 1 ((uid_t)-1 means "unchanged" to the kernel). */
static int parse_id(const char *opt, const char *arg, long *out)
{
	unsigned long long v;
	char *end;

	if (parse_uint(arg, 0x7ffffffeull, &v, &end) < 0 || *end) {
		pr_err("%s '%s': give a numeric id from 0 to 2147483646", opt, arg);
		return -EINVAL;
	}
	*out = (long)v;
	return 0;
}

static int parse_name(const char *arg)
{
	if (!control_name_valid(arg)) {
		pr_err("--name '%s': use 1 to %u characters from A-Z a-z 0-9 . _ - (not starting with '.')", arg,
		       CONTROL_NAME_MAX);
		return -EINVAL;
	}
	return 0;
}

/* -d FILE[,ro][,io=uring|thread]: the options follow the last comma-free path part. */
static int parse_disk(const char *arg, struct disk_config *d)
{
	char *s = strdup(arg), *opt;

	if (!s)
		return -ENOMEM;
	*d = (struct disk_config){ .path = s };
	opt = strchr(s, ',');
	if (opt)
		*opt++ = '\0';
	while (opt) {
		char *next = strchr(opt, ',');
		if (next)
			*next++ = '\0';
		if (strcmp(opt, "ro") == 0)
			d->read_only = true;
		else if (strcmp(opt, "io=uring") == 0)
			d->io = DISK_IO_URING;
		else if (strcmp(opt, "io=thread") == 0)
			d->io = DISK_IO_THREAD;
		else
			break;
		opt = next;
	}
	if (opt || !*s) {
		free(s);
		return -EINVAL;
	}
	return 0;
}

/* XX:XX:XX:XX:XX:XX, hex digits, a unicast address. */
static int parse_mac(const char *s, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++) {
		if (!isxdigit((unsigned char)s[0]) || !isxdigit((unsigned char)s[1]) || s[2] != (i < 5 ? ':' : '\0'))
			return -EINVAL;
		mac[i] = (uint8_t)strtoul((char[3]){ s[0], s[1], 0 }, NULL, 16);
		s += 3;
	}
	return (mac[0] & 1) ? -EINVAL : 0; /* the group bit: a NIC's own address is unicast */
}

/*
 * --network mode=tap[,tapif=NAME][,vhost=0|1][,guest_mac=MAC] (kvmtool's
 * spelling) or mode=none. 1: a NIC in *n; 0: mode=none; -EINVAL after one line.
 */
static int parse_network(const char *arg, struct net_config *n)
{
	char *s = strdup(arg), *opt = s;
	bool tap = false, none = false;

	if (!s)
		return -ENOMEM;
	*n = (struct net_config){ 0 };
	while (opt) {
		char *next = strchr(opt, ',');
		if (next)
			*next++ = '\0';
		if (strcmp(opt, "mode=tap") == 0) {
			tap = true;
		} else if (strcmp(opt, "mode=none") == 0) {
			none = true;
		} else if (strncmp(opt, "mode=", 5) == 0) {
			pr_err("--network '%s': armvmm has mode=tap and mode=none (no user-mode networking)", arg);
			goto bad;
		} else if (strncmp(opt, "tapif=", 6) == 0) {
			if (!net_ifname_valid(opt + 6)) {
				pr_err("--network '%s': tapif needs an interface name of 1 to %d characters without '/', ':' or blanks",
				       arg, IFNAMSIZ - 1);
				goto bad;
			}
			n->tapif = opt + 6;
		} else if (strcmp(opt, "vhost=1") == 0 || strcmp(opt, "vhost=0") == 0) {
			n->vhost = opt[6] == '1';
		} else if (strncmp(opt, "guest_mac=", 10) == 0) {
			if (parse_mac(opt + 10, n->mac) < 0) {
				pr_err("--network '%s': guest_mac needs a unicast address XX:XX:XX:XX:XX:XX", arg);
				goto bad;
			}
			n->has_mac = true;
		} else {
			pr_err("--network '%s': unknown '%s' (give mode=tap[,tapif=NAME][,vhost=1][,guest_mac=XX:XX:XX:XX:XX:XX] or mode=none)",
			       arg, opt);
			goto bad;
		}
		opt = next;
	}
	if (tap == none) {
		pr_err("--network '%s': give exactly one of mode=tap or mode=none", arg);
		goto bad;
	}
	if (none && (n->tapif || n->vhost || n->has_mac)) {
		pr_err("--network '%s': mode=none takes no other settings", arg);
		goto bad;
	}
	if (none)
		free(s);
	return tap ? 1 : 0;
bad:
	free(s);
	return -EINVAL;
}

static int parse_vsock(const char *arg, uint32_t *cid)
{
	unsigned long long v;
	char *end;

	if (parse_uint(arg, VSOCK_CID_MAX, &v, &end) < 0 || *end || v < VSOCK_CID_MIN) {
		pr_err("--vsock '%s': give the guest's CID, a whole number from %u to %u", arg, VSOCK_CID_MIN,
		       VSOCK_CID_MAX);
		return -EINVAL;
	}
	*cid = (uint32_t)v;
	return 0;
}

/* Options run and restore share: 1 when opt was one of them, 0 when not, -EINVAL after an error line. */
static int parse_shared_option(int opt, const char *arg, struct vm_config *cfg)
{
	switch (opt) {
	case OPT_LOGLEVEL:
		if (log_level_parse(arg, &cfg->loglevel) < 0) {
			pr_err("--loglevel '%s': choose error, warning, info or debug", arg);
			return -EINVAL;
		}
		return 1;
	case OPT_NAME:
		if (parse_name(arg) < 0)
			return -EINVAL;
		cfg->name = arg;
		return 1;
	case OPT_SCRIPT:
		cfg->script_path = arg;
		return 1;
	case OPT_SANDBOX:
		if (strcmp(arg, "on") != 0 && strcmp(arg, "off") != 0) {
			pr_err("--sandbox '%s': choose on or off", arg);
			return -EINVAL;
		}
		cfg->sandbox_off = strcmp(arg, "off") == 0;
		return 1;
	case OPT_JAIL:
		if (!*arg) {
			pr_err("--jail needs a directory");
			return -EINVAL;
		}
		cfg->jail_dir = arg;
		return 1;
	case OPT_UID:
		return parse_id("--uid", arg, &cfg->jail_uid) < 0 ? -EINVAL : 1;
	case OPT_GID:
		return parse_id("--gid", arg, &cfg->jail_gid) < 0 ? -EINVAL : 1;
	}
	return 0;
}

/* After parsing: the jail options make sense together. */
static int check_process_options(const struct vm_config *cfg)
{
	if (!cfg->jail_dir && (cfg->jail_uid >= 0 || cfg->jail_gid >= 0)) {
		pr_err("--uid and --gid are for --jail: give --jail DIR too");
		return -EINVAL;
	}
	if ((cfg->jail_uid >= 0) != (cfg->jail_gid >= 0)) {
		pr_err("--jail: give both --uid and --gid, or neither");
		return -EINVAL;
	}
	if (cfg->jail_dir && cfg->incoming) {
		pr_err("--incoming: a jail has its own network namespace and root, where the address is not reachable: leave out --jail");
		return -EINVAL;
	}
	if (cfg->jail_dir && cfg->dump_dtb_path) {
		pr_err("--dump-dtb does not run a VM: leave out --jail");
		return -EINVAL;
	}
	/* A restore learns its network devices from the snapshot: snapshot_restore says the same. */
	if (cfg->jail_dir && (cfg->nr_nics || cfg->vsock_cid)) {
		pr_err("--jail: the jail's network namespace has no taps and its root no /dev/net/tun or vhost devices: leave out --jail to use --network mode=tap or --vsock");
		return -EINVAL;
	}
	return 0;
}

int options_parse_run(int argc, char **argv, struct vm_config *cfg)
{
	static const struct option longopts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "params", required_argument, NULL, 'p' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "mem", required_argument, NULL, 'm' },
		{ "irqchip", required_argument, NULL, OPT_IRQCHIP },
		{ "dump-dtb", required_argument, NULL, OPT_DUMP_DTB },
		{ "nodefaults", no_argument, NULL, OPT_NODEFAULTS },
		{ "network", required_argument, NULL, 'n' },
		{ "vsock", required_argument, NULL, OPT_VSOCK },
		{ "disk", required_argument, NULL, 'd' },
		{ "console", required_argument, NULL, OPT_CONSOLE },
		{ "pmu", no_argument, NULL, OPT_PMU },
		SHARED_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long v;
	char *end;
	int opt;

	*cfg = (struct vm_config){
		.nr_cpus = 1,
		.mem_size = (uint64_t)VM_DEFAULT_MEM_MIB << 20,
		.irqchip = IRQCHIP_REQ_AUTO,
		.loglevel = LOG_WARN,
		.jail_uid = -1,
		.jail_gid = -1,
	};

	optind = 0; /* full reset: callers (and unit tests) may parse more than once */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":k:i:p:c:m:d:n:h", longopts, NULL)) != -1) {
		int shared = parse_shared_option(opt, optarg, cfg);
		if (shared < 0)
			return shared;
		if (shared)
			continue;
		switch (opt) {
		case 'k': cfg->kernel_path = optarg; break;
		case 'i': cfg->initrd_path = optarg; break;
		case 'p': cfg->cmdline = optarg; break;
		case 'c':
			if (parse_uint(optarg, VM_MAX_CPUS_OPTION, &v, &end) < 0 || *end || v == 0) {
				pr_err("--cpus '%s': give a whole number from 1 to %u", optarg, VM_MAX_CPUS_OPTION);
				return -EINVAL;
			}
			cfg->nr_cpus = (unsigned int)v;
			break;
		case 'm':
			if (options_parse_mem_mib(optarg, &cfg->mem_size) < 0) {
				pr_err("--mem '%s': give the RAM size in MiB from 1 to %llu (or NG for GiB)",
				       optarg, (unsigned long long)VM_MAX_MEM_MIB);
				return -EINVAL;
			}
			break;
		case OPT_IRQCHIP:
			if (parse_irqchip(optarg, &cfg->irqchip) < 0) {
				pr_err("--irqchip '%s': choose auto, gicv3, gicv3-its, gicv2, gicv2-kernel, gicv2-legacy or user",
				       optarg);
				return -EINVAL;
			}
			break;
		case 'd':
			if (cfg->nr_disks == VM_MAX_DISKS) {
				pr_err("--disk: at most %u disks", VM_MAX_DISKS);
				return -EINVAL;
			}
			if (parse_disk(optarg, &cfg->disks[cfg->nr_disks]) < 0) {
				pr_err("--disk '%s': give FILE[,ro][,io=uring|thread]", optarg);
				return -EINVAL;
			}
			cfg->nr_disks++;
			break;
		case OPT_CONSOLE:
			if (strcmp(optarg, "serial") == 0)
				cfg->console = CONSOLE_SERIAL;
			else if (strcmp(optarg, "virtio") == 0)
				cfg->console = CONSOLE_VIRTIO;
			else {
				pr_err("--console '%s': choose serial or virtio", optarg);
				return -EINVAL;
			}
			break;
		case OPT_DUMP_DTB: cfg->dump_dtb_path = optarg; break;
		case OPT_NODEFAULTS: cfg->nodefaults = true; break;
		case OPT_PMU: cfg->pmu = true; break;
		case 'n': {
			struct net_config nic;
			int r = parse_network(optarg, &nic);
			if (r < 0)
				return r;
			if (r == 1 && cfg->nr_nics == NET_MAX_NICS) {
				pr_err("--network: at most %u NICs", NET_MAX_NICS);
				return -EINVAL;
			}
			if (r == 1)
				cfg->nics[cfg->nr_nics++] = nic;
			break;
		}
		case OPT_VSOCK:
			if (parse_vsock(optarg, &cfg->vsock_cid) < 0)
				return -EINVAL;
			break;
		case 'h':
			options_print_run_help();
			return 1;
		case ':':
			pr_err("option '%s' needs a value (see 'armvmm run --help')", argv[optind - 1]);
			return -EINVAL;
		default:
			pr_err("unknown option '%s' (see 'armvmm run --help')", argv[optind - 1]);
			return -EINVAL;
		}
	}
	/* kvmtool's "lkvm run [<options>] [<kernel image>]": one image after the options. */
	if (optind < argc && !cfg->kernel_path)
		cfg->kernel_path = argv[optind++];
	if (optind < argc) {
		pr_err("unexpected argument '%s' (see 'armvmm run --help')", argv[optind]);
		return -EINVAL;
	}
	if (!cfg->kernel_path) {
		pr_err("no kernel given: use -k IMAGE (see 'armvmm run --help')");
		return -EINVAL;
	}
	for (unsigned int i = 0; i < cfg->nr_nics; i++)
		for (unsigned int j = 0; j < i; j++)
			if (cfg->nics[i].tapif && cfg->nics[j].tapif && !strcmp(cfg->nics[i].tapif, cfg->nics[j].tapif)) {
				pr_err("--network: tap '%s' is given to two NICs (one tap per NIC)", cfg->nics[i].tapif);
				return -EINVAL;
			}
	return check_process_options(cfg);
}

void options_print_restore_help(void)
{
	printf("usage: armvmm restore DIR [options]\n"
	       "       armvmm restore --incoming unix:PATH|tcp:ADDR:PORT [options]\n"
	       "\n"
	       "Continue the VM saved in snapshot directory DIR ('armvmm snapshot NAME DIR'),\n"
	       "or wait at the address for one VM that 'armvmm migrate' sends, then run it.\n"
	       "The VM's shape (vCPUs, RAM, irqchip, devices, disks) comes from the snapshot\n"
	       "or the migration.\n"
	       "\n"
	       "      --incoming ADDR     wait for a migrating VM: unix:PATH, tcp:IPv4:PORT or\n"
	       "                          tcp:[IPv6]:PORT (unencrypted: a trusted network only)\n"
	       "      --disk OLD=NEW      the saved disk OLD is the file NEW now (same size)\n"
	       "      --allow-changed-disk  restore even over a disk that changed since the save\n"
	       "                          (its size must not): the guest's file system may break\n"
	       "      --name NAME         listen on a control socket of this name\n"
	       "      --script FILE       drive the console from a script\n"
	       "      --loglevel LEVEL    error | warning | info | debug (default warning)\n"
	       "      --sandbox on|off    seccomp filter per thread (default on)\n"
	       "      --jail DIR          run in namespaces with DIR as the root (see armvmm(1))\n"
	       "      --uid N, --gid N    the user and group to drop to in the jail\n"
	       "  -h, --help              this text\n");
}

/* --disk OLD=NEW: split at the first '=' (so OLD holds none). */
static int parse_remap(const char *arg, struct vm_config *cfg)
{
	const char *eq = strchr(arg, '=');
	char *from;

	if (!eq || eq == arg || !eq[1]) {
		pr_err("--disk '%s': give OLD=NEW, the saved disk's path and where it is now", arg);
		return -EINVAL;
	}
	if (cfg->nr_disk_remaps == VM_MAX_DISKS) {
		pr_err("--disk: at most %u disks", VM_MAX_DISKS);
		return -EINVAL;
	}
	from = strndup(arg, (size_t)(eq - arg));
	if (!from)
		return -ENOMEM;
	cfg->disk_remaps[cfg->nr_disk_remaps++] = (struct disk_remap){ .from = from, .to = eq + 1 };
	return 0;
}

static int parse_count(const char *opt, const char *arg, unsigned int *out)
{
	unsigned long long v;
	char *end;

	if (parse_uint(arg, 1u << 20, &v, &end) < 0 || *end) {
		pr_err("%s '%s': give a whole number", opt, arg);
		return -EINVAL;
	}
	*out = (unsigned int)v;
	return 0;
}

int options_parse_restore(int argc, char **argv, struct vm_config *cfg)
{
	static const struct option longopts[] = {
		SHARED_LONGOPTS,
		{ "incoming", required_argument, NULL, OPT_INCOMING },
		{ "disk", required_argument, NULL, OPT_REMAP },
		{ "allow-changed-disk", no_argument, NULL, OPT_ALLOW_CHANGED },
		/* Internal: a migrating script run passes where to continue. */
		{ "script-start", required_argument, NULL, OPT_SCRIPT_START },
		{ "script-input", required_argument, NULL, OPT_SCRIPT_INPUT },
		{ "script-restored", required_argument, NULL, OPT_SCRIPT_RESTORED },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	*cfg = (struct vm_config){ .loglevel = LOG_WARN, .jail_uid = -1, .jail_gid = -1 };
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		int shared = parse_shared_option(opt, optarg, cfg);
		if (shared < 0)
			return shared;
		if (shared)
			continue;
		switch (opt) {
		case OPT_SCRIPT_START:
			if (parse_count("--script-start", optarg, &cfg->script_start) < 0)
				return -EINVAL;
			break;
		case OPT_SCRIPT_INPUT: cfg->script_input = optarg; break;
		case OPT_SCRIPT_RESTORED: cfg->script_restored = optarg; break;
		case OPT_INCOMING: cfg->incoming = optarg; break;
		case OPT_REMAP:
			if (parse_remap(optarg, cfg) < 0)
				return -EINVAL;
			break;
		case OPT_ALLOW_CHANGED: cfg->allow_changed_disks = true; break;
		case 'h':
			options_print_restore_help();
			return 1;
		case ':':
			pr_err("option '%s' needs a value (see 'armvmm restore --help')", argv[optind - 1]);
			return -EINVAL;
		default:
			pr_err("unknown option '%s' for restore (see 'armvmm restore --help'; the VM's shape comes from the snapshot)",
			       argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (cfg->incoming) {
		if (optind < argc) {
			pr_err("unexpected argument '%s': a VM comes either from a snapshot or --incoming "
			       "(see 'armvmm restore --help')", argv[optind]);
			return -EINVAL;
		}
		return check_process_options(cfg);
	}
	if (optind != argc - 1) {
		pr_err(optind == argc ? "no snapshot given: armvmm restore DIR (see 'armvmm restore --help')"
				      : "unexpected argument '%s' (see 'armvmm restore --help')",
		       argv[optind + 1 < argc ? optind + 1 : optind]);
		return -EINVAL;
	}
	cfg->restore_dir = argv[optind];
	return check_process_options(cfg);
}
