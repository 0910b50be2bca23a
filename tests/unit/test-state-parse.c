/* Unit tests for imdiskd's state file parser (src/daemon/state_parse.c): what the
 * daemon writes reads back unchanged, and a forged or damaged file is refused with
 * a reason that names the field, never trusted. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/state_parse.h"

static const char good_text[] = "unit=2\n"
				"loop=7\n"
				"device=/dev/loop7\n"
				"tag=imdisk:0123456789abcdef\n"
				"flags=528\n"
				"size=67108864\n"
				"offset=0\n"
				"sector_size=512\n"
				"sectors_per_track=63\n"
				"tracks_per_cylinder=16\n"
				"cylinders=130\n"
				"transport=1\n"
				"written_baseline=9\n"
				"backing_device=5\n"
				"backing_inode=1234\n"
				"image=/srv/disk one.img\n";

static struct state_record record;
static char why[STATE_WHY_MAX];

static int parse(const char *text)
{
	why[0] = 0;
	return state_parse_record(text, strlen(text), &record, why);
}

/* good_text with the line of `key` replaced by `line` ("" drops it). */
static const char *with_line(const char *key, const char *line)
{
	static char text[STATE_TEXT_MAX];
	const char *p = good_text;
	size_t used = 0, key_length = strlen(key);

	while (*p) {
		const char *end = strchr(p, '\n') + 1;
		if (strncmp(p, key, key_length) == 0 && p[key_length] == '=')
			used += (size_t)snprintf(text + used, sizeof(text) - used, "%s%s", line, *line ? "\n" : "");
		else
			used += (size_t)snprintf(text + used, sizeof(text) - used, "%.*s", (int)(end - p), p);
		p = end;
	}
	return text;
}

static void assert_refused(const char *key, const char *line, const char *reason)
{
	assert_int_equal(parse(with_line(key, line)), -EBADMSG);
	if (!strstr(why, reason))
		fail_msg("'%s': reason '%s' does not say '%s'", line, why, reason);
}

static void test_what_the_daemon_writes(void **state)
{
	(void)state;
	assert_int_equal(parse(good_text), 0);
	assert_int_equal(record.unit, 2);
	assert_int_equal(record.loop_number, 7);
	assert_string_equal(record.device, "/dev/loop7");
	assert_string_equal(record.tag, "imdisk:0123456789abcdef");
	assert_int_equal(record.flags, 528);
	assert_int_equal(record.size, 64 << 20);
	assert_int_equal(record.sector_size, 512);
	assert_int_equal(record.cylinders, 130);
	assert_int_equal(record.written_baseline, 9);
	assert_int_equal(record.backing_inode, 1234);
	assert_string_equal(record.image, "/srv/disk one.img");
	/* An older file has no owner: the disk is root's. */
	assert_int_equal(record.owner_uid, 0);
	assert_int_equal(record.owner_gid, 0);
}

static void test_owner_fields(void **state)
{
	char text[sizeof(good_text) + 64];

	(void)state;
	snprintf(text, sizeof(text), "%sowner_uid=1000\nowner_gid=100\n", good_text);
	assert_int_equal(parse(text), 0);
	assert_int_equal(record.owner_uid, 1000);
	assert_int_equal(record.owner_gid, 100);
	snprintf(text, sizeof(text), "%sowner_uid=4294967295\n", good_text);
	assert_int_equal(parse(text), -EBADMSG);
	assert_non_null(strstr(why, "owner_uid"));
	snprintf(text, sizeof(text), "%sowner_gid=-1\n", good_text);
	assert_int_equal(parse(text), -EBADMSG);
	assert_non_null(strstr(why, "owner_gid"));
}

static void test_round_trip(void **state)
{
	char text[STATE_TEXT_MAX];
	struct state_record first;
	int length;

	(void)state;
	assert_int_equal(parse(good_text), 0);
	record.owner_uid = 65534;
	first = record;
	length = state_format_record(&first, text, sizeof(text));
	assert_true(length > 0);
	assert_int_equal(state_parse_record(text, (size_t)length, &record, why), 0);
	assert_memory_equal(&first, &record, sizeof(record));
	assert_int_equal(state_format_record(&first, text, 16), -ENOSPC);
}

