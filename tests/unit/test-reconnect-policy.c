/* The reconnect/give-up policy (src/backend/reconnect_policy.c) on its own:
 * the window, giving up, the probe timeout, the rest after a slow probe, the
 * backoff.  Windows are short real times (tens of ms). */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "backend/reconnect_policy.h"

static void sleep_ms(unsigned int ms)
{
	struct timespec t = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&t, &t) < 0)
		;
}

static void test_up(void **state)
{
	struct reconnect_policy p;
	struct reconnect_attempt a;

	(void)state;
	reconnect_policy_init(&p, 1000, 200);
	assert_false(reconnect_policy_is_lost(&p));
	assert_false(reconnect_policy_given_up(&p));
	assert_false(reconnect_policy_fails_at_once(&p, true));
	a = reconnect_policy_attempt(&p, false);
	assert_false(a.probe);
	assert_int_equal(a.timeout_ms, 1000);
	/* An extra connection beside working ones is a probe. */
	a = reconnect_policy_attempt(&p, true);
	assert_true(a.probe);
	assert_int_equal(a.timeout_ms, 200);
	/* Not lost: a failed reconnect fails the request. */
	a = reconnect_policy_attempt(&p, false);
	assert_false(reconnect_policy_attempt_failed(&p, &a, -ECONNREFUSED));
}

static void test_limits(void **state)
{
	struct reconnect_policy p;

	(void)state;
	reconnect_policy_init(&p, 0, 2000);
	assert_int_equal(p.window_ms, INT_MAX);
	assert_int_equal(p.probe_ms, 2000);
	reconnect_policy_init(&p, 500, 2000);
	assert_int_equal(p.probe_ms, 500); /* a probe never outlasts the window */
}

static void test_window_from_first_failure(void **state)
{
	struct reconnect_policy p;
	struct reconnect_attempt a;

	(void)state;
	reconnect_policy_init(&p, 100, 50);
	reconnect_policy_lost(&p);
	assert_true(reconnect_policy_is_lost(&p));
	assert_false(reconnect_policy_given_up(&p));
	a = reconnect_policy_attempt(&p, false);
	assert_false(a.probe);
	assert_int_equal(a.timeout_ms, 100);
	/* Inside the window a failed attempt is tried again after a pause. */
	assert_true(reconnect_policy_attempt_failed(&p, &a, -ECONNREFUSED));
	sleep_ms(60);
	reconnect_policy_lost(&p); /* a second failure does not move the window */
	sleep_ms(60);
	assert_true(reconnect_policy_given_up(&p));
	assert_false(reconnect_policy_attempt_failed(&p, &a, -ECONNREFUSED));
}

static void test_given_up(void **state)
{
	struct reconnect_policy p;
	struct reconnect_attempt a;

	(void)state;
	reconnect_policy_init(&p, 40, 2000);
	reconnect_policy_lost(&p);
	sleep_ms(50);
	assert_true(reconnect_policy_given_up(&p));
	/* One attempt at a time: while one runs, requests fail at once. */
	assert_true(reconnect_policy_fails_at_once(&p, true));
	assert_false(reconnect_policy_fails_at_once(&p, false));
	a = reconnect_policy_attempt(&p, false);
	assert_true(a.probe);
	assert_int_equal(a.timeout_ms, 40);
	/* A refused probe costs nothing: no rest. */
	assert_false(reconnect_policy_attempt_failed(&p, &a, -ECONNREFUSED));
	assert_false(reconnect_policy_fails_at_once(&p, false));
	/* A slow one rests the policy a quarter of the window (10 ms). */
	assert_false(reconnect_policy_attempt_failed(&p, &a, -ETIMEDOUT));
	assert_true(reconnect_policy_fails_at_once(&p, false));
	sleep_ms(20);
	assert_false(reconnect_policy_fails_at_once(&p, false));
	/* A success ends the story. */
	reconnect_policy_recovered(&p);
	assert_false(reconnect_policy_is_lost(&p));
	assert_false(reconnect_policy_given_up(&p));
	assert_false(reconnect_policy_attempt(&p, false).probe);
}

static void test_rest_at_most_a_second(void **state)
{
	struct reconnect_policy p;
	struct reconnect_attempt a = { .timeout_ms = 1, .probe = true };
	struct timespec now;

	(void)state;
	reconnect_policy_init(&p, 30, 10);
	reconnect_policy_lost(&p);
	sleep_ms(40);
	p.window_ms = 60000; /* as if the window were a minute: the rest is one second */
	assert_false(reconnect_policy_attempt_failed(&p, &a, -ETIMEDOUT));
	clock_gettime(CLOCK_MONOTONIC, &now);
	assert_true(p.rest_end.tv_sec - now.tv_sec <= 1);
	assert_true(reconnect_policy_fails_at_once(&p, false));
}

/* An attempt that began inside the window (not a probe) and timed out after it
 * closed fails its request, and does not rest the policy. */
static void test_slow_attempt_from_inside_the_window(void **state)
{
	struct reconnect_policy p;
	struct reconnect_attempt a;

	(void)state;
	reconnect_policy_init(&p, 30, 10);
	reconnect_policy_lost(&p);
	a = reconnect_policy_attempt(&p, false);
	assert_false(a.probe);
	sleep_ms(40);
	assert_false(reconnect_policy_attempt_failed(&p, &a, -ETIMEDOUT));
	assert_false(reconnect_policy_fails_at_once(&p, false));
}

static void test_backoff(void **state)
{
	static const unsigned int expected[] = { 20, 40, 80, 160, 320, 500, 500 };
	struct reconnect_backoff b;

	(void)state;
	reconnect_backoff_init(&b);
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
		assert_int_equal(reconnect_backoff_next_ms(&b), expected[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_up),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_window_from_first_failure),
		cmocka_unit_test(test_given_up),
		cmocka_unit_test(test_rest_at_most_a_second),
		cmocka_unit_test(test_slow_attempt_from_inside_the_window),
		cmocka_unit_test(test_backoff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
