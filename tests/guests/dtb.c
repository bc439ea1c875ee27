/*
 * dtb.bin: reports what the VMM put in the device tree:
 *   dtb: memory=0x<base> size=0x<size> cpus=<N>
 *   dtb: bootargs=<string>
 *   dtb: gic=v2|v3
 * and checks that the DTB and this image lie inside the memory node.
 */
#include "gic.h"

extern char __image_start[], _end[];

void guest_main(uintptr_t dtb)
{
	const struct fdt *f = &guest_fdt;
	uint64_t base, size, end, dtb_end;
	const char *bootargs, *what = "";
	struct gic g;
	int err, ncpus, chosen;

	guest_init(dtb, true);

	err = dt_memory(f, &base, &size);
	if (err < 0)
		fail("dtb: no usable memory node (device_type = \"memory\" with reg): %s",
		     fdt_strerror(err));
	if (size == 0 || base + size < base)
		fail("dtb: bogus memory reg base=0x%llx size=0x%llx",
		     (unsigned long long)base, (unsigned long long)size);

	err = dt_cpus(f, NULL, 0, &ncpus);
	if (err < 0)
		fail("dtb: cannot read /cpus: %s", fdt_strerror(err));
	if (ncpus == 0)
		fail("dtb: /cpus has no cpu@ nodes");

	end = base + size;
	dtb_end = (uint64_t)dtb + f->totalsize;
	if (dtb < base || dtb_end > end)
		fail("dtb: DTB [0x%llx, 0x%llx) is outside memory [0x%llx, 0x%llx)",
		     (unsigned long long)dtb, (unsigned long long)dtb_end,
		     (unsigned long long)base, (unsigned long long)end);
	if ((uintptr_t)__image_start < base || (uintptr_t)_end > end)
		fail("dtb: guest image [0x%llx, 0x%llx) is outside memory [0x%llx, 0x%llx)",
		     (unsigned long long)(uintptr_t)__image_start,
		     (unsigned long long)(uintptr_t)_end,
		     (unsigned long long)base, (unsigned long long)end);
	if (dtb < (uintptr_t)_end && dtb_end > (uintptr_t)__image_start)
		fail("dtb: DTB at 0x%llx overlaps the guest image", (unsigned long long)dtb);

	kprintf("dtb: memory=0x%llx size=0x%llx cpus=%d\n",
		(unsigned long long)base, (unsigned long long)size, ncpus);

	chosen = fdt_path_offset(f, "/chosen");
	if (chosen < 0)
		fail("dtb: no /chosen node: %s", fdt_strerror(chosen));
	err = fdt_getprop_string(f, chosen, "bootargs", &bootargs);
	if (err < 0)
		fail("dtb: /chosen/bootargs: %s", fdt_strerror(err));
	kprintf("dtb: bootargs=%s\n", bootargs);

	err = gic_probe(f, &g, &what);
	if (err < 0)
		fail("dtb: interrupt controller: %s: %s", what, fdt_strerror(err));
	kprintf("dtb: gic=v%d\n", g.version);

	psci_system_off();
}
