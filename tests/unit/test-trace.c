/* Unit tests for src/common/trace.c: the area list (-D LIST, IMDISK_DEBUG) into
 * the mask, unknown names refused without a change, "all", and trace points that
 * cost nothing (their arguments are not even evaluated) while their area is off. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/trace.h"

static int reset(void **state)
{
	(void)state;
	trace_mask = 0;
	unsetenv("IMDISK_DEBUG");
	return 0;
}

static void test_one_area(void **state)
{
	(void)state;
	assert_int_equal(trace_enable_list("devio"), 0);
	assert_int_equal(trace_mask, TRACE_DEVIO);
}

static void test_list(void **state)
{
	(void)state;
	assert_int_equal(trace_enable_list("fuse,proxy,control"), 0);
	assert_int_equal(trace_mask, TRACE_FUSE | TRACE_PROXY | TRACE_CONTROL);
	/* A second list adds to the first. */
	assert_int_equal(trace_enable_list("loop"), 0);
	assert_int_equal(trace_mask, TRACE_FUSE | TRACE_PROXY | TRACE_CONTROL | TRACE_LOOP);
}

static void test_empty_items(void **state)
{
	(void)state;
	assert_int_equal(trace_enable_list(""), 0);
	assert_int_equal(trace_mask, 0);
	assert_int_equal(trace_enable_list(",disk,,devio,"), 0);
	assert_int_equal(trace_mask, TRACE_DISK | TRACE_DEVIO);
}

static void test_all(void **state)
{
	(void)state;
	assert_int_equal(trace_enable_list("all"), 0);
	assert_int_equal(trace_mask, ~0u);
	assert_true(trace_on(TRACE_FUSE) && trace_on(TRACE_LOOP) && trace_on(TRACE_DEVIO));
}

static void test_unknown_name(void **state)
{
	(void)state;
	assert_int_equal(trace_enable_list("proxy"), 0);
	/* Nothing of a list with an unknown name is taken, not even its good names. */
	assert_int_equal(trace_enable_list("fuse,nope"), -EINVAL);
	assert_int_equal(trace_enable_list("dev"), -EINVAL);     /* a prefix is no name */
	assert_int_equal(trace_enable_list("devios"), -EINVAL);  /* nor a longer word */
	assert_int_equal(trace_enable_list("FUSE"), -EINVAL);    /* names are lower case */
	assert_int_equal(trace_enable_list("all,x"), -EINVAL);
	assert_int_equal(trace_mask, TRACE_PROXY);
}

static void test_environment(void **state)
{
	(void)state;
	trace_enable_from_environment(); /* unset: nothing */
	assert_int_equal(trace_mask, 0);
	setenv("IMDISK_DEBUG", "devio,loop", 1);
	trace_enable_from_environment();
	assert_int_equal(trace_mask, TRACE_DEVIO | TRACE_LOOP);
	/* An unknown name there is a warning, and the mask stays as it was. */
	setenv("IMDISK_DEBUG", "fuse,bogus", 1);
	trace_enable_from_environment();
	assert_int_equal(trace_mask, TRACE_DEVIO | TRACE_LOOP);
}

static int evaluated;

static int count_evaluation(void)
{
	return ++evaluated;
}

static void test_off_is_free(void **state)
{
	(void)state;
	evaluated = 0;
	trace(TRACE_FUSE, "value %d", count_evaluation());
	trace_dropped(TRACE_FUSE, "a reply", count_evaluation());
	assert_int_equal(evaluated, 0);
	assert_int_equal(trace_enable_list("proxy"), 0);
	trace(TRACE_FUSE, "value %d", count_evaluation()); /* another area is on */
	assert_int_equal(evaluated, 0);
	trace(TRACE_PROXY, "value %d", count_evaluation());
	trace_dropped(TRACE_PROXY, "a reply", count_evaluation());
	assert_int_equal(evaluated, 2);
}

static void test_area_names(void **state)
{
	const char *names = trace_area_names();

	(void)state;
	/* Every name the help text shows is one the list takes. */
	for (const char *p = names; *p;) {
		char name[32];
		size_t length = strcspn(p, ", ");

		assert_true(length > 0 && length < sizeof(name));
		memcpy(name, p, length);
		name[length] = '\0';
		assert_int_equal(trace_enable_list(name), 0);
		p += length;
		p += strspn(p, ", ");
	}
	assert_int_equal(trace_mask, ~0u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_one_area, reset),
		cmocka_unit_test_setup(test_list, reset),
		cmocka_unit_test_setup(test_empty_items, reset),
		cmocka_unit_test_setup(test_all, reset),
		cmocka_unit_test_setup(test_unknown_name, reset),
		cmocka_unit_test_setup(test_environment, reset),
		cmocka_unit_test_setup(test_off_is_free, reset),
		cmocka_unit_test_setup(test_area_names, reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
