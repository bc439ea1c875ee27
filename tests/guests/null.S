/*
 * null.bin: PSCI SYSTEM_OFF as the very first instructions, for measuring
 * VM create-to-exit time.  If SYSTEM_OFF returns, try SYSTEM_RESET so the
 * VMM exits non-zero, then stop.
 */
#include "guest_config.h"

	.section .text.boot, "ax"
	.global _start
	.type _start, %function
_start:
	movz	w0, #(PSCI_SYSTEM_OFF & 0xffff)
	movk	w0, #(PSCI_SYSTEM_OFF >> 16), lsl #16
	hvc	#0
	movz	w0, #(PSCI_SYSTEM_RESET & 0xffff)
	movk	w0, #(PSCI_SYSTEM_RESET >> 16), lsl #16
	hvc	#0
1:	wfi
	b	1b
	.size _start, . - _start
	/*
	 * Pad the image to 64 bytes, the size of an arm64 Image header: kvmtool,
	 * which the bench runs on the same file, refuses a shorter kernel. Zeros
	 * at offset 56 are no header magic, so both load it as a flat binary.
	 */
	.fill	64 - (. - _start), 1, 0

	.section .note.GNU-stack, "", %progbits
