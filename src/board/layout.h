/*
 * The board's guest-physical address map and interrupt assignments: the one
 * place that says where everything is. kvmtool's arm64 layout, so guests and
 * tools written for kvmtool find the same devices at the same places.
 *
 *   0x0100_0000  16550A UART (4 KiB)            SPI 0
 *   0x0101_0000  PL031 RTC (4 KiB)              SPI 1
 *   0x0300_0000  virtio-mmio window, one transport per 0x200, SPI 16 + slot
 *   below 0x3fff_0000  GICv2 CPU interface, or the GICv3 redistributors
 *                      and below them the GICv3 ITS (128 KiB)
 *   0x3fff_0000  GIC distributor
 *   0x8000_0000  RAM
 *
 * SPI n is INTID 32 + n.
 */
#ifndef ARMVMM_BOARD_LAYOUT_H
#define ARMVMM_BOARD_LAYOUT_H

#include <stdint.h>

#include "irqchip/irqchip.h"

#define BOARD_RAM_BASE 0x80000000ull

#define BOARD_UART_BASE 0x01000000ull
#define BOARD_UART_SPI 0u

#define BOARD_RTC_BASE 0x01010000ull
#define BOARD_RTC_SPI 1u

#define BOARD_VIRTIO_WINDOW 0x03000000ull	/* kvmtool's virtio-mmio window (48 MiB), one device per 0x200 */
#define BOARD_VIRTIO_FIRST_SPI 16u
#define BOARD_MAX_VIRTIO 16u

#define BOARD_GIC_DIST_BASE 0x3fff0000ull

/*
 * The GICv3 ITS frame (--irqchip gicv3-its): right below the redistributors,
 * which take GICV3_REDIST_STRIDE per vCPU below the distributor (kvmtool's
 * place for it). Even 4096 vCPUs keep it above the virtio window.
 */
#define BOARD_GIC_ITS_BASE(nr_cpus) \
	(BOARD_GIC_DIST_BASE - GICV3_REDIST_STRIDE * (uint64_t)(nr_cpus) - GICV3_ITS_SIZE)

#endif
