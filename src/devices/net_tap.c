/* The tap interface behind a virtio-net device (net_tap.h). */
#include "devices/net_tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/files.h"
#include "core/log.h"
#include "devices/virtio_net.h"

#define TAP_ALL_OFFLOADS (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN)

static int tap_error(const char *name, bool existed, int err)
{
	const char *n = name && *name ? name : "(new)";

	switch (err) {
	case EPERM:
	case EACCES:
		if (existed)
			pr_err("tap '%s' belongs to another user: make it yours (ip tuntap add %s mode tap user NAME) or run with CAP_NET_ADMIN",
			       n, n);
		else
			pr_err("creating tap '%s' needs CAP_NET_ADMIN: run as root, or first create a persistent tap for your user (ip tuntap add NAME mode tap user USER) and pass tapif=NAME",
			       n);
		break;
	case EBUSY:
		pr_err("tap '%s' is in use by another process (a tap without multi-queue takes one reader)", n);
		break;
	case EINVAL:
		pr_err("'%s' cannot be attached as a tap: it exists as another kind of interface (or a multi-queue tap)", n);
		break;
	default:
		pr_err("attaching tap '%s' failed: %s", n, strerror(err));
	}
	return -err;
}

/*
 * The socket for the interface ioctls, made once (set-up, before the sandbox).
 * Any family reaches them; AF_UNIX is always there and can send nothing
 * anywhere without an address.
 */
static void tap_socket(struct net_tap *tap)
{
	if (tap->sock < 0)
		tap->sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

/* Whether an interface of this name exists (for the messages: attached or created). */
static bool tap_exists(const struct net_tap *tap, const char *name)
{
	struct ifreq ifr = { 0 };

	if (!name || !*name || tap->sock < 0)
		return false;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	return ioctl(tap->sock, SIOCGIFINDEX, &ifr) == 0;
}

/* Up, if it is not: a tap created here starts down. A persistent tap someone else owns may stay down. */
static void tap_bring_up(const struct net_tap *tap)
{
	struct ifreq ifr = { 0 };
	const char *name = tap->name;

	if (tap->sock < 0) {
		pr_warn("tap '%s': no socket to bring it up with; bring it up yourself (ip link set %s up)", name, name);
		return;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(tap->sock, SIOCGIFFLAGS, &ifr) == 0 && !(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(tap->sock, SIOCSIFFLAGS, &ifr) < 0)
			pr_warn("tap '%s' is down and bringing it up failed (%s): run 'ip link set %s up'", name,
				strerror(errno), name);
	}
}

int net_tap_open(struct net_tap *tap, const char *name, bool busy_quiet)
{
	struct ifreq ifr = { 0 };
	unsigned int features = 0;
	int hdr = VIRTIO_NET_HDR_LEN;
	bool existed;
	int err;

	tap_socket(tap);
	existed = tap_exists(tap, name);
	tap->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (tap->fd < 0) {
		err = errno;
		if (err == ENOENT || err == ENODEV)
			pr_err("no /dev/net/tun on this host: load the tun module (modprobe tun)");
		else
			pr_err("cannot open /dev/net/tun: %s", strerror(err));
		return -err;
	}
	if (ioctl(tap->fd, TUNGETFEATURES, &features) < 0 || !(features & IFF_VNET_HDR) || !(features & IFF_TAP)) {
		pr_err("this host's tun driver has no tap with virtio-net headers (IFF_TAP, IFF_VNET_HDR)");
		close_fd(&tap->fd);
		return -ENOTSUP;
	}
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (name)
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(tap->fd, TUNSETIFF, &ifr) < 0) {
		err = errno;
		close_fd(&tap->fd);
		if (err == EBUSY && busy_quiet)
			return -EBUSY;
		return tap_error(name, existed, err);
	}
	snprintf(tap->name, sizeof(tap->name), "%s", ifr.ifr_name);
	if (ioctl(tap->fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		err = errno;
		pr_err("tap '%s': cannot set a %d-byte virtio-net header: %s", tap->name, hdr, strerror(err));
		close_fd(&tap->fd);
		return -err;
	}
	/* Offloads the tap can take; none until the guest has said which it handles. */
	tap->offloads = net_tap_set_offload(tap, TAP_ALL_OFFLOADS) == 0;
	(void)net_tap_set_offload(tap, 0);
	tap_bring_up(tap);
	pr_info("tap '%s' %s%s", tap->name, existed ? "attached" : "created",
		tap->offloads ? ", checksum and TSO offloads available" : "");
	return 0;
}

int net_tap_set_offload(const struct net_tap *tap, unsigned int tun_flags)
{
	return ioctl(tap->fd, TUNSETOFFLOAD, tun_flags) < 0 ? -errno : 0;
}

bool net_ifname_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len >= IFNAMSIZ || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (const char *p = name; *p; p++)
		if (*p == '/' || *p == ':' || *p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

void net_tap_close(struct net_tap *tap)
{
	close_fd(&tap->fd);
}

void net_tap_release(struct net_tap *tap)
{
	close_fd(&tap->fd);
	close_fd(&tap->sock);
}
