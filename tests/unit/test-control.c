/* Unit tests for the control protocol codec (src/protocol/control.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/endian.h"
#include "protocol/control.h"

#define LAST_TAG CONTROL_TAG_OWNER_GID

/* Messages are large (the units array): keep them off the stack. */
static struct control_message original, decoded;
static uint8_t wire[CONTROL_MAX_MESSAGE];
static const uint8_t filler[8192]; /* attribute values whose content does not matter */

static void reset(void)
{
	memset(&original, 0, sizeof(original));
	memset(&decoded, 0xA5, sizeof(decoded)); /* decode must clear what it does not set */
	memset(wire, 0, sizeof(wire));
}

/* A header for hand-built messages. */
static void put_header(uint8_t *buf, uint32_t magic, uint16_t version, uint16_t type,
		       uint32_t length, int32_t status)
{
	put_le32(buf, magic);
	put_le16(buf + 4, version);
	put_le16(buf + 6, type);
	put_le32(buf + 8, length);
	put_le32(buf + 12, (uint32_t)status);
}

/* Append one attribute at *pos. */
static void put_attribute(uint8_t *buf, size_t *pos, uint16_t tag, const void *value, uint16_t size)
{
	put_le16(buf + *pos, tag);
	put_le16(buf + *pos + 2, size);
	if (size)
		memcpy(buf + *pos + 4, value, size);
	*pos += 4 + (size_t)size;
}

static void test_create_round_trip(void **state)
{
	struct imdisk_device *d = &original.device;
	int size;

	(void)state;
	reset();
	original.type = CONTROL_CREATE;
	d->unit = 7;
	d->flags = IMDISK_DEVICE_TYPE_HD | IMDISK_TYPE_FILE | IMDISK_OPTION_RO | IMDISK_OPTION_REMOVABLE;
	d->size = 0x123456789ull;
	d->image_offset = 32256;
	d->sector_size = 4096;
	d->sectors_per_track = 63;
	d->tracks_per_cylinder = 255;
	d->cylinders = 0x100000001ull;
	d->transport = IMDISK_TRANSPORT_FUSE;
	d->connected = 1;
	strcpy(d->device, "/dev/loop7");
	memset(d->image, 'i', sizeof(d->image) - 1); /* the longest name that fits */
	original.owner_uid = 65534;
	original.owner_gid = 0xFFFFFFFEu;
	original.mask = 0x0F;
	original.values = 0x05;
	original.remove_mode = 2;
	original.amount = 1ull << 40;
	original.api_version = IMDISK_API_VERSION;
	strcpy(original.version_text, "imdiskd 0.1.0");
	original.event_kind = IMDISK_EVENT_GROW;
	original.total = 3;
	original.unit_count = 3;
	original.units[0] = 0;
	original.units[1] = 7;
	original.units[2] = 0xFFFFFFFE;
	strcpy(original.message, "a message with UTF-8: \xc3\xa9");
	for (unsigned tag = 1; tag <= LAST_TAG; tag++)
		control_set(&original, tag);

	size = control_encode(&original, wire, sizeof(wire));
	assert_true(size > CONTROL_HEADER_SIZE);
	assert_int_equal(control_message_size(wire, CONTROL_HEADER_SIZE), size);
	assert_int_equal(control_decode(wire, (size_t)size, &decoded), 0);

	assert_int_equal(decoded.type, CONTROL_CREATE);
	assert_int_equal(decoded.status, 0);
	assert_int_equal(decoded.present, original.present);
	for (unsigned tag = 1; tag <= LAST_TAG; tag++)
		assert_true(CONTROL_HAS(&decoded, tag));
	assert_int_equal(decoded.device.unit, 7);
	assert_int_equal(decoded.device.flags, d->flags);
	assert_int_equal(decoded.device.size, 0x123456789ull);
	assert_int_equal(decoded.device.image_offset, 32256);
	assert_int_equal(decoded.device.sector_size, 4096);
	assert_int_equal(decoded.device.sectors_per_track, 63);
	assert_int_equal(decoded.device.tracks_per_cylinder, 255);
	assert_int_equal(decoded.device.cylinders, 0x100000001ull);
	assert_int_equal(decoded.device.transport, IMDISK_TRANSPORT_FUSE);
	assert_int_equal(decoded.device.connected, 1);
	assert_string_equal(decoded.device.device, "/dev/loop7");
	assert_string_equal(decoded.device.image, d->image);
	assert_int_equal(decoded.owner_uid, 65534);
	assert_int_equal(decoded.owner_gid, 0xFFFFFFFEu);
	assert_int_equal(decoded.mask, 0x0F);
	assert_int_equal(decoded.values, 0x05);
	assert_int_equal(decoded.remove_mode, 2);
	assert_int_equal(decoded.amount, 1ull << 40);
	assert_int_equal(decoded.api_version, IMDISK_API_VERSION);
	assert_string_equal(decoded.version_text, "imdiskd 0.1.0");
	assert_int_equal(decoded.event_kind, IMDISK_EVENT_GROW);
	assert_int_equal(decoded.total, 3);
	assert_int_equal(decoded.unit_count, 3);
	assert_int_equal(decoded.units[1], 7);
	assert_int_equal(decoded.units[2], 0xFFFFFFFE);
	assert_string_equal(decoded.message, original.message);
	/* Nothing else differs, to the byte. */
	assert_memory_equal(&decoded, &original, sizeof(original));

	/* Encoding again gives the same bytes. */
	assert_int_equal(control_encode(&decoded, wire + size, sizeof(wire) - (size_t)size), size);
	assert_memory_equal(wire, wire + size, (size_t)size);
}

