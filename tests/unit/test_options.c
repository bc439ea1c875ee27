/* "armvmm run" option parsing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "app/options.h"

#define PARSE(cfg, ...)                                                                      \
	({                                                                                   \
		char *argv[] = { "run", __VA_ARGS__, NULL };                                 \
		options_parse_run((int)(sizeof(argv) / sizeof(argv[0])) - 1, argv, cfg);     \
	})

static void test_defaults_and_kvmtool_options(void **state)
{
	(void)state;
	struct vm_config c;

	assert_int_equal(PARSE(&c, "-k", "Image"), 0);
	assert_string_equal(c.kernel_path, "Image");
	assert_int_equal(c.nr_cpus, 1);
	assert_int_equal(c.mem_size, (uint64_t)VM_DEFAULT_MEM_MIB << 20);
	assert_int_equal(c.irqchip, IRQCHIP_REQ_AUTO);
	assert_null(c.initrd_path);
	assert_null(c.cmdline);

	assert_int_equal(PARSE(&c, "--kernel", "K", "--initrd", "I", "--params", "root=/dev/vda", "--cpus", "4",
			       "--mem", "1024", "--irqchip", "gicv2", "--dump-dtb", "out.dtb", "--loglevel",
			       "debug", "--nodefaults", "--network", "mode=none"), 0);
	assert_string_equal(c.kernel_path, "K");
	assert_string_equal(c.initrd_path, "I");
	assert_string_equal(c.cmdline, "root=/dev/vda");
	assert_int_equal(c.nr_cpus, 4);
	assert_int_equal(c.mem_size, 1024ull << 20);
	assert_int_equal(c.irqchip, IRQCHIP_REQ_GICV2);
	assert_string_equal(c.dump_dtb_path, "out.dtb");
	assert_int_equal(c.loglevel, LOG_DEBUG);
	assert_true(c.nodefaults);

	assert_int_equal(PARSE(&c, "-kImage", "-c2", "-m", "2G", "--irqchip=gicv3"), 0);
	assert_int_equal(c.nr_cpus, 2);
	assert_int_equal(c.mem_size, 2048ull << 20);
	assert_int_equal(c.irqchip, IRQCHIP_REQ_GICV3);

	/* Every --irqchip name maps to its request, and the name round-trips. */
	static const struct { char *name; enum irqchip_request req; } chips[] = {
		{ "auto", IRQCHIP_REQ_AUTO }, { "gicv2", IRQCHIP_REQ_GICV2 },
		{ "gicv2-kernel", IRQCHIP_REQ_GICV2_KERNEL }, { "gicv2-legacy", IRQCHIP_REQ_GICV2_LEGACY },
		{ "gicv3", IRQCHIP_REQ_GICV3 }, { "user", IRQCHIP_REQ_USER }, { "gicv3-its", IRQCHIP_REQ_GICV3_ITS },
	};
	for (size_t i = 0; i < sizeof(chips) / sizeof(chips[0]); i++) {
		assert_int_equal(PARSE(&c, "-k", "K", "--irqchip", chips[i].name), 0);
		assert_int_equal(c.irqchip, chips[i].req);
		assert_string_equal(irqchip_request_name(c.irqchip), chips[i].name);
	}
}

/*
 * A kvmtool harness's invocation, as kvm-unit-tests' arm runner builds it:
 * accepted whole, with the image also as kvmtool's positional argument.
 */
static void test_kvmtool_harness_invocation(void **state)
{
	(void)state;
	struct vm_config c;

	assert_int_equal(PARSE(&c, "--nodefaults", "--network", "mode=none", "--loglevel=warning", "--kernel",
			       "test.flat", "--cpus", "4", "--params", "ipi  x", "--irqchip=gicv3-its", "--pmu",
			       "--mem", "128"), 0);
	assert_true(c.nodefaults);
	assert_true(c.pmu);
	assert_int_equal(c.irqchip, IRQCHIP_REQ_GICV3_ITS);
	assert_string_equal(c.kernel_path, "test.flat");
	assert_string_equal(c.cmdline, "ipi  x");
	assert_int_equal(c.nr_cpus, 4);
	assert_int_equal(c.mem_size, 128ull << 20);
	assert_int_equal(c.loglevel, LOG_WARN);

	/* "lkvm run [<options>] [<kernel image>]": the image after (or between) the options. */
	assert_int_equal(PARSE(&c, "-c", "2", "Image"), 0);
	assert_string_equal(c.kernel_path, "Image");
	assert_false(c.pmu);
	assert_int_equal(PARSE(&c, "Image", "--pmu"), 0);
	assert_string_equal(c.kernel_path, "Image");
	assert_true(c.pmu);
	/* One image: not two, not one with -k as well. */
	assert_int_equal(PARSE(&c, "A", "B"), -EINVAL);
	assert_int_equal(PARSE(&c, "-k", "A", "B"), -EINVAL);
}

