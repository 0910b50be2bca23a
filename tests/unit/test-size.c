/* Unit tests for ImDisk's size and offset forms (src/common/size.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/size.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define TiB (1ull << 40)

static void assert_bytes(const char *text, uint64_t expected)
{
	struct size_request req = {.kind = SIZE_PERCENT_FREE, .value = 12345};

	assert_int_equal(size_parse(text, &req), 0);
	assert_int_equal(req.kind, SIZE_BYTES);
	assert_int_equal(req.value, expected);
}

static void assert_parse_fails(const char *text, int expected)
{
	struct size_request req;

	assert_int_equal(size_parse(text, &req), expected);
}

static void test_plain_bytes(void **state)
{
	(void)state;
	assert_bytes("0", 0);
	assert_bytes("1", 1);
	assert_bytes("1048576", MiB);
	assert_bytes("007", 7); /* decimal, never octal */
	assert_bytes("9223372036854775807", (uint64_t)INT64_MAX);
}

static void test_every_suffix(void **state)
{
	(void)state;
	assert_bytes("100b", 100 * 512);
	assert_bytes("100B", 100 * 512);
	assert_bytes("3k", 3000);
	assert_bytes("3m", 3000000);
	assert_bytes("3g", 3000000000ull);
	assert_bytes("3t", 3000000000000ull);
	assert_bytes("3K", 3 * KiB);
	assert_bytes("3M", 3 * MiB);
	assert_bytes("3G", 3 * GiB);
	assert_bytes("3T", 3 * TiB);
	assert_bytes("0K", 0);
}

/* util-linux's explicit forms mean what they say; ImDisk's single letters keep theirs. */
static void test_explicit_suffixes(void **state)
{
	(void)state;
	assert_bytes("1KiB", 1024);
	assert_bytes("2MiB", 2ull << 20);
	assert_bytes("3GiB", 3ull << 30);
	assert_bytes("1TiB", 1ull << 40);
	assert_bytes("1KB", 1000);
	assert_bytes("2MB", 2000000);
	assert_bytes("3GB", 3000000000ull);
	assert_bytes("1TB", 1000000000000ull);
	assert_bytes("4m", 4000000);
	assert_bytes("4M", 4ull << 20);
	assert_bytes("8B", 8 * 512);
	assert_parse_fails("1kiB", -EINVAL);
	assert_parse_fails("1Kib", -EINVAL);
	assert_parse_fails("1KiBx", -EINVAL);
	assert_parse_fails("1PiB", -EINVAL);
	assert_parse_fails("1iB", -EINVAL);
	assert_parse_fails("9000000TiB", -ERANGE);
}

static void test_percent(void **state)
{
	struct size_request req;

	(void)state;
	assert_int_equal(size_parse("50%", &req), 0);
	assert_int_equal(req.kind, SIZE_PERCENT_FREE);
	assert_int_equal(req.value, 50);
	assert_int_equal(size_parse("1%", &req), 0);
	assert_int_equal(req.value, 1);
	assert_int_equal(size_parse("100%", &req), 0);
	assert_int_equal(req.value, 100);
	assert_parse_fails("0%", -EINVAL);
	assert_parse_fails("101%", -EINVAL);
	assert_parse_fails("%", -EINVAL);
	assert_parse_fails("50%%", -EINVAL);
	assert_parse_fails("50K%", -EINVAL);
	assert_parse_fails("50%K", -EINVAL);
	assert_parse_fails("-50%", -EINVAL);
}

static void test_free_minus(void **state)
{
	struct size_request req;

	(void)state;
	assert_int_equal(size_parse("-1G", &req), 0);
	assert_int_equal(req.kind, SIZE_FREE_MINUS);
	assert_int_equal(req.value, GiB);
	assert_int_equal(size_parse("-4096", &req), 0);
	assert_int_equal(req.kind, SIZE_FREE_MINUS);
	assert_int_equal(req.value, 4096);
	assert_int_equal(size_parse("-2b", &req), 0);
	assert_int_equal(req.value, 1024);
	assert_parse_fails("-", -EINVAL);
	assert_parse_fails("-0", -EINVAL);
	assert_parse_fails("--1", -EINVAL);
	assert_parse_fails("-K", -EINVAL);
}