static void test_list_reply_units(void **state)
{
	static const uint8_t expected[] = {
		/* header: "IMDK", version 1, type LIST | REPLY, 28 bytes, status 0 */
		0x49, 0x4D, 0x44, 0x4B, 0x01, 0x00, 0x04, 0x80, 0x1C, 0x00, 0x00, 0x00, 0, 0, 0, 0,
		/* units: tag 17, 16 bytes, 0, 3, 7, 1023 */
		0x11, 0x00, 0x10, 0x00, 0, 0, 0, 0, 3, 0, 0, 0, 7, 0, 0, 0, 0xFF, 0x03, 0, 0,
		/* total: tag 21, 4 bytes, 4 */
		0x15, 0x00, 0x04, 0x00, 4, 0, 0, 0,
	};
	int size;

	(void)state;
	reset();
	original.type = CONTROL_LIST | CONTROL_REPLY;
	original.unit_count = 4;
	original.units[1] = 3;
	original.units[2] = 7;
	original.units[3] = 1023;
	original.total = 4;
	control_set(&original, CONTROL_TAG_UNITS);
	control_set(&original, CONTROL_TAG_TOTAL);
	size = control_encode(&original, wire, sizeof(wire));
	assert_int_equal(size, sizeof(expected));
	assert_memory_equal(wire, expected, sizeof(expected));
	assert_int_equal(control_decode(wire, (size_t)size, &decoded), 0);
	assert_int_equal(decoded.type, CONTROL_LIST | CONTROL_REPLY);
	assert_int_equal(decoded.unit_count, 4);
	assert_int_equal(decoded.units[0], 0);
	assert_int_equal(decoded.units[3], 1023);
	assert_int_equal(decoded.total, 4);

	/* An empty list is an attribute of size 0, and decodes to no units. */
	reset();
	original.type = CONTROL_LIST | CONTROL_REPLY;
	control_set(&original, CONTROL_TAG_UNITS);
	size = control_encode(&original, wire, sizeof(wire));
	assert_int_equal(size, CONTROL_HEADER_SIZE + 4);
	assert_int_equal(control_decode(wire, (size_t)size, &decoded), 0);
	assert_true(CONTROL_HAS(&decoded, CONTROL_TAG_UNITS));
	assert_int_equal(decoded.unit_count, 0);

	/* The most units there can be. */
	reset();
	original.type = CONTROL_LIST | CONTROL_REPLY;
	original.unit_count = CONTROL_MAX_UNITS;
	for (uint32_t i = 0; i < CONTROL_MAX_UNITS; i++)
		original.units[i] = i * 3;
	control_set(&original, CONTROL_TAG_UNITS);
	size = control_encode(&original, wire, sizeof(wire));
	assert_int_equal(size, CONTROL_HEADER_SIZE + 4 + 4 * CONTROL_MAX_UNITS);
	assert_int_equal(control_decode(wire, (size_t)size, &decoded), 0);
	assert_int_equal(decoded.unit_count, CONTROL_MAX_UNITS);
	assert_int_equal(decoded.units[CONTROL_MAX_UNITS - 1], (CONTROL_MAX_UNITS - 1) * 3);
	original.unit_count = CONTROL_MAX_UNITS + 1;
	assert_int_equal(control_encode(&original, wire, sizeof(wire)), -EINVAL);
}