/* "armvmm --help": kvmtool's layout, the line harnesses look for, every command. */
static void test_usage_in_kvmtool_form(void **state)
{
	static const char *const cmds[] = { "run", "restore", "list", "pause", "resume", "stop", "snapshot", "migrate" };
	char buf[4096] = "";
	FILE *f = fmemopen(buf, sizeof(buf) - 1, "w");

	(void)state;
	assert_non_null(f);
	options_print_usage(f);
	fclose(f);
	assert_non_null(strstr(buf, "usage: armvmm COMMAND [ARGS]"));
	const char *list = strstr(buf, "\n The most commonly used armvmm commands are:\n");
	assert_non_null(list);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char line[32];
		snprintf(line, sizeof(line), "\n   %s ", cmds[i]);
		const char *at = strstr(list, line);
		assert_non_null(at);
		assert_true(options_is_command(cmds[i]));
	}
	assert_non_null(strstr(buf, "See 'armvmm help COMMAND'"));
	assert_false(options_is_command("frobnicate"));
}

static void test_rejects_bad_values(void **state)
{
	(void)state;
	struct vm_config c;

	assert_int_equal(PARSE(&c, "-k", "K", "-c", "0"), -EINVAL);
	assert_int_equal(PARSE(&c, "-k", "K", "-c", "-1"), -EINVAL);
	assert_int_equal(PARSE(&c, "-k", "K", "-c", "2x"), -EINVAL);
	assert_int_equal(PARSE(&c, "-k", "K", "-c", "99999999999999999999"), -EINVAL);
	assert_int_equal(PARSE(&c, "-k", "K", "-m", "0"), -EINVAL);
	assert_int_equal(PARSE(&c, "-k", "K", "-m", "-5"), -EINVAL);
	assert_int_equal(PARSE(&c, "-k", "K", "-m", "12T"), -EINVAL);
	assert_int_equal(PARSE(&c, "-k", "K", "-m", "999999999999"), -EINVAL);
	assert_int_equal(PARSE(&c, "-k", "K", "-m", "99999999999G"), -EINVAL);
	assert_int_equal(PARSE(&c, "-k", "K", "-m", ""), -EINVAL);
	assert_int_equal(PARSE(&c, "-k", "K", "--irqchip", "gicv4"), -EINVAL);
	assert_int_equal(PARSE(&c, "-k", "K", "--irqchip", "gicv2-"), -EINVAL);
	assert_int_equal(PARSE(&c, "-k", "K", "--irqchip", "USER"), -EINVAL);
	assert_int_equal(PARSE(&c, "-k", "K", "--loglevel", "loud"), -EINVAL);
	assert_int_equal(PARSE(&c, "-k", "K", "--network", "mode=user"), -EINVAL);
	assert_int_equal(PARSE(&c, "-k", "K", "--bogus"), -EINVAL);
	assert_int_equal(PARSE(&c, "-k", "K", "-z"), -EINVAL);
	assert_int_equal(PARSE(&c, "-k", "K", "stray"), -EINVAL);
	assert_int_equal(PARSE(&c, "-k"), -EINVAL);
	assert_int_equal(PARSE(&c, "-c", "2"), -EINVAL); /* no kernel */
}

