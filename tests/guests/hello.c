/*
 * hello.bin: prints one line and powers off.  Uses the DTB only to find the
 * UART; with a missing/broken DTB it still talks to 0x01000000.
 */
#include "guest.h"

void guest_main(uintptr_t dtb)
{
	guest_init(dtb, false);
	kputs("hello from armvmm guest\n");
	psci_system_off();
}