static void test_sector_size(void **state)
{
	(void)state;
	assert_refused("sector_size", "sector_size=0", "sector_size=0 is not a power of two");
	assert_refused("sector_size", "sector_size=256", "sector_size=256");
	assert_refused("sector_size", "sector_size=8192", "sector_size=8192");
	assert_refused("sector_size", "sector_size=1536", "sector_size=1536");
	assert_int_equal(parse(with_line("sector_size", "sector_size=4096")), -EBADMSG); /* cylinders no longer fit */
	assert_non_null(strstr(why, "cylinders"));
}

static void test_numbers(void **state)
{
	(void)state;
	assert_refused("size", "size=", "size= is not a 64-bit decimal number");
	assert_refused("size", "size=-1", "is not a 64-bit decimal number");
	assert_refused("size", "size=+5", "is not a 64-bit decimal number");
	assert_refused("size", "size= 5", "is not a 64-bit decimal number");
	assert_refused("size", "size=0x10", "is not a 64-bit decimal number");
	assert_refused("size", "size=18446744073709551616", "is not a 64-bit decimal number");
	assert_refused("size", "size=18446744073709551615", "size=18446744073709551615 is out of range");
	assert_refused("size", "size=0", "size=0 is out of range");
	assert_refused("size", "size=67108865", "not a multiple of 512");
	assert_refused("unit", "unit=4294967296", "unit=4294967296 is not a 32-bit");
	assert_refused("unit", "unit=1024", "unit=1024 is out of range");
	assert_refused("loop", "loop=1048576", "loop=1048576 is out of range");
	assert_refused("offset", "offset=9223372036854775000", "offset=9223372036854775000");
}

static void test_geometry(void **state)
{
	(void)state;
	assert_refused("tracks_per_cylinder", "tracks_per_cylinder=0", "tracks_per_cylinder=0 is out of range");
	assert_refused("sectors_per_track", "sectors_per_track=0", "sectors_per_track=0");
	assert_refused("sectors_per_track", "sectors_per_track=256", "sectors_per_track=256");
	assert_refused("cylinders", "cylinders=0", "cylinders=0 does not fit");
	assert_refused("cylinders", "cylinders=131", "cylinders=131 does not fit");
	assert_int_equal(parse(with_line("cylinders", "cylinders=1")), 0);
}

static void test_kinds_and_flags(void **state)
{
	(void)state;
	assert_refused("flags", "flags=2147483648", "unknown bits");
	assert_refused("flags", "flags=1048576", "unknown bits"); /* fixed media is a create-only bit */
	assert_refused("flags", "flags=592", "unknown device type"); /* 0x250 */
	assert_refused("flags", "flags=16", "unknown disk kind");     /* 0x010: no kind */
	assert_refused("flags", "flags=1040", "unknown disk kind");   /* 0x410 */
	assert_refused("flags", "flags=17168", "unknown proxy kind");  /* 0x4310 */
	assert_refused("transport", "transport=0", "transport=0 is not a known transport");
	assert_refused("transport", "transport=3", "transport=3");
	assert_int_equal(parse(with_line("flags", "flags=12560")), 0); /* 0x3110: a buffered file disk */
}

static void test_names(void **state)
{
	(void)state;
	assert_refused("device", "device=/dev/sda", "device=/dev/sda is not loop 7's device");
	assert_refused("device", "device=/dev/loop8", "device=/dev/loop8");
	assert_refused("tag", "tag=", "tag= is not an imdisk ownership tag");
	assert_refused("tag", "tag=imdisk:0123456789ABCDEF", "is not an imdisk ownership tag");
	assert_refused("tag", "tag=someone-else", "is not an imdisk ownership tag");
	assert_refused("image", "image=a\x1b[2Jb", "image holds control characters");
	assert_refused("image", "image=a\rb", "image holds control characters");
}

