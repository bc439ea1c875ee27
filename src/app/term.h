/* The host terminal: raw-ish input while the guest owns the console, restored on every exit. */
#ifndef ARMVMM_TERM_H
#define ARMVMM_TERM_H

/* If fd is a terminal, turn off line editing and echo (signals stay on: Ctrl-C ends the VM). */
int term_raw_enable(int fd);
/* Put the terminal back; safe to call more than once and from a signal handler. */
void term_restore(void);

#endif