static void test_disks_and_console(void **state)
{
	(void)state;
	struct vm_config c;

	assert_int_equal(PARSE(&c, "-k", "K", "-d", "root.ext4", "--disk", "data.img,ro", "-d", "x,io=thread,ro",
			       "-d", "y,io=uring", "--console", "virtio"), 0);
	assert_int_equal(c.nr_disks, 4);
	assert_string_equal(c.disks[0].path, "root.ext4");
	assert_false(c.disks[0].read_only);
	assert_int_equal(c.disks[0].io, DISK_IO_AUTO);
	assert_string_equal(c.disks[1].path, "data.img");
	assert_true(c.disks[1].read_only);
	assert_string_equal(c.disks[2].path, "x");
	assert_true(c.disks[2].read_only);
	assert_int_equal(c.disks[2].io, DISK_IO_THREAD);
	assert_int_equal(c.disks[3].io, DISK_IO_URING);
	assert_int_equal(c.console, CONSOLE_VIRTIO);

	assert_int_equal(PARSE(&c, "-k", "K", "-d", "a,rw"), -EINVAL);
	assert_int_equal(PARSE(&c, "-k", "K", "-d", ",ro"), -EINVAL);
	assert_int_equal(PARSE(&c, "-k", "K", "-d", ""), -EINVAL);
	assert_int_equal(PARSE(&c, "-k", "K", "--console", "hvc"), -EINVAL);
	assert_int_equal(PARSE(&c, "-k", "K", "-d", "1", "-d", "2", "-d", "3", "-d", "4", "-d", "5", "-d", "6",
			       "-d", "7", "-d", "8"), 0);
	assert_int_equal(PARSE(&c, "-k", "K", "-d", "1", "-d", "2", "-d", "3", "-d", "4", "-d", "5", "-d", "6",
			       "-d", "7", "-d", "8", "-d", "9"), -EINVAL);
}

/* --network (kvmtool's spelling) and --vsock. */
static void test_network_and_vsock(void **state)
{
	(void)state;
	struct vm_config c;

	assert_int_equal(PARSE(&c, "-k", "K"), 0);
	assert_int_equal(c.nr_nics, 0);
	assert_int_equal(c.vsock_cid, 0);
	assert_int_equal(PARSE(&c, "-k", "K", "--network", "mode=none"), 0);
	assert_int_equal(c.nr_nics, 0);

	assert_int_equal(PARSE(&c, "-k", "K", "--network", "mode=tap", "-n", "tapif=tap7,mode=tap,vhost=1",
			       "--network", "mode=tap,guest_mac=02:AA:bb:0c:0D:ff,vhost=0,tapif=t-x.1", "--vsock", "42"),
			 0);
	assert_int_equal(c.nr_nics, 3);
	assert_null(c.nics[0].tapif);
	assert_false(c.nics[0].vhost);
	assert_false(c.nics[0].has_mac);
	assert_string_equal(c.nics[1].tapif, "tap7");
	assert_true(c.nics[1].vhost);
	assert_string_equal(c.nics[2].tapif, "t-x.1");
	assert_false(c.nics[2].vhost);
	assert_true(c.nics[2].has_mac);
	assert_memory_equal(c.nics[2].mac, ((uint8_t[]){ 0x02, 0xaa, 0xbb, 0x0c, 0x0d, 0xff }), 6);
	assert_int_equal(c.vsock_cid, 42);

	/* Four NICs at most; one tap per NIC. */
	assert_int_equal(PARSE(&c, "-k", "K", "-n", "mode=tap", "-n", "mode=tap", "-n", "mode=tap", "-n", "mode=tap"), 0);
	assert_int_equal(c.nr_nics, 4);
	assert_int_equal(PARSE(&c, "-k", "K", "-n", "mode=tap", "-n", "mode=tap", "-n", "mode=tap", "-n", "mode=tap",
			       "-n", "mode=tap"), -EINVAL);
	assert_int_equal(PARSE(&c, "-k", "K", "-n", "mode=tap,tapif=a", "-n", "mode=tap,tapif=a"), -EINVAL);

	static const char *const bad_network[] = {
		"", "mode=", "tapif=tap0", "mode=tap,mode=none", "mode=none,tapif=x", "mode=tap,vhost=2",
		"mode=tap,vhost", "mode=tap,tapif=", "mode=tap,tapif=a/b", "mode=tap,tapif=a b", "mode=tap,tapif=a:1",
		"mode=tap,tapif=..", "mode=tap,tapif=0123456789abcdef", "mode=tap,guest_mac=01:00:00:00:00:01",
		"mode=tap,guest_mac=02:00:00:00:00", "mode=tap,guest_mac=02:00:00:00:00:0g",
		"mode=tap,guest_mac=02:00:00:00:00:00:00", "mode=tap,guest_mac=0200:00:00:00:00:", "mode=tap,script=x",
		"mode=tap,,vhost=1",
	};
	for (size_t i = 0; i < sizeof(bad_network) / sizeof(bad_network[0]); i++) {
		print_message("--network '%s'\n", bad_network[i]);
		assert_int_equal(PARSE(&c, "-k", "K", "--network", (char *)bad_network[i]), -EINVAL);
	}
	static const char *const bad_cid[] = { "0", "1", "2", "4294967295", "4294967296", "-3", "3x", "", " 5" };
	for (size_t i = 0; i < sizeof(bad_cid) / sizeof(bad_cid[0]); i++)
		assert_int_equal(PARSE(&c, "-k", "K", "--vsock", (char *)bad_cid[i]), -EINVAL);
	assert_int_equal(PARSE(&c, "-k", "K", "--vsock", "3"), 0);
	assert_int_equal(c.vsock_cid, 3);
	assert_int_equal(PARSE(&c, "-k", "K", "--vsock", "4294967294"), 0);
	assert_int_equal(c.vsock_cid, 4294967294u);
}

