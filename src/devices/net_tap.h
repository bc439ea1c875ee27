/*
 * The host side of a virtio-net device: a tap interface (Documentation/
 * networking/tuntap.rst). An existing tap is attached by name; a name that
 * does not exist (or none: the kernel picks tapN) is created, which takes
 * CAP_NET_ADMIN, and brought up. Frames carry the 12-byte virtio-net header
 * (IFF_VNET_HDR, TUNSETVNETHDRSZ), so checksum and segmentation offloads pass
 * between the guest and the host's stack unchanged. Addressing the host side
 * is the user's business.
 *
 * A tap deleted under a running NIC is attached again by name on the NIC's
 * I/O thread, which is sandboxed by then: it may open /dev/net/tun but no
 * socket, so the socket the interface ioctls need (is it there, bring it up)
 * is made at the first open and kept until net_tap_release.
 */
#ifndef ARMVMM_NET_TAP_H
#define ARMVMM_NET_TAP_H

#include <net/if.h>
#include <stdbool.h>

struct net_tap {
	int fd;			/* non-blocking; -1 while not attached */
	int sock;		/* for SIOCGIFINDEX / SIOCGIFFLAGS / SIOCSIFFLAGS; -1 before the first open */
	char name[IFNAMSIZ];	/* as the kernel has it */
	bool offloads;		/* the tap takes checksum and TSO offloads (TUNSETOFFLOAD) */
};

/*
 * Attach to (or create) tap name (NULL or "": a new tapN) into tap->fd, set
 * its header size and bring it up. tap->fd and tap->sock start as -1. 0; -EBUSY without a word when busy_quiet
 * and another process holds the tap (a live migration's source still running
 * on this host); else -errno after one line saying what to do.
 */
int net_tap_open(struct net_tap *tap, const char *name, bool busy_quiet);
/* Which offloads the reader (the guest) takes: TUN_F_* flags. 0 or -errno (no message). */
int net_tap_set_offload(const struct net_tap *tap, unsigned int tun_flags);
/* Let go of the tap (tap->fd); the kept socket stays for attaching it again. */
void net_tap_close(struct net_tap *tap);
/* The tap and the kept socket (the NIC's end). */
void net_tap_release(struct net_tap *tap);
/* An interface name the kernel takes: 1 to IFNAMSIZ-1 characters, no '/', ':' or blanks, not "." or "..". */
bool net_ifname_valid(const char *name);

#endif