static void test_query_version_bytes(void **state)
{
	static const uint8_t header_only[] = {
		'I', 'M', 'D', 'K', 0x01, 0x00, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
	};
	static const uint8_t with_api[] = {
		'I', 'M', 'D', 'K', 0x01, 0x00, 0x01, 0x00, 0x08, 0, 0, 0, 0, 0, 0, 0,
		0x12, 0x00, 0x04, 0x00, 0x00, 0x01, 0x00, 0x00,
	};
	int size;

	(void)state;
	reset();
	original.type = CONTROL_QUERY_VERSION;
	size = control_encode(&original, wire, sizeof(wire));
	assert_int_equal(size, CONTROL_HEADER_SIZE);
	assert_memory_equal(wire, header_only, sizeof(header_only));
	/* Exactly the header's room is enough. */
	assert_int_equal(control_encode(&original, wire, CONTROL_HEADER_SIZE), CONTROL_HEADER_SIZE);

	original.api_version = 0x0100;
	control_set(&original, CONTROL_TAG_API_VERSION);
	size = control_encode(&original, wire, sizeof(wire));
	assert_int_equal(size, sizeof(with_api));
	assert_memory_equal(wire, with_api, sizeof(with_api));
}

static void test_reply_status(void **state)
{
	int size;

	(void)state;
	reset();
	original.type = CONTROL_REMOVE | CONTROL_REPLY;
	original.status = -EBUSY;
	strcpy(original.message, "/dev/loop3 is mounted on /mnt");
	control_set(&original, CONTROL_TAG_MESSAGE);
	size = control_encode(&original, wire, sizeof(wire));
	assert_true(size > 0);
	assert_int_equal((int32_t)get_le32(wire + 12), -EBUSY);
	assert_int_equal(control_decode(wire, (size_t)size, &decoded), 0);
	assert_int_equal(decoded.status, -EBUSY);
	assert_string_equal(decoded.message, original.message);
}

static void test_truncated(void **state)
{
	int size;

	(void)state;
	reset();
	original.type = CONTROL_CREATE;
	original.device.size = 1 << 20;
	strcpy(original.device.image, "/tmp/disk.img");
	control_set(&original, CONTROL_TAG_SIZE);
	control_set(&original, CONTROL_TAG_IMAGE);
	size = control_encode(&original, wire, sizeof(wire));
	assert_true(size > 0);
	/* Every proper prefix is refused, and so is one byte too many. */
	for (int len = 0; len < size; len++) {
		if (control_decode(wire, (size_t)len, &decoded) != -EBADMSG)
			fail_msg("a %d-byte prefix of %d decoded", len, size);
		if (len < CONTROL_HEADER_SIZE)
			assert_int_equal(control_message_size(wire, (size_t)len), -EBADMSG);
	}
	assert_int_equal(control_decode(wire, (size_t)size + 1, &decoded), -EBADMSG);
	assert_int_equal(control_decode(wire, (size_t)size, &decoded), 0);

	/* A length that cuts an attribute header in two. */
	reset();
	put_header(wire, CONTROL_MAGIC, CONTROL_VERSION, CONTROL_CREATE, 2, 0);
	put_le16(wire + 16, CONTROL_TAG_UNIT);
	assert_int_equal(control_decode(wire, CONTROL_HEADER_SIZE + 2, &decoded), -EBADMSG);
	/* An attribute that says it is longer than what is left. */
	put_header(wire, CONTROL_MAGIC, CONTROL_VERSION, CONTROL_CREATE, 6, 0);
	put_le16(wire + 18, 4);
	assert_int_equal(control_decode(wire, CONTROL_HEADER_SIZE + 6, &decoded), -EBADMSG);
	/* Not enough room to encode. */
	reset();
	original.type = CONTROL_QUERY_VERSION;
	assert_int_equal(control_encode(&original, wire, CONTROL_HEADER_SIZE - 1), -ENOSPC);
	control_set(&original, CONTROL_TAG_API_VERSION);
	assert_int_equal(control_encode(&original, wire, CONTROL_HEADER_SIZE + 7), -ENOSPC);
	assert_int_equal(control_encode(&original, wire, CONTROL_HEADER_SIZE + 8), CONTROL_HEADER_SIZE + 8);
}

