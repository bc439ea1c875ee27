/*
 * Entry code, secondary-CPU entry and exception vectors shared by the armvmm
 * test guests.
 *
 * Boot contract: the flat binary is loaded at GUEST_LOAD_ADDR and entered at
 * its first byte on CPU 0, EL1h, MMU and caches off, x0 = DTB address.
 * Secondary CPUs enter at secondary_entry (PSCI CPU_ON) with x0 = context id,
 * which for these guests is the CPU index (1 .. GUEST_MAX_CPUS - 1).
 */
#include "guest_config.h"

	.section .text.boot, "ax"
	.global _start
	.type _start, %function
_start:
	msr	daifset, #0xf
	mov	x19, x0				// DTB address from the VMM

	// Zero .bss ourselves: the .bin does not contain it.  Both bounds are
	// 16-byte aligned by the linker script.  Plain stores, no dc zva (it
	// faults on Device memory, which is what everything is with MMU off).
	adrp	x1, __bss_start
	add	x1, x1, :lo12:__bss_start
	adrp	x2, __bss_end
	add	x2, x2, :lo12:__bss_end
1:	cmp	x1, x2
	b.hs	2f
	str	xzr, [x1], #8
	b	1b
2:
	// CPU 0 stack: top of cpu_stacks[0].
	adrp	x1, cpu_stacks
	add	x1, x1, :lo12:cpu_stacks
	mov	x2, #GUEST_STACK_SIZE
	add	sp, x1, x2

	adrp	x1, vector_table
	add	x1, x1, :lo12:vector_table
	msr	vbar_el1, x1
	isb

	mov	x29, #0
	mov	x30, #0
	mov	x0, x19
	bl	guest_c_entry			// does not return
	b	park_cpu
	.size _start, . - _start

	.text
	.global secondary_entry
	.type secondary_entry, %function
	.balign 8
secondary_entry:
	msr	daifset, #0xf
	cbz	x0, bad_ctx
	cmp	x0, #GUEST_MAX_CPUS
	b.hs	bad_ctx
	mov	x19, x0

	// sp = cpu_stacks + (ctx + 1) * GUEST_STACK_SIZE
	adrp	x1, cpu_stacks
	add	x1, x1, :lo12:cpu_stacks
	mov	x2, #GUEST_STACK_SIZE
	madd	x1, x0, x2, x1
	add	sp, x1, x2

	adrp	x1, vector_table
	add	x1, x1, :lo12:vector_table
	msr	vbar_el1, x1
	isb

	mov	x29, #0
	mov	x30, #0
	mov	x0, x19
	bl	secondary_c_entry		// does not return
	b	park_cpu

bad_ctx:
	// Record the bogus context id (bit 63 = valid) for CPU 0 to report,
	// then turn ourselves off without touching any stack.
	adrp	x1, secondary_bad_ctx
	add	x1, x1, :lo12:secondary_bad_ctx
	orr	x2, x0, #0x8000000000000000
	str	x2, [x1]
	dsb	sy
	movz	w0, #(PSCI_CPU_OFF & 0xffff)
	movk	w0, #(PSCI_CPU_OFF >> 16), lsl #16
	hvc	#0
	b	park_cpu
	.size secondary_entry, . - secondary_entry

	.global park_cpu
	.type park_cpu, %function
park_cpu:
	msr	daifset, #0xf
1:	wfi
	b	1b
	.size park_cpu, . - park_cpu

/*
 * Exception vectors.  Only "IRQ, current EL with SP_ELx" (+0x280) is
 * expected; everything else reports FAIL and resets.
 */
.macro unexpected_vector offset
	.balign 0x80
	mov	x0, #\offset
	b	unexpected_common
.endm

	.section .text.vectors, "ax"
	.balign 2048
	.global vector_table
vector_table:
	unexpected_vector 0x000		// current EL, SP0: sync
	unexpected_vector 0x080		// current EL, SP0: IRQ
	unexpected_vector 0x100		// current EL, SP0: FIQ
	unexpected_vector 0x180		// current EL, SP0: SError
	unexpected_vector 0x200		// current EL, SPx: sync
	.balign 0x80			// current EL, SPx: IRQ (+0x280)
	b	irq_entry
	unexpected_vector 0x300		// current EL, SPx: FIQ
	unexpected_vector 0x380		// current EL, SPx: SError
	unexpected_vector 0x400		// lower EL, AArch64
	unexpected_vector 0x480
	unexpected_vector 0x500
	unexpected_vector 0x580
	unexpected_vector 0x600		// lower EL, AArch32
	unexpected_vector 0x680
	unexpected_vector 0x700
	unexpected_vector 0x780
	.balign 0x80

unexpected_common:
	// Whatever sp was, use a known-good one (the fault may be a stack one).
	adrp	x1, emergency_stack_end
	add	x1, x1, :lo12:emergency_stack_end
	mov	sp, x1
	mov	x29, #0
	mrs	x1, esr_el1
	mrs	x2, elr_el1
	mrs	x3, far_el1
	mrs	x4, spsr_el1
	bl	exception_fail			// does not return
	b	park_cpu

irq_entry:
	// Save the caller-saved state (AAPCS64) plus ELR/SPSR; 192 bytes keeps
	// sp 16-byte aligned.
	sub	sp, sp, #192
	stp	x0, x1, [sp, #0]
	stp	x2, x3, [sp, #16]
	stp	x4, x5, [sp, #32]
	stp	x6, x7, [sp, #48]
	stp	x8, x9, [sp, #64]
	stp	x10, x11, [sp, #80]
	stp	x12, x13, [sp, #96]
	stp	x14, x15, [sp, #112]
	stp	x16, x17, [sp, #128]
	stp	x18, x29, [sp, #144]
	mrs	x0, elr_el1
	mrs	x1, spsr_el1
	stp	x30, x0, [sp, #160]
	str	x1, [sp, #176]

	bl	irq_dispatch

	ldr	x1, [sp, #176]
	ldp	x30, x0, [sp, #160]
	msr	elr_el1, x0
	msr	spsr_el1, x1
	ldp	x18, x29, [sp, #144]
	ldp	x16, x17, [sp, #128]
	ldp	x14, x15, [sp, #112]
	ldp	x12, x13, [sp, #96]
	ldp	x10, x11, [sp, #80]
	ldp	x8, x9, [sp, #64]
	ldp	x6, x7, [sp, #48]
	ldp	x4, x5, [sp, #32]
	ldp	x2, x3, [sp, #16]
	ldp	x0, x1, [sp, #0]
	add	sp, sp, #192
	eret

/* Stacks: NOBITS, placed after .bss and deliberately not zeroed. */
	.section .stacks, "aw", %nobits
	.balign 16
	.global cpu_stacks
cpu_stacks:
	.skip	GUEST_STACK_SIZE * GUEST_MAX_CPUS
emergency_stack:
	.skip	GUEST_EMERGENCY_STACK_SIZE
emergency_stack_end:

	.section .note.GNU-stack, "", %progbits
