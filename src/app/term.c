#include "app/term.h"

#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static struct termios saved;
static int saved_fd = -1;

void term_restore(void)
{
	if (saved_fd >= 0) {
		tcsetattr(saved_fd, TCSANOW, &saved);
		saved_fd = -1;
	}
}

static void term_fatal_signal(int sig)
{
	term_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

int term_raw_enable(int fd)
{
	static bool hooks_installed;
	struct termios raw;

	if (!isatty(fd) || tcgetattr(fd, &saved) < 0)
		return 0;
	raw = saved;
	/* Every key goes to the guest as typed; the guest echoes. ISIG stays, so Ctrl-C/Ctrl-\ stop the VM. */
	raw.c_iflag &= ~(unsigned)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	raw.c_lflag &= ~(unsigned)(ECHO | ECHONL | ICANON | IEXTEN);
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSANOW, &raw) < 0)
		return -1;
	saved_fd = fd;
	if (!hooks_installed) {
		hooks_installed = true;
		atexit(term_restore);
		signal(SIGSEGV, term_fatal_signal);
		signal(SIGBUS, term_fatal_signal);
		signal(SIGABRT, term_fatal_signal);
		signal(SIGFPE, term_fatal_signal);
		signal(SIGILL, term_fatal_signal);
	}
	return 0;
}