static void test_bad_header(void **state)
{
	(void)state;
	reset();
	/* Bad magic. */
	put_header(wire, 0x4B444D4A, CONTROL_VERSION, CONTROL_LIST, 0, 0);
	assert_int_equal(control_message_size(wire, CONTROL_HEADER_SIZE), -EBADMSG);
	assert_int_equal(control_decode(wire, CONTROL_HEADER_SIZE, &decoded), -EBADMSG);
	put_header(wire, 0x494D444B, CONTROL_VERSION, CONTROL_LIST, 0, 0); /* byte-swapped */
	assert_int_equal(control_decode(wire, CONTROL_HEADER_SIZE, &decoded), -EBADMSG);
	/* Wrong version. */
	put_header(wire, CONTROL_MAGIC, CONTROL_VERSION + 1, CONTROL_LIST, 0, 0);
	assert_int_equal(control_message_size(wire, CONTROL_HEADER_SIZE), -EPROTONOSUPPORT);
	assert_int_equal(control_decode(wire, CONTROL_HEADER_SIZE, &decoded), -EPROTONOSUPPORT);
	put_header(wire, CONTROL_MAGIC, 0, CONTROL_LIST, 0, 0);
	assert_int_equal(control_decode(wire, CONTROL_HEADER_SIZE, &decoded), -EPROTONOSUPPORT);
	/* Unknown types, in requests and replies. */
	static const uint16_t bad_types[] = {0, CONTROL_TYPE_MAX + 1, CONTROL_REPLY,
					     CONTROL_REPLY | (CONTROL_TYPE_MAX + 1), 0x7FFF, 0xFFFF};
	for (size_t i = 0; i < sizeof(bad_types) / sizeof(bad_types[0]); i++) {
		put_header(wire, CONTROL_MAGIC, CONTROL_VERSION, bad_types[i], 0, 0);
		assert_int_equal(control_message_size(wire, CONTROL_HEADER_SIZE), -EBADMSG);
		assert_int_equal(control_decode(wire, CONTROL_HEADER_SIZE, &decoded), -EBADMSG);
		original.type = bad_types[i];
		assert_int_equal(control_encode(&original, wire, sizeof(wire)), -EINVAL);
	}
	for (uint16_t type = 1; type <= CONTROL_TYPE_MAX; type++) {
		put_header(wire, CONTROL_MAGIC, CONTROL_VERSION, type | CONTROL_REPLY, 0, 0);
		assert_int_equal(control_decode(wire, CONTROL_HEADER_SIZE, &decoded), 0);
		assert_int_equal(decoded.type, type | CONTROL_REPLY);
	}
}

static void test_oversize_payload(void **state)
{
	(void)state;
	reset();
	put_header(wire, CONTROL_MAGIC, CONTROL_VERSION, CONTROL_CREATE, CONTROL_MAX_PAYLOAD, 0);
	assert_int_equal(control_message_size(wire, CONTROL_HEADER_SIZE), CONTROL_MAX_MESSAGE);
	put_header(wire, CONTROL_MAGIC, CONTROL_VERSION, CONTROL_CREATE, CONTROL_MAX_PAYLOAD + 1, 0);
	assert_int_equal(control_message_size(wire, CONTROL_HEADER_SIZE), -EBADMSG);
	put_header(wire, CONTROL_MAGIC, CONTROL_VERSION, CONTROL_CREATE, UINT32_MAX, 0);
	assert_int_equal(control_message_size(wire, CONTROL_HEADER_SIZE), -EBADMSG);
	assert_int_equal(control_decode(wire, sizeof(wire), &decoded), -EBADMSG);

	/* A full-size payload of skipped attributes decodes. */
	size_t pos = CONTROL_HEADER_SIZE;
	while (CONTROL_MAX_MESSAGE - pos >= 4 + 1000)
		put_attribute(wire, &pos, 1000, filler, 1000);
	put_attribute(wire, &pos, 1000, filler, (uint16_t)(CONTROL_MAX_MESSAGE - pos - 4));
	assert_int_equal(pos, CONTROL_MAX_MESSAGE);
	put_header(wire, CONTROL_MAGIC, CONTROL_VERSION, CONTROL_CREATE, CONTROL_MAX_PAYLOAD, 0);
	assert_int_equal(control_decode(wire, pos, &decoded), 0);
	assert_int_equal(decoded.present, 0);
}

