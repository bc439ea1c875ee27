/*
 * A periodic EL1 virtual timer on a fixed schedule, for the guests that must
 * show time kept going across a snapshot or a migration (snap_timer,
 * mig_writer): INTID 27 every period, tick k armed at base + k * period
 * (never "now + period", so a late interrupt, one held up by a pause, does
 * not move the schedule). Each tick checks that the CVAL that fired is the
 * one armed for it (a restored stale CVAL would count a tick twice), that it
 * did not come early, and that CNTVCT never goes backwards; so does every
 * ticker_poll(). Messages start with the guest's name.
 */
#ifndef GUEST_TICKER_H
#define GUEST_TICKER_H

#include "gic.h"

/* Start ticking every period_ms on gic (initialised here), IRQs unmasked. */
void ticker_start(struct gic *gic, const char *who, unsigned int period_ms);
uint64_t ticker_ticks(void);
/* Read the counter with IRQs masked (the backwards check), then unmask; returns the value read. */
uint64_t ticker_poll(const char *where);
/* Spin (no wfi: a timer that never fires must FAIL, not sleep) until n ticks, at most wait_ms. */
void ticker_wait_ready(uint64_t n, unsigned int wait_ms);
/*
 * After the pause: more ticks, and the count within one of what the counter
 * says since base (none lost or doubled; missed ticks come back to back, so
 * catching up is allowed within wait_ms). Then the timer stops, IRQs stay
 * masked; *count and *expected say where it ended.
 */
void ticker_finish(uint64_t more, unsigned int wait_ms, uint64_t *count, uint64_t *expected);

#endif
