/*
 * flood.bin: prints numbered lines as fast as the UART takes them, forever.
 * The system tests run it with a console nobody reads, then check that armvmm
 * still pauses, snapshots and stops (the console must never block a vCPU).
 */
#include "guest.h"

void guest_main(uintptr_t dtb)
{
	guest_init(dtb, false);
	kputs("flood: printing until stopped\n");
	for (unsigned long n = 0;; n++)
		kprintf("flood: line %lu: the quick brown fox jumps over the lazy dog\n", n);
}