static void test_bad_forms(void **state)
{
	static const char *const bad[] = {
		"", "x", "K", "12x", "12kB", "12kk", "1.5G", "1,5G", "0x10", "+5", "1e3",
		" 12", "12 ", "1 2", "12\n", "\t12", "12G ", "12 G",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct size_request req;
		uint64_t bytes;

		if (size_parse(bad[i], &req) != -EINVAL)
			fail_msg("size_parse(\"%s\") accepted", bad[i]);
		if (size_parse_offset(bad[i], &bytes) != -EINVAL)
			fail_msg("size_parse_offset(\"%s\") accepted", bad[i]);
	}
	assert_parse_fails(NULL, -EINVAL);
}

static void test_overflow(void **state)
{
	uint64_t bytes;

	(void)state;
	assert_parse_fails("9223372036854775808", -ERANGE);
	assert_parse_fails("18446744073709551616", -ERANGE);
	assert_parse_fails("99999999999999999999999", -ERANGE);
	assert_parse_fails("8388608T", -ERANGE); /* 2^63 */
	assert_bytes("8388607T", 8388607 * TiB);
	assert_parse_fails("9223372036854776t", -ERANGE);
	assert_parse_fails("18014398509481984b", -ERANGE); /* 2^54 blocks = 2^63 */
	assert_parse_fails("-9223372036854775808", -ERANGE);
	assert_parse_fails("99999999999999999999%", -ERANGE);
	assert_int_equal(size_parse_offset("8388608T", &bytes), -ERANGE);
}

static void test_offset(void **state)
{
	uint64_t bytes = 1;

	(void)state;
	assert_int_equal(size_parse_offset("0", &bytes), 0);
	assert_int_equal(bytes, 0);
	assert_int_equal(size_parse_offset("307200", &bytes), 0);
	assert_int_equal(bytes, 307200);
	assert_int_equal(size_parse_offset("63b", &bytes), 0);
	assert_int_equal(bytes, 63 * 512);
	assert_int_equal(size_parse_offset("1M", &bytes), 0);
	assert_int_equal(bytes, MiB);
	assert_int_equal(size_parse_offset("2k", &bytes), 0);
	assert_int_equal(bytes, 2000);
	assert_int_equal(size_parse_offset("-1M", &bytes), -EINVAL);
	assert_int_equal(size_parse_offset("50%", &bytes), -EINVAL);
	assert_int_equal(size_parse_offset("auto", &bytes), -EINVAL);
	assert_int_equal(size_parse_offset(NULL, &bytes), -EINVAL);
}

