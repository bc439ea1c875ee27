/*
 * crash.bin: announces itself and asks for PSCI SYSTEM_RESET, which the VMM
 * must turn into a non-zero exit status.
 */
#include "guest.h"

void guest_main(uintptr_t dtb)
{
	guest_init(dtb, false);
	kputs("crash: resetting\n");
	psci_system_reset();
}
