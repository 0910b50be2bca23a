/* When a client of a remote disk reconnects and when it gives up: one policy,
 * written for the IMDPROXY client's pool and meant for any client of a server
 * that may go away and come back (an NBD client too).
 *
 * The story it keeps:
 *   - up: requests run; nothing to decide.
 *   - lost: a request met a dead or silent server (reconnect_policy_lost).  A
 *     reconnect window of window_ms opens at the first such failure; requests
 *     that broke are retried and reconnects tried (with a growing pause between
 *     failed ones, reconnect_backoff) while it lasts.  A request that succeeds
 *     ends the story (reconnect_policy_recovered).
 *   - given up: the window closed with the server still away.  Requests now fail
 *     at once but for one attempt at a time, bounded by the probe timeout (a
 *     server that is there answers at once); after an attempt that timed out
 *     (a slow failure), none for a quarter of the window (at most a second).  A
 *     refused attempt costs nothing, so it is not spaced out.  Without this, the
 *     requests queued on a disk would each wait a connect timeout in turn.
 *
 * Not thread-safe: the caller holds its own lock around every call.  Times are
 * CLOCK_MONOTONIC (common/deadline.h); nothing here sleeps or connects. */
#ifndef IMDISK_BACKEND_RECONNECT_POLICY_H
#define IMDISK_BACKEND_RECONNECT_POLICY_H

#include <stdbool.h>
#include <time.h>

struct reconnect_policy {
	int window_ms;      /* how long a lost server may take to come back */
	int probe_ms;       /* the bound on an attempt once given up (<= window_ms) */
	bool lost;
	struct timespec window_end; /* lost: the window closes then */
	struct timespec rest_end;   /* given up: no attempt before then */
};

/* One attempt at reconnecting, from reconnect_policy_attempt. */
struct reconnect_attempt {
	int timeout_ms; /* the bound on this attempt's connect and handshake */
	bool probe;     /* made while given up: a slow failure rests the policy */
};

/* Pauses between failed attempts inside the window: 20 ms doubling to 500 ms. */
struct reconnect_backoff {
	unsigned int next_ms;
};

/* window_ms <= 0: for ever (INT_MAX).  probe_ms: at most window_ms. */
void reconnect_policy_init(struct reconnect_policy *policy, int window_ms, int probe_ms);
/* A request met a dead or silent server: the window opens (if not open yet). */
void reconnect_policy_lost(struct reconnect_policy *policy);
/* A request succeeded: the server is back (or was never away). */
void reconnect_policy_recovered(struct reconnect_policy *policy);
bool reconnect_policy_is_lost(const struct reconnect_policy *policy);
/* Lost, and the window has closed. */
bool reconnect_policy_given_up(const struct reconnect_policy *policy);
/* Whether a request fails now without trying: given up, and an attempt is
 * already running (attempt_running) or the rest after a slow failure lasts. */
bool reconnect_policy_fails_at_once(const struct reconnect_policy *policy, bool attempt_running);
/* The next attempt at reconnecting: a probe (probe_ms) once given up, or for
 * an extra connection beside working ones (extra); else window_ms. */
struct reconnect_attempt reconnect_policy_attempt(const struct reconnect_policy *policy, bool extra);
/* An attempt failed with error (negative errno): true to pause
 * (reconnect_backoff_next_ms) and try again, false to fail the request. */
bool reconnect_policy_attempt_failed(struct reconnect_policy *policy, const struct reconnect_attempt *attempt,
				     int error);

void reconnect_backoff_init(struct reconnect_backoff *backoff);
/* The pause before the next attempt, in ms; each call doubles the next one. */
unsigned int reconnect_backoff_next_ms(struct reconnect_backoff *backoff);

#endif
