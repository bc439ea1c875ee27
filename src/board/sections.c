/*
 * The snapshot sections this board's devices write (and the board's own
 * network configuration, NETC): how many of each a
 * snapshot may hold, and which every snapshot has. A snapshot is checked
 * against this before anything is built (snapshot/snapfile.h). Plain data,
 * so the snapshot fuzz target links it without the devices.
 */
#include "board/board.h"

#include "core/state.h"
#include "devices/pl031.h"
#include "devices/pmu.h"
#include "devices/uart_8250.h"
#include "devices/virtio_mmio.h"

const struct snap_kind board_snap_kinds[] = {
	{ UART_8250_SNAP_TAG, 1, true, "UART" },
	{ PL031_SNAP_TAG, 1, false, "RTC" },
	{ VIRTIO_MMIO_SNAP_TAG, BOARD_MAX_VIRTIO, false, "virtio slot" },
	{ BOARD_SEC_NETCONF, 1, false, "network configuration" },
	{ PMU_SNAP_TAG, 1, false, "PMU" },
};
const unsigned int board_nr_snap_kinds = sizeof(board_snap_kinds) / sizeof(board_snap_kinds[0]);
