#include "common/deadline.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>

struct timespec deadline_after_ms(unsigned int ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

int deadline_remaining_ms(const struct timespec *deadline)
{
	struct timespec now;
	int64_t ns, ms;

	if (!deadline)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ns = (int64_t)(deadline->tv_sec - now.tv_sec) * 1000000000LL +
	     (deadline->tv_nsec - now.tv_nsec);
	if (ns <= 0)
		return 0;
	/* Rounded up, so that a wait of the remaining time never ends early. */
	ms = (ns + 999999) / 1000000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

bool deadline_passed(const struct timespec *deadline)
{
	return deadline_remaining_ms(deadline) == 0;
}

int deadline_poll(struct pollfd *fds, nfds_t count, const struct timespec *deadline)
{
	for (;;) {
		int n = poll(fds, count, deadline_remaining_ms(deadline));

		if (n > 0)
			return n;
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}
