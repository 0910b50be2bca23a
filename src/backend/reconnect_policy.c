#include "backend/reconnect_policy.h"

#include <errno.h>
#include <limits.h>

#include "common/deadline.h"

#define BACKOFF_MIN_MS 20u
#define BACKOFF_MAX_MS 500u
/* The rest after a slow failed probe: a quarter of the window, at most this. */
#define REST_MAX_MS 1000

void reconnect_policy_init(struct reconnect_policy *policy, int window_ms, int probe_ms)
{
	if (window_ms <= 0)
		window_ms = INT_MAX;
	if (probe_ms <= 0 || probe_ms > window_ms)
		probe_ms = window_ms;
	*policy = (struct reconnect_policy){ .window_ms = window_ms, .probe_ms = probe_ms };
}

void reconnect_policy_lost(struct reconnect_policy *policy)
{
	if (policy->lost)
		return; /* the window runs from the first failure */
	policy->lost = true;
	policy->window_end = deadline_after_ms((unsigned int)policy->window_ms);
}

void reconnect_policy_recovered(struct reconnect_policy *policy)
{
	policy->lost = false;
}

bool reconnect_policy_is_lost(const struct reconnect_policy *policy)
{
	return policy->lost;
}

bool reconnect_policy_given_up(const struct reconnect_policy *policy)
{
	return policy->lost && deadline_passed(&policy->window_end);
}

bool reconnect_policy_fails_at_once(const struct reconnect_policy *policy, bool attempt_running)
{
	/* rest_end is zero until a slow probe failed: long past. */
	return reconnect_policy_given_up(policy) && (attempt_running || !deadline_passed(&policy->rest_end));
}

struct reconnect_attempt reconnect_policy_attempt(const struct reconnect_policy *policy, bool extra)
{
	struct reconnect_attempt attempt = { .probe = extra || reconnect_policy_given_up(policy) };

	attempt.timeout_ms = attempt.probe ? policy->probe_ms : policy->window_ms;
	return attempt;
}

bool reconnect_policy_attempt_failed(struct reconnect_policy *policy, const struct reconnect_attempt *attempt,
				     int error)
{
	int rest;

	if (policy->lost && !deadline_passed(&policy->window_end))
		return true;
	/* Only a slow failure is worth spacing out: a refused connection costs
	 * nothing to try again. */
	if (attempt->probe && error == -ETIMEDOUT) {
		rest = policy->window_ms / 4 < REST_MAX_MS ? policy->window_ms / 4 : REST_MAX_MS;
		policy->rest_end = deadline_after_ms((unsigned int)rest);
	}
	return false;
}

void reconnect_backoff_init(struct reconnect_backoff *backoff)
{
	backoff->next_ms = BACKOFF_MIN_MS;
}

unsigned int reconnect_backoff_next_ms(struct reconnect_backoff *backoff)
{
	unsigned int ms = backoff->next_ms;

	backoff->next_ms = ms * 2 < BACKOFF_MAX_MS ? ms * 2 : BACKOFF_MAX_MS;
	return ms;
}
