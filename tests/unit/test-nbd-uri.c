/* common/nbd_uri.c: the NBD URIs imdisk takes, and the ones it refuses. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/nbd_uri.h"

static struct nbd_uri uri;

static int parse(const char *text)
{
	const char *why = NULL;
	int r = nbd_uri_parse(text, &uri, &why);

	if (r < 0)
		assert_non_null(why);
	return r;
}

static void test_tcp_forms(void **state)
{
	(void)state;
	assert_int_equal(parse("nbd://example.com/disk"), 0);
	assert_false(uri.unix_socket);
	assert_string_equal(uri.host, "example.com");
	assert_string_equal(uri.port, "10809");
	assert_string_equal(uri.export_name, "disk");

	assert_int_equal(parse("nbd://127.0.0.1:7000/"), 0);
	assert_string_equal(uri.host, "127.0.0.1");
	assert_string_equal(uri.port, "7000");
	assert_string_equal(uri.export_name, "");

	assert_int_equal(parse("nbd://host"), 0); /* no path: the default export */
	assert_string_equal(uri.export_name, "");

	assert_int_equal(parse("nbd://[::1]:10810/a%20b/c"), 0);
	assert_string_equal(uri.host, "::1");
	assert_string_equal(uri.port, "10810");
	assert_string_equal(uri.export_name, "a b/c");

	assert_int_equal(parse("NBD://h/x"), 0); /* schemes are case-insensitive */
}

static void test_unix_forms(void **state)
{
	(void)state;
	assert_int_equal(parse("nbd+unix:///?socket=/run/nbd.sock"), 0);
	assert_true(uri.unix_socket);
	assert_string_equal(uri.socket_path, "/run/nbd.sock");
	assert_string_equal(uri.export_name, "");

	assert_int_equal(parse("nbd+unix:///vol%2F1?socket=/tmp/a%20b"), 0);
	assert_string_equal(uri.export_name, "vol/1");
	assert_string_equal(uri.socket_path, "/tmp/a b");
}

static void test_refused(void **state)
{
	static const char *const bad[] = {
		"nbd://", "nbd:///x", "nbd://h:0/", "nbd://h:65536/", "nbd://h:1x/", "nbd://h:/",
		"nbd://[::1/", "nbd://[::1]x/", "nbd://u@h/", "nbd://h/%zz", "nbd://h/%0", "nbd://h/a%00",
		"nbd://h/x#f", "nbd://h/?socket=/s", "nbd://h/?tls=on", "nbd+unix:///", "nbd+unix://h/?socket=/s",
		"nbd+unix:///?socket=", "nbd+unix:///?socket=/a&socket=/b", "nbd+unix:///?socket=/a&x=1",
		"nbd:h", "http://h/", "", NULL,
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse(bad[i]), -EINVAL);
}

static void test_tls_not_supported(void **state)
{
	(void)state;
	assert_int_equal(parse("nbds://h/x"), -EPROTONOSUPPORT);
	assert_int_equal(parse("nbds+unix:///?socket=/s"), -EPROTONOSUPPORT);
}

static void test_is_nbd(void **state)
{
	(void)state;
	assert_true(nbd_uri_is_nbd("nbd://h/"));
	assert_true(nbd_uri_is_nbd("nbd+unix:///?socket=/s"));
	assert_true(nbd_uri_is_nbd("nbds://h/"));
	assert_true(nbd_uri_is_nbd("nbd:garbage"));
	assert_false(nbd_uri_is_nbd("unix:/tmp/s"));
	assert_false(nbd_uri_is_nbd("/tmp/nbd.img"));
	assert_false(nbd_uri_is_nbd("nbdisk.img"));
	assert_false(nbd_uri_is_nbd(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp_forms),
		cmocka_unit_test(test_unix_forms),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_tls_not_supported),
		cmocka_unit_test(test_is_nbd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