static void test_resolve(void **state)
{
	struct size_request req;
	uint64_t bytes = 0;

	(void)state;
	/* Byte counts are exact, even when no sector size divides them. */
	req = (struct size_request){SIZE_BYTES, 4000000};
	assert_int_equal(size_resolve(&req, 0, &bytes), 0);
	assert_int_equal(bytes, 4000000);
	req = (struct size_request){SIZE_BYTES, 0};
	assert_int_equal(size_resolve(&req, GiB, &bytes), -EINVAL);

	req = (struct size_request){SIZE_PERCENT_FREE, 50};
	assert_int_equal(size_resolve(&req, 8 * GiB, &bytes), 0);
	assert_int_equal(bytes, 4 * GiB);
	req = (struct size_request){SIZE_PERCENT_FREE, 100};
	assert_int_equal(size_resolve(&req, UINT64_MAX, &bytes), 0);
	assert_int_equal(bytes, UINT64_MAX - (SIZE_MEMORY_GRAIN - 1));
	/* 33% of 1000 MiB is 346030080 bytes: already a multiple of 4096. */
	req = (struct size_request){SIZE_PERCENT_FREE, 33};
	assert_int_equal(size_resolve(&req, 1000 * MiB, &bytes), 0);
	assert_int_equal(bytes, 346030080);
	/* 33% of 1 GiB is 354334801 bytes: rounded down to 354332672. */
	assert_int_equal(size_resolve(&req, GiB, &bytes), 0);
	assert_int_equal(bytes, 354332672);
	assert_int_equal(bytes % SIZE_MEMORY_GRAIN, 0);
	req = (struct size_request){SIZE_PERCENT_FREE, 1};
	assert_int_equal(size_resolve(&req, 99, &bytes), -ENOMEM);
	assert_int_equal(size_resolve(&req, 409599, &bytes), -ENOMEM); /* 4095 bytes */
	assert_int_equal(size_resolve(&req, 409600, &bytes), 0);
	assert_int_equal(bytes, 4096);
	req = (struct size_request){SIZE_PERCENT_FREE, 0};
	assert_int_equal(size_resolve(&req, GiB, &bytes), -EINVAL);

	req = (struct size_request){SIZE_FREE_MINUS, GiB};
	assert_int_equal(size_resolve(&req, 3 * GiB, &bytes), 0);
	assert_int_equal(bytes, 2 * GiB);
	req = (struct size_request){SIZE_FREE_MINUS, 1000};
	assert_int_equal(size_resolve(&req, 3 * GiB, &bytes), 0);
	assert_int_equal(bytes, 3 * GiB - 4096);
	assert_int_equal(size_resolve(&req, 5000, &bytes), -ENOMEM); /* 4000 bytes */
	req = (struct size_request){SIZE_FREE_MINUS, GiB};
	assert_int_equal(size_resolve(&req, GiB, &bytes), -ENOMEM);
	assert_int_equal(size_resolve(&req, GiB - 1, &bytes), -ENOMEM);
}

static void test_free_memory(void **state)
{
	uint64_t bytes = 0;

	(void)state;
	assert_int_equal(size_free_memory(&bytes), 0);
	assert_true(bytes > 0);
	assert_int_equal(bytes % 1024, 0); /* /proc/meminfo counts kB */
}

static void assert_format(uint64_t bytes, const char *expected)
{
	char buf[64];

	size_format(bytes, buf, sizeof(buf));
	assert_string_equal(buf, expected);
}

static void test_format(void **state)
{
	char small[6];

	(void)state;
	assert_format(0, "0 bytes");
	assert_format(1, "1 byte");
	assert_format(512, "512 bytes");
	assert_format(1023, "1023 bytes");
	assert_format(1024, "1 KiB");
	assert_format(4096, "4 KiB");
	assert_format(1536, "1.50 KiB");
	assert_format(1025, "1.00 KiB");
	assert_format(512 * MiB, "512 MiB");
	assert_format(1023 * MiB, "1023 MiB");
	assert_format(3 * GiB / 2, "1.50 GiB");
	assert_format(2 * GiB - 1, "1.99 GiB"); /* truncated, never rounded up */
	assert_format(100 * GiB, "100 GiB");
	assert_format(5 * TiB, "5 TiB");
	assert_format(1ull << 50, "1 PiB");
	assert_format(1ull << 62, "4 EiB");
	assert_format(UINT64_MAX, "15.99 EiB");
	assert_format((1ull << 60) + (1ull << 59), "1.50 EiB");

	size_format(512 * MiB, small, sizeof(small));
	assert_string_equal(small, "512 M");
	size_format(1, small, 0); /* no room: nothing written, nothing broken */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_bytes),
		cmocka_unit_test(test_every_suffix),
		cmocka_unit_test(test_explicit_suffixes),
		cmocka_unit_test(test_percent),
		cmocka_unit_test(test_free_minus),
		cmocka_unit_test(test_bad_forms),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_offset),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_free_memory),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
