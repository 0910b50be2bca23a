/* Unit tests for serial line settings and "DEVICE[:SETTINGS]" (src/common/serial_port.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/serial_port.h"

static void assert_settings(const char *text, speed_t speed, int data, char parity, int stop)
{
	struct serial_settings s;

	assert_int_equal(serial_settings_parse(text, &s), 0);
	assert_int_equal(s.speed, speed);
	assert_int_equal(s.data_bits, data);
	assert_int_equal(s.parity, parity);
	assert_int_equal(s.stop_bits, stop);
}

static void test_forms(void **state)
{
	(void)state;
	assert_settings(NULL, 0, 0, 0, 0);
	assert_settings("", 0, 0, 0, 0);
	assert_settings("115200", B115200, 0, 0, 0);
	assert_settings("115200,8,N,1", B115200, 8, 'n', 1);
	assert_settings("9600,n,8,1", B9600, 8, 'n', 1); /* DOS MODE's order */
	assert_settings("57600,E,7,2", B57600, 7, 'e', 2);
	assert_settings("baud=19200 parity=o data=5 stop=2", B19200, 5, 'o', 2);
	assert_settings("BAUD=4000000", B4000000, 0, 0, 0);
	assert_settings(" 300 , m", B300, 0, 'm', 0);
	assert_settings("50,s", B50, 0, 's', 0);
}

static void test_bad_forms(void **state)
{
	struct serial_settings s;
	char long_text[300];

	(void)state;
	assert_int_equal(serial_settings_parse("12345", &s), -EINVAL);      /* no such rate */
	assert_int_equal(serial_settings_parse("fast", &s), -EINVAL);
	assert_int_equal(serial_settings_parse("115200,9", &s), -EINVAL);   /* data bits */
	assert_int_equal(serial_settings_parse("115200,8,X,1", &s), -EINVAL);
	assert_int_equal(serial_settings_parse("115200,3", &s), -EINVAL);
	assert_int_equal(serial_settings_parse("115200x", &s), -EINVAL);
	assert_int_equal(serial_settings_parse("-9600", &s), -EINVAL);
	assert_int_equal(serial_settings_parse("speed=9600", &s), -EINVAL);
	assert_int_equal(serial_settings_parse("stop=3", &s), -EINVAL);
	assert_int_equal(serial_settings_parse("99999999999999999999999", &s), -EINVAL);
	memset(long_text, '1', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	assert_int_equal(serial_settings_parse(long_text, &s), -EINVAL);
}

static void test_split(void **state)
{
	char device[64];
	const char *settings;

	(void)state;
	assert_int_equal(serial_target_split("/nonexistent/ttyX:115200,8,N,1", device, sizeof(device),
					     &settings), 0);
	assert_string_equal(device, "/nonexistent/ttyX");
	assert_string_equal(settings, "115200,8,N,1");

	assert_int_equal(serial_target_split("/nonexistent/ttyX", device, sizeof(device), &settings), 0);
	assert_string_equal(device, "/nonexistent/ttyX");
	assert_null(settings);

	/* Colons in the name: the last one starts the settings... */
	assert_int_equal(serial_target_split("/nonexistent/pci-0000:00:16.3:9600", device, sizeof(device),
					     &settings), 0);
	assert_string_equal(device, "/nonexistent/pci-0000:00:16.3");
	assert_string_equal(settings, "9600");
	/* ...unless the whole text names a file. */
	assert_int_equal(serial_target_split("/dev/null", device, sizeof(device), &settings), 0);
	assert_null(settings);

	assert_int_equal(serial_target_split("/nonexistent/ttyX:", device, sizeof(device), &settings), 0);
	assert_string_equal(settings, "");
	assert_int_equal(serial_target_split(":115200", device, sizeof(device), &settings), -EINVAL);
	assert_int_equal(serial_target_split("", device, sizeof(device), &settings), -EINVAL);
	assert_int_equal(serial_target_split("/nonexistent/ttyX:9600", device, 8, &settings), -ENAMETOOLONG);
}

static void test_open_refuses_what_is_no_tty(void **state)
{
	struct serial_settings s = {0};
	const char *what = NULL;

	(void)state;
	assert_int_equal(serial_port_open("/nonexistent/ttyX", &s, &what), -ENOENT);
	assert_string_equal(what, "open");
	assert_int_equal(serial_port_open("/dev/null", &s, &what), -ENOTTY);
	assert_string_equal(what, "configure");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_bad_forms),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_open_refuses_what_is_no_tty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
