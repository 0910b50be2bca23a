/* The image format detector: each format's magic as qemu-img writes it, the near
 * misses that must stay raw, and the names --image-format accepts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "image/image_format.h"

static enum image_format detect_prefix(const char *magic, size_t length)
{
	uint8_t head[IMAGE_FORMAT_PROBE_SIZE] = { 0 };

	memcpy(head, magic, length);
	return image_format_detect(head, sizeof(head));
}

static void test_magics(void **state)
{
	uint8_t vdi[IMAGE_FORMAT_PROBE_SIZE] = "<<< Oracle VM VirtualBox Disk Image >>>\n";

	(void)state;
	assert_int_equal(detect_prefix("QFI\xfb\0\0\0\3", 8), IMAGE_FORMAT_QCOW2);
	assert_int_equal(detect_prefix("QFI\xfb\0\0\0\2", 8), IMAGE_FORMAT_QCOW2);
	assert_int_equal(detect_prefix("QED\0", 4), IMAGE_FORMAT_QED);
	assert_int_equal(detect_prefix("vhdxfile", 8), IMAGE_FORMAT_VHDX);
	assert_int_equal(detect_prefix("KDMV", 4), IMAGE_FORMAT_VMDK);
	assert_int_equal(detect_prefix("# Disk DescriptorFile\n", 22), IMAGE_FORMAT_VMDK);
	assert_int_equal(detect_prefix("conectix", 8), IMAGE_FORMAT_VHD);
	vdi[64] = 0x7f;
	vdi[65] = 0x10;
	vdi[66] = 0xda;
	vdi[67] = 0xbe;
	assert_int_equal(image_format_detect(vdi, sizeof(vdi)), IMAGE_FORMAT_VDI);
}

static void test_near_misses_are_raw(void **state)
{
	(void)state;
	/* qcow version 1 is another format; a magic cut short is no magic. */
	assert_int_equal(detect_prefix("QFI\xfb\0\0\0\1", 8), IMAGE_FORMAT_RAW);
	assert_int_equal(image_format_detect((const uint8_t *)"QFI\xfb", 4), IMAGE_FORMAT_RAW);
	assert_int_equal(image_format_detect((const uint8_t *)"vhdxfil", 7), IMAGE_FORMAT_RAW);
	assert_int_equal(image_format_detect(NULL, 0), IMAGE_FORMAT_RAW);
	assert_int_equal(detect_prefix("\x55\xaa", 2), IMAGE_FORMAT_RAW);
}

static void test_names(void **state)
{
	enum image_format format;

	(void)state;
	assert_int_equal(image_format_parse("vpc", &format), 0);
	assert_int_equal(format, IMAGE_FORMAT_VHD);
	assert_int_equal(image_format_parse("QCOW2", &format), 0);
	assert_int_equal(format, IMAGE_FORMAT_QCOW2);
	assert_string_equal(image_format_qemu_name(IMAGE_FORMAT_VHD), "vpc");
	assert_int_equal(image_format_parse("qcow", &format), -22);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_magics),
		cmocka_unit_test(test_near_misses_are_raw),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