static void test_string_without_room(void **state)
{
	static char image[IMDISK_PATH_MAX + 1];
	size_t pos;

	(void)state;
	reset();
	memset(image, 'x', sizeof(image));
	/* 4095 bytes fit with their terminator; 4096 do not. */
	pos = CONTROL_HEADER_SIZE;
	put_attribute(wire, &pos, CONTROL_TAG_IMAGE, image, IMDISK_PATH_MAX - 1);
	put_header(wire, CONTROL_MAGIC, CONTROL_VERSION, CONTROL_CREATE, (uint32_t)(pos - CONTROL_HEADER_SIZE), 0);
	assert_int_equal(control_decode(wire, pos, &decoded), 0);
	assert_int_equal(strlen(decoded.device.image), IMDISK_PATH_MAX - 1);

	pos = CONTROL_HEADER_SIZE;
	put_attribute(wire, &pos, CONTROL_TAG_IMAGE, image, IMDISK_PATH_MAX);
	put_header(wire, CONTROL_MAGIC, CONTROL_VERSION, CONTROL_CREATE, (uint32_t)(pos - CONTROL_HEADER_SIZE), 0);
	assert_int_equal(control_decode(wire, pos, &decoded), -EBADMSG);

	pos = CONTROL_HEADER_SIZE;
	put_attribute(wire, &pos, CONTROL_TAG_VERSION_TEXT, image, CONTROL_VERSION_TEXT_MAX);
	put_header(wire, CONTROL_MAGIC, CONTROL_VERSION, CONTROL_QUERY_VERSION | CONTROL_REPLY,
		   (uint32_t)(pos - CONTROL_HEADER_SIZE), 0);
	assert_int_equal(control_decode(wire, pos, &decoded), -EBADMSG);

	pos = CONTROL_HEADER_SIZE;
	put_attribute(wire, &pos, CONTROL_TAG_DEVICE, image, IMDISK_DEVICE_NAME_MAX);
	put_header(wire, CONTROL_MAGIC, CONTROL_VERSION, CONTROL_QUERY_DEVICE | CONTROL_REPLY,
		   (uint32_t)(pos - CONTROL_HEADER_SIZE), 0);
	assert_int_equal(control_decode(wire, pos, &decoded), -EBADMSG);

	/* A NUL inside a string is refused: the name would not be the one sent. */
	pos = CONTROL_HEADER_SIZE;
	put_attribute(wire, &pos, CONTROL_TAG_IMAGE, "/tmp/a\0b", 8);
	put_header(wire, CONTROL_MAGIC, CONTROL_VERSION, CONTROL_CREATE, (uint32_t)(pos - CONTROL_HEADER_SIZE), 0);
	assert_int_equal(control_decode(wire, pos, &decoded), -EBADMSG);

	/* An unterminated field is sent cut to what the receiver can hold. */
	reset();
	original.type = CONTROL_QUERY_VERSION | CONTROL_REPLY;
	memset(original.version_text, 'v', sizeof(original.version_text));
	control_set(&original, CONTROL_TAG_VERSION_TEXT);
	assert_int_equal(control_encode(&original, wire, sizeof(wire)),
			 CONTROL_HEADER_SIZE + 4 + CONTROL_VERSION_TEXT_MAX - 1);
	/* And a string with no room left in the buffer is not sent at all. */
	assert_int_equal(control_encode(&original, wire, CONTROL_HEADER_SIZE + 4 + 10), -ENOSPC);
}

