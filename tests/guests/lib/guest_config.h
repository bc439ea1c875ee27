/*
 * Constants shared between the assembly start code and the C library of the
 * armvmm test guests.  Only preprocessor definitions here: this header is
 * included from .S files too.
 */
#ifndef GUEST_CONFIG_H
#define GUEST_CONFIG_H

/* Every guest is linked (and loaded by the VMM) at this address. */
#define GUEST_LOAD_ADDR 0x80080000

/* Maximum number of CPUs the guests can drive (one stack each). */
#define GUEST_MAX_CPUS 32
/* Per-CPU stack size; CPU i uses cpu_stacks[i * STACK + .. (i + 1) * STACK). */
#define GUEST_STACK_SIZE 0x4000
/* Stack used by the unexpected-exception path, whatever state sp was in. */
#define GUEST_EMERGENCY_STACK_SIZE 0x1000

/* PSCI function ids (SMCCC, called through hvc #0). */
#define PSCI_VERSION 0x84000000
#define PSCI_CPU_OFF 0x84000002
#define PSCI_CPU_ON_64 0xC4000003
#define PSCI_AFFINITY_INFO_64 0xC4000004
#define PSCI_SYSTEM_OFF 0x84000008
#define PSCI_SYSTEM_RESET 0x84000009

#endif