static void test_help(void **state)
{
	(void)state;
	struct vm_config c;

	assert_int_equal(PARSE(&c, "--help"), 1);
	assert_int_equal(PARSE(&c, "-h"), 1);
}

static void test_mem_sizes(void **state)
{
	(void)state;
	uint64_t b;

	assert_int_equal(options_parse_mem_mib("256", &b), 0);
	assert_int_equal(b, 256ull << 20);
	assert_int_equal(options_parse_mem_mib("256M", &b), 0);
	assert_int_equal(b, 256ull << 20);
	assert_int_equal(options_parse_mem_mib("3g", &b), 0);
	assert_int_equal(b, 3ull << 30);
	assert_int_equal(options_parse_mem_mib("0G", &b), -EINVAL);
	assert_int_equal(options_parse_mem_mib("1.5G", &b), -EINVAL);
	assert_int_equal(options_parse_mem_mib(" 5", &b), -EINVAL);
}

#define PARSE_RESTORE(cfg, ...)                                                              \
	({                                                                                   \
		char *argv[] = { "restore", __VA_ARGS__, NULL };                             \
		options_parse_restore((int)(sizeof(argv) / sizeof(argv[0])) - 1, argv, cfg); \
	})

/* restore DIR, or restore --incoming ADDR; --disk OLD=NEW, --allow-changed-disk with either. */
static void test_restore_and_incoming(void **state)
{
	(void)state;
	struct vm_config c;

	assert_int_equal(PARSE_RESTORE(&c, "/snap", "--disk", "/a/old.img=/b/new.img", "--disk", "x=y=z",
				       "--allow-changed-disk"), 0);
	assert_string_equal(c.restore_dir, "/snap");
	assert_null(c.incoming);
	assert_int_equal(c.nr_disk_remaps, 2);
	assert_string_equal(c.disk_remaps[0].from, "/a/old.img");
	assert_string_equal(c.disk_remaps[0].to, "/b/new.img");
	/* Split at the first '=': OLD holds none, NEW may. */
	assert_string_equal(c.disk_remaps[1].from, "x");
	assert_string_equal(c.disk_remaps[1].to, "y=z");
	assert_true(c.allow_changed_disks);

	assert_int_equal(PARSE_RESTORE(&c, "--incoming", "unix:/tmp/m.sock", "--name", "vm2", "--disk", "a=b"), 0);
	assert_string_equal(c.incoming, "unix:/tmp/m.sock");
	assert_null(c.restore_dir);
	assert_string_equal(c.name, "vm2");
	assert_int_equal(c.nr_disk_remaps, 1);
	assert_false(c.allow_changed_disks);

	/* Both a snapshot and --incoming, neither, and malformed remaps. */
	assert_int_equal(PARSE_RESTORE(&c, "--incoming", "tcp:1.2.3.4:5", "/snap"), -EINVAL);
	assert_int_equal(PARSE_RESTORE(&c, "--name", "x"), -EINVAL);
	assert_int_equal(PARSE_RESTORE(&c, "/snap", "--disk", "noequals"), -EINVAL);
	assert_int_equal(PARSE_RESTORE(&c, "/snap", "--disk", "=new"), -EINVAL);
	assert_int_equal(PARSE_RESTORE(&c, "/snap", "--disk", "old="), -EINVAL);
	assert_int_equal(PARSE_RESTORE(&c, "/snap", "-m", "512"), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_kvmtool_options),
		cmocka_unit_test(test_kvmtool_harness_invocation),
		cmocka_unit_test(test_usage_in_kvmtool_form),
		cmocka_unit_test(test_rejects_bad_values),
		cmocka_unit_test(test_disks_and_console),
		cmocka_unit_test(test_network_and_vsock),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_mem_sizes),
		cmocka_unit_test(test_restore_and_incoming),
	};
	log_threshold = LOG_ERROR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