static void test_bad_attribute_sizes(void **state)
{
	static const uint8_t bytes[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
	static const struct {
		uint16_t tag, size;
	} cases[] = {
		{CONTROL_TAG_UNIT, 0}, {CONTROL_TAG_UNIT, 3}, {CONTROL_TAG_UNIT, 8},
		{CONTROL_TAG_SIZE, 4}, {CONTROL_TAG_SIZE, 9}, {CONTROL_TAG_UNITS, 3},
		{CONTROL_TAG_UNITS, 6},
	};
	size_t pos;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		reset();
		pos = CONTROL_HEADER_SIZE;
		put_attribute(wire, &pos, cases[i].tag, bytes, cases[i].size);
		put_header(wire, CONTROL_MAGIC, CONTROL_VERSION, CONTROL_CREATE,
			   (uint32_t)(pos - CONTROL_HEADER_SIZE), 0);
		if (control_decode(wire, pos, &decoded) != -EBADMSG)
			fail_msg("tag %u with %u bytes accepted", cases[i].tag, cases[i].size);
	}
	/* More units than a LIST reply may carry. */
	reset();
	pos = CONTROL_HEADER_SIZE;
	put_attribute(wire, &pos, CONTROL_TAG_UNITS, filler, 4 * (CONTROL_MAX_UNITS + 1));
	put_header(wire, CONTROL_MAGIC, CONTROL_VERSION, CONTROL_LIST | CONTROL_REPLY,
		   (uint32_t)(pos - CONTROL_HEADER_SIZE), 0);
	assert_int_equal(control_decode(wire, pos, &decoded), -EBADMSG);
}

static void test_unknown_tags_skipped(void **state)
{
	static const uint8_t junk[7] = {0xde, 0xad, 0xbe, 0xef, 0, 1, 2};
	uint8_t value[8];
	size_t pos = CONTROL_HEADER_SIZE;

	(void)state;
	reset();
	put_le32(value, 42);
	put_attribute(wire, &pos, 0, junk, 3);                  /* tag 0 is no tag */
	put_attribute(wire, &pos, CONTROL_TAG_UNIT, value, 4);
	put_attribute(wire, &pos, LAST_TAG + 1, junk, 7);      /* a newer peer's tag */
	put_attribute(wire, &pos, 31, junk, 0);
	put_attribute(wire, &pos, 32, junk, 1);
	put_attribute(wire, &pos, 0xFFFF, junk, 7);
	put_le64(value, 1ull << 33);
	put_attribute(wire, &pos, CONTROL_TAG_SIZE, value, 8);
	put_header(wire, CONTROL_MAGIC, CONTROL_VERSION, CONTROL_CREATE, (uint32_t)(pos - CONTROL_HEADER_SIZE), 0);
	assert_int_equal(control_decode(wire, pos, &decoded), 0);
	assert_int_equal(decoded.present, (1u << CONTROL_TAG_UNIT) | (1u << CONTROL_TAG_SIZE));
	assert_int_equal(decoded.device.unit, 42);
	assert_int_equal(decoded.device.size, 1ull << 33);

	/* The encoder sends only known tags, whatever else `present` says. */
	reset();
	original.type = CONTROL_LIST;
	original.present = ~0u & ~(1u << CONTROL_TAG_UNITS);
	assert_true(control_encode(&original, wire, sizeof(wire)) > 0);
	assert_int_equal(control_decode(wire, CONTROL_HEADER_SIZE + get_le32(wire + 8), &decoded), 0);
	for (unsigned tag = 1; tag <= LAST_TAG; tag++)
		assert_int_equal(CONTROL_HAS(&decoded, tag), tag != CONTROL_TAG_UNITS);
	assert_false(CONTROL_HAS(&decoded, 0));
	assert_false(CONTROL_HAS(&decoded, LAST_TAG + 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_round_trip),
		cmocka_unit_test(test_list_reply_units),
		cmocka_unit_test(test_query_version_bytes),
		cmocka_unit_test(test_reply_status),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_bad_header),
		cmocka_unit_test(test_oversize_payload),
		cmocka_unit_test(test_string_without_room),
		cmocka_unit_test(test_bad_attribute_sizes),
		cmocka_unit_test(test_unknown_tags_skipped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
