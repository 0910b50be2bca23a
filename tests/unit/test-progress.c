/* The progress line's text: what a user reads while a long operation runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cli/progress.h"

static void test_known_total_shows_percent_rate_and_time_left(void **state)
{
	char line[160];

	(void)state;
	/* 1 GiB of 4 GiB in 2 s: 512 MiB/s, 3 GiB left = 6 s. */
	progress_format(line, sizeof(line), "saving", 1ull << 30, 4ull << 30, 2000000000ull);
	assert_string_equal(line, "saving: 1 GiB / 4 GiB   25%  512 MiB/s  0:06 left");
}

static void test_unknown_total_shows_bytes_and_rate(void **state)
{
	char line[160];

	(void)state;
	progress_format(line, sizeof(line), "copying", 3ull << 20, 0, 1000000000ull);
	assert_string_equal(line, "copying: 3 MiB  3 MiB/s");
}

static void test_no_elapsed_time_no_rate(void **state)
{
	char line[160];

	(void)state;
	progress_format(line, sizeof(line), "loading", 0, 1ull << 20, 0);
	assert_string_equal(line, "loading: 0 bytes / 1 MiB    0%");
}

static void test_done_is_100_percent_without_time_left(void **state)
{
	char line[160];

	(void)state;
	progress_format(line, sizeof(line), "x", 1ull << 20, 1ull << 20, 1000000000ull);
	assert_string_equal(line, "x: 1 MiB / 1 MiB  100%  1 MiB/s");
}

static void test_small_buffer_truncates_and_terminates(void **state)
{
	char line[8];

	(void)state;
	progress_format(line, sizeof(line), "saving", 1ull << 30, 4ull << 30, 2000000000ull);
	assert_string_equal(line, "saving:");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_total_shows_percent_rate_and_time_left),
		cmocka_unit_test(test_unknown_total_shows_bytes_and_rate),
		cmocka_unit_test(test_no_elapsed_time_no_rate),
		cmocka_unit_test(test_done_is_100_percent_without_time_left),
		cmocka_unit_test(test_small_buffer_truncates_and_terminates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
