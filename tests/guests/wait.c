/*
 * wait.bin: says it is running, then idles in wfi forever with interrupts
 * masked. The system tests stop it from the host (SIGINT/SIGTERM) to check
 * that armvmm ends the VM cleanly and puts the terminal back.
 */
#include "guest.h"

void guest_main(uintptr_t dtb)
{
	guest_init(dtb, false);
	kputs("wait: running until stopped\n");
	for (;;)
		wfi();
}
