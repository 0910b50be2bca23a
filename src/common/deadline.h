/* Monotonic deadlines for bounded waits: a wait made of several system calls
 * (poll, then read, then poll again) ends at one point in time, not after a
 * timeout that restarts at every call.  A NULL deadline means "never". */
#ifndef IMDISK_COMMON_DEADLINE_H
#define IMDISK_COMMON_DEADLINE_H

#include <poll.h>
#include <stdbool.h>
#include <time.h>

/* The CLOCK_MONOTONIC time ms milliseconds from now. */
struct timespec deadline_after_ms(unsigned int ms);
/* Milliseconds left (0 once past, at most INT_MAX), or -1 for a NULL deadline:
 * the value poll() takes as its timeout. */
int deadline_remaining_ms(const struct timespec *deadline);
bool deadline_passed(const struct timespec *deadline);
/* poll() until the deadline, retrying EINTR with the time left: the count of
 * ready descriptors, -ETIMEDOUT once the deadline passed with none, or -errno. */
int deadline_poll(struct pollfd *fds, nfds_t count, const struct timespec *deadline);

#endif
