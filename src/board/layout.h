/*
 * The board's guest-physical address map and interrupt assignments: the one
 * place that says where everything is. kvmtool's arm64 layout, so guests and
 * tools written for kvmtool find the same devices at the same places.
 *
 *   0x0100_0000  16550A UART (4 KiB)            SPI 0
 *   0x0101_0000  PL031 RTC (4 KiB)              SPI 1
 *   0x0300_0000  virtio-mmio window, one transport per 0x200, SPI 16 + slot
 *   below 0x3fff_0000  GICv2 CPU interface, or the GICv3 redistributors
 *   0x3fff_0000  GIC distributor
 *   0x8000_0000  RAM
 *
 * SPI n is INTID 32 + n.
 */
#ifndef ARMVMM_BOARD_LAYOUT_H
#define ARMVMM_BOARD_LAYOUT_H

#define BOARD_RAM_BASE 0x80000000ull

#define BOARD_UART_BASE 0x01000000ull
#define BOARD_UART_SPI 0u

#define BOARD_RTC_BASE 0x01010000ull
#define BOARD_RTC_SPI 1u

#define BOARD_VIRTIO_WINDOW 0x03000000ull	/* kvmtool's virtio-mmio window (48 MiB), one device per 0x200 */
#define BOARD_VIRTIO_FIRST_SPI 16u
#define BOARD_MAX_VIRTIO 16u

#define BOARD_GIC_DIST_BASE 0x3fff0000ull

#endif