static void test_form(void **state)
{
	char text[sizeof(good_text) + 64];
	static char big[STATE_TEXT_MAX + 2];

	(void)state;
	assert_refused("size", "", "size is missing");
	assert_refused("tag", "", "tag is missing");
	assert_refused("image", "", "image is missing");
	assert_refused("size", "size", "line 6 is not key=value");
	snprintf(text, sizeof(text), "%ssize=512\n", good_text);
	assert_int_equal(parse(text), -EBADMSG);
	assert_string_equal(why, "size is given twice");
	/* A key of a newer daemon is no reason to refuse; a blank line neither. */
	snprintf(text, sizeof(text), "%s\nfuture_key=whatever\n", good_text);
	assert_int_equal(parse(text), 0);
	/* A NUL byte, a file too large, an empty one. */
	memcpy(text, good_text, sizeof(good_text));
	text[20] = 0;
	assert_int_equal(state_parse_record(text, sizeof(good_text) - 1, &record, why), -EBADMSG);
	assert_non_null(strstr(why, "NUL"));
	memset(big, '\n', sizeof(big));
	assert_int_equal(state_parse_record(big, sizeof(big), &record, why), -EBADMSG);
	assert_non_null(strstr(why, "larger"));
	assert_int_equal(state_parse_record("", 0, &record, why), -EBADMSG);
	/* No terminator needed after the last line. */
	assert_int_equal(state_parse_record(good_text, sizeof(good_text) - 2, &record, why), 0);
}

struct reports {
	unsigned count;
	char names[8][32];
	char whys[8][STATE_WHY_MAX];
};

static void collect(void *context, const char *name, const char *reason)
{
	struct reports *r = context;

	snprintf(r->names[r->count], sizeof(r->names[0]), "%s", name);
	snprintf(r->whys[r->count], sizeof(r->whys[0]), "%s", reason);
	r->count++;
}

static void test_parse_all(void **state)
{
	static struct state_record records[5];
	char other[sizeof(good_text) + 16], same_loop[sizeof(good_text) + 16];
	struct reports reports = {0};
	struct state_text texts[5];
	size_t filled;

	(void)state;
	/* unit 3 on loop 8; unit 4 claiming loop 7, like unit 2. */
	snprintf(other, sizeof(other), "%s", good_text);
	memcpy(other, "unit=3\nloop=8\ndevice=/dev/loop8", 31);
	snprintf(same_loop, sizeof(same_loop), "%s", good_text);
	memcpy(same_loop, "unit=4", 6);
	texts[0] = (struct state_text){"unit-2", good_text, strlen(good_text)};
	texts[1] = (struct state_text){"unit-9", good_text, strlen(good_text)};            /* name says 9 */
	texts[2] = (struct state_text){"unit-3", other, strlen(other)};
	texts[3] = (struct state_text){"unit-4", same_loop, strlen(same_loop)};           /* loop 7 again */
	texts[4] = (struct state_text){"unit-5", "sector_size=0\n", strlen("sector_size=0\n")}; /* damaged */
	filled = state_parse_all(texts, 5, records, collect, &reports);
	assert_int_equal(filled, 2);
	assert_int_equal(records[0].unit, 2);
	assert_int_equal(records[1].unit, 3);
	assert_int_equal(records[1].loop_number, 8);
	assert_int_equal(reports.count, 3);
	assert_string_equal(reports.names[0], "unit-9");
	assert_non_null(strstr(reports.whys[0], "not the unit its name says"));
	assert_string_equal(reports.names[1], "unit-4");
	assert_string_equal(reports.whys[1], "loop=7 is described by an earlier state file");
	assert_string_equal(reports.names[2], "unit-5");
	/* Two files of one unit under other names: the second is a duplicate. */
	texts[1] = (struct state_text){"copy", good_text, strlen(good_text)};
	reports.count = 0;
	assert_int_equal(state_parse_all(texts, 2, records, collect, &reports), 1);
	assert_string_equal(reports.whys[0], "unit=2 is described by an earlier state file");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_what_the_daemon_writes),
		cmocka_unit_test(test_owner_fields),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_sector_size),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_geometry),
		cmocka_unit_test(test_kinds_and_flags),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_form),
		cmocka_unit_test(test_parse_all),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
