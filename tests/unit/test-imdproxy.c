/* IMDPROXY codec: byte vectors written by hand from the wire layout (every field a
 * u64 little-endian), decoded and encoded both ways. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "protocol/imdproxy.h"

#define LE64(v)                                                                                  \
	(uint8_t)((v) & 0xff), (uint8_t)(((v) >> 8) & 0xff), (uint8_t)(((v) >> 16) & 0xff),     \
		(uint8_t)(((v) >> 24) & 0xff), (uint8_t)(((v) >> 32) & 0xff),                    \
		(uint8_t)(((v) >> 40) & 0xff), (uint8_t)(((v) >> 48) & 0xff),                    \
		(uint8_t)(((v) >> 56) & 0xff)

static void test_codes(void **state)
{
	(void)state;
	assert_int_equal(IMDPROXY_REQ_NULL, 0);
	assert_int_equal(IMDPROXY_REQ_INFO, 1);
	assert_int_equal(IMDPROXY_REQ_READ, 2);
	assert_int_equal(IMDPROXY_REQ_WRITE, 3);
	assert_int_equal(IMDPROXY_REQ_CONNECT, 4);
	assert_int_equal(IMDPROXY_REQ_CLOSE, 5);
	assert_int_equal(IMDPROXY_REQ_UNMAP, 6);
	assert_int_equal(IMDPROXY_REQ_ZERO, 7);
	assert_int_equal(IMDPROXY_REQ_SCSI, 8);
	assert_int_equal(IMDPROXY_REQ_SHARED, 9);
	assert_int_equal(IMDPROXY_FLAG_RO, 0x01);
	assert_int_equal(IMDPROXY_FLAG_SUPPORTS_UNMAP, 0x02);
	assert_int_equal(IMDPROXY_FLAG_SUPPORTS_ZERO, 0x04);
	assert_int_equal(IMDPROXY_FLAG_SUPPORTS_SCSI, 0x08);
	assert_int_equal(IMDPROXY_FLAG_SUPPORTS_SHARED, 0x10);
	assert_int_equal(IMDPROXY_FLAG_KEEP_OPEN, 0x20);
	assert_true(imdproxy_code_known(9));
	assert_false(imdproxy_code_known(10));
	assert_string_equal(imdproxy_code_name(IMDPROXY_REQ_UNMAP), "UNMAP");
	assert_string_equal(imdproxy_code_name(UINT64_MAX), "unknown");
}

static void test_header_sizes(void **state)
{
	(void)state;
	assert_int_equal(imdproxy_request_header_size(IMDPROXY_REQ_INFO), 8);
	assert_int_equal(imdproxy_request_header_size(IMDPROXY_REQ_READ), 24);
	assert_int_equal(imdproxy_request_header_size(IMDPROXY_REQ_WRITE), 24);
	assert_int_equal(imdproxy_request_header_size(IMDPROXY_REQ_CONNECT), 24);
	assert_int_equal(imdproxy_request_header_size(IMDPROXY_REQ_CLOSE), 8);
	assert_int_equal(imdproxy_request_header_size(IMDPROXY_REQ_UNMAP), 16);
	assert_int_equal(imdproxy_request_header_size(IMDPROXY_REQ_ZERO), 16);
	assert_int_equal(imdproxy_request_header_size(IMDPROXY_REQ_SCSI), 40);
	assert_int_equal(imdproxy_request_header_size(IMDPROXY_REQ_NULL), 8);
	assert_int_equal(imdproxy_request_header_size(IMDPROXY_REQ_SHARED), 8);
	assert_int_equal(imdproxy_request_header_size(0x1234), 8);

	assert_int_equal(imdproxy_reply_header_size(IMDPROXY_REQ_INFO), 24);
	assert_int_equal(imdproxy_reply_header_size(IMDPROXY_REQ_READ), 16);
	assert_int_equal(imdproxy_reply_header_size(IMDPROXY_REQ_WRITE), 16);
	assert_int_equal(imdproxy_reply_header_size(IMDPROXY_REQ_CONNECT), 16);
	assert_int_equal(imdproxy_reply_header_size(IMDPROXY_REQ_CLOSE), 0);
	assert_int_equal(imdproxy_reply_header_size(IMDPROXY_REQ_UNMAP), 8);
	assert_int_equal(imdproxy_reply_header_size(IMDPROXY_REQ_ZERO), 8);
	assert_int_equal(imdproxy_reply_header_size(IMDPROXY_REQ_SCSI), 16);
	assert_int_equal(imdproxy_reply_header_size(77), 8);
}

static void test_info_request(void **state)
{
	static const uint8_t wire[] = {0x01, 0, 0, 0, 0, 0, 0, 0};
	struct imdproxy_request req;
	uint8_t buf[IMDPROXY_MAX_REQUEST_HEADER];
	uint64_t payload = 99;

	(void)state;
	assert_int_equal(imdproxy_encode_info_request(buf), 8);
	assert_memory_equal(buf, wire, sizeof(wire));
	assert_int_equal(imdproxy_decode_request(wire, sizeof(wire), &req, &payload), 8);
	assert_int_equal(req.code, IMDPROXY_REQ_INFO);
	assert_int_equal(payload, 0);
}

static void test_info_reply(void **state)
{
	/* 1 GiB + 512, alignment 512, RO | SUPPORTS_ZERO */
	static const uint8_t wire[] = {
		0x00, 0x02, 0x00, 0x40, 0, 0, 0, 0,
		0x00, 0x02, 0, 0, 0, 0, 0, 0,
		0x05, 0, 0, 0, 0, 0, 0, 0,
	};
	struct imdproxy_info info = {.file_size = 0x40000200, .req_alignment = 512,
				     .flags = IMDPROXY_FLAG_RO | IMDPROXY_FLAG_SUPPORTS_ZERO};
	struct imdproxy_reply reply;
	uint8_t buf[IMDPROXY_MAX_REPLY_HEADER];
	uint64_t payload;

	(void)state;
	assert_int_equal(imdproxy_encode_info_reply(buf, &info), 24);
	assert_memory_equal(buf, wire, sizeof(wire));
	assert_int_equal(imdproxy_decode_reply(IMDPROXY_REQ_INFO, wire, sizeof(wire), NULL, &reply,
					       &payload), 24);
	assert_int_equal(reply.info.file_size, 0x40000200);
	assert_int_equal(reply.info.req_alignment, 512);
	assert_int_equal(reply.info.flags, 5);
	assert_int_equal(payload, 0);
	assert_int_equal(imdproxy_info_check(&reply.info), 0);
	assert_int_equal(imdproxy_decode_reply(IMDPROXY_REQ_INFO, wire, 23, NULL, &reply, &payload),
			 -EAGAIN);

	info.req_alignment = 0;
	assert_int_equal(imdproxy_info_check(&info), -EBADMSG);
	info.req_alignment = 513;
	assert_int_equal(imdproxy_info_check(&info), -EBADMSG);
	info.req_alignment = 1;
	assert_int_equal(imdproxy_info_check(&info), 0);
}

static void test_read_request_and_reply(void **state)
{
	static const uint8_t request[] = {
		0x02, 0, 0, 0, 0, 0, 0, 0,
		0x00, 0x10, 0, 0, 0, 0, 0, 0,          /* offset 4096 */
		0x00, 0x02, 0, 0, 0, 0, 0, 0,          /* length 512 */
	};
	static const uint8_t reply_wire[] = {
		0, 0, 0, 0, 0, 0, 0, 0,                /* errorno 0 */
		0x00, 0x01, 0, 0, 0, 0, 0, 0,          /* length 256: a short read */
	};
	struct imdproxy_request req;
	struct imdproxy_reply reply;
	uint8_t buf[IMDPROXY_MAX_REQUEST_HEADER];
	uint64_t payload;

	(void)state;
	assert_int_equal(imdproxy_encode_read_request(buf, 4096, 512), 24);
	assert_memory_equal(buf, request, sizeof(request));
	assert_int_equal(imdproxy_decode_request(request, sizeof(request), &req, &payload), 24);
	assert_int_equal(req.code, IMDPROXY_REQ_READ);
	assert_int_equal(req.offset, 4096);
	assert_int_equal(req.length, 512);
	assert_int_equal(payload, 0); /* a READ request carries no data */
	assert_int_equal(imdproxy_decode_request(request, 23, &req, &payload), -EAGAIN);

	assert_int_equal(imdproxy_encode_read_reply(buf, 0, 256), 16);
	assert_memory_equal(buf, reply_wire, sizeof(reply_wire));
	assert_int_equal(imdproxy_decode_reply(IMDPROXY_REQ_READ, reply_wire, sizeof(reply_wire),
					       &req, &reply, &payload), 16);
	assert_int_equal(reply.errorno, 0);
	assert_int_equal(reply.length, 256);
	assert_int_equal(payload, 256); /* the data follows the reply header */

	/* A reply longer than asked is a fatal device error for the client. */
	req.length = 255;
	assert_int_equal(imdproxy_decode_reply(IMDPROXY_REQ_READ, reply_wire, sizeof(reply_wire),
					       &req, &reply, &payload), -EBADMSG);
}

static void test_write_request_and_reply(void **state)
{
	static const uint8_t request[] = {
		0x03, 0, 0, 0, 0, 0, 0, 0,
		0x00, 0x00, 0x00, 0x00, 0x01, 0, 0, 0, /* offset 4 GiB */
		0x00, 0x00, 0x01, 0, 0, 0, 0, 0,       /* length 64 KiB */
	};
	static const uint8_t failed[] = {
		0x09, 0, 0, 0, 0, 0, 0, 0,             /* EBADF */
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};
	struct imdproxy_request req;
	struct imdproxy_reply reply;
	uint8_t buf[IMDPROXY_MAX_REQUEST_HEADER];
	uint64_t payload;

	(void)state;
	assert_int_equal(imdproxy_encode_write_request(buf, 1ull << 32, 65536), 24);
	assert_memory_equal(buf, request, sizeof(request));
	assert_int_equal(imdproxy_decode_request(request, sizeof(request), &req, &payload), 24);
	assert_int_equal(req.offset, 1ull << 32);
	assert_int_equal(req.length, 65536);
	assert_int_equal(payload, 65536);

	assert_int_equal(imdproxy_encode_write_reply(buf, 9, IMDPROXY_WRITE_FAILED), 16);
	assert_memory_equal(buf, failed, sizeof(failed));
	assert_int_equal(imdproxy_decode_reply(IMDPROXY_REQ_WRITE, failed, sizeof(failed), &req,
					       &reply, &payload), 16);
	assert_int_equal(reply.errorno, 9);
	assert_true(reply.length == UINT64_MAX);
	assert_int_equal(payload, 0);
}

static void test_range_requests(void **state)
{
	static const uint8_t unmap[] = {
		0x06, 0, 0, 0, 0, 0, 0, 0,
		0x20, 0, 0, 0, 0, 0, 0, 0,             /* two ranges follow */
		0x00, 0x02, 0, 0, 0, 0, 0, 0,          /* 512 */
		0x00, 0x10, 0, 0, 0, 0, 0, 0,          /*  +4096 */
		0x00, 0x00, 0x10, 0, 0, 0, 0, 0,       /* 1 MiB */
		0x00, 0x02, 0, 0, 0, 0, 0, 0,          /*  +512 */
	};
	static const uint8_t zero_reply[] = {0x16, 0, 0, 0, 0, 0, 0, 0};
	struct imdproxy_request req;
	struct imdproxy_range range;
	struct imdproxy_reply reply;
	uint8_t buf[64];
	uint64_t payload;

	(void)state;
	assert_int_equal(imdproxy_encode_range_request(buf, IMDPROXY_REQ_UNMAP, 32), 16);
	assert_int_equal(imdproxy_encode_range(buf + 16, 512, 4096), 16);
	assert_int_equal(imdproxy_encode_range(buf + 32, 1 << 20, 512), 16);
	assert_memory_equal(buf, unmap, sizeof(unmap));

	assert_int_equal(imdproxy_decode_request(unmap, sizeof(unmap), &req, &payload), 16);
	assert_int_equal(req.code, IMDPROXY_REQ_UNMAP);
	assert_int_equal(req.length, 32);
	assert_int_equal(payload, 32);
	assert_int_equal(imdproxy_range_count(payload), 2);
	imdproxy_decode_range(unmap + 16, &range);
	assert_int_equal(range.offset, 512);
	assert_int_equal(range.length, 4096);
	imdproxy_decode_range(unmap + 32, &range);
	assert_int_equal(range.offset, 1 << 20);
	assert_int_equal(range.length, 512);
	assert_int_equal(imdproxy_range_count(17), -EBADMSG);
	assert_int_equal(imdproxy_range_count(0), 0);

	static const uint8_t zero[] = {0x07, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0};
	assert_int_equal(imdproxy_encode_range_request(buf, IMDPROXY_REQ_ZERO, 16), 16);
	assert_memory_equal(buf, zero, sizeof(zero));
	assert_int_equal(imdproxy_decode_request(zero, sizeof(zero), &req, &payload), 16);
	assert_int_equal(req.code, IMDPROXY_REQ_ZERO);
	assert_int_equal(payload, 16);

	/* The reply is errorno alone: 22 = EINVAL. */
	assert_int_equal(imdproxy_encode_range_reply(buf, 22), 8);
	assert_memory_equal(buf, zero_reply, sizeof(zero_reply));
	assert_int_equal(imdproxy_decode_reply(IMDPROXY_REQ_ZERO, zero_reply, 8, NULL, &reply,
					       &payload), 8);
	assert_int_equal(reply.errorno, 22);
	assert_int_equal(payload, 0);
	assert_int_equal(imdproxy_decode_reply(IMDPROXY_REQ_UNMAP, zero_reply, 7, NULL, &reply,
					       &payload), -EAGAIN);
}

static void test_close(void **state)
{
	static const uint8_t wire[] = {0x05, 0, 0, 0, 0, 0, 0, 0};
	struct imdproxy_request req;
	struct imdproxy_reply reply = {0};
	uint8_t buf[16];
	uint64_t payload;

	(void)state;
	assert_int_equal(imdproxy_encode_close_request(buf), 8);
	assert_memory_equal(buf, wire, sizeof(wire));
	assert_int_equal(imdproxy_decode_request(wire, sizeof(wire), &req, &payload), 8);
	assert_int_equal(req.code, IMDPROXY_REQ_CLOSE);
	assert_int_equal(payload, 0);
	/* CLOSE has no reply. */
	assert_int_equal(imdproxy_decode_reply(IMDPROXY_REQ_CLOSE, wire, 8, NULL, &reply, &payload),
			 -EINVAL);
	assert_int_equal(imdproxy_encode_reply(buf, sizeof(buf), IMDPROXY_REQ_CLOSE, &reply), -EINVAL);
}

static void test_connect(void **state)
{
	/* flags 0x2301 (a TCP proxy, read-only), "h:9" = 3 UTF-16LE characters */
	static const uint8_t request[] = {
		0x04, 0, 0, 0, 0, 0, 0, 0,
		0x01, 0x23, 0, 0, 0, 0, 0, 0,
		0x06, 0, 0, 0, 0, 0, 0, 0,
		'h', 0, ':', 0, '9', 0,
	};
	static const uint8_t reply_wire[] = {
		0, 0, 0, 0, 0, 0, 0, 0,
		0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
	};
	struct imdproxy_request req;
	struct imdproxy_reply reply;
	uint8_t buf[64];
	char text[16];
	uint64_t payload;

	(void)state;
	assert_int_equal(imdproxy_encode_connect_request(buf, 0x2301, 6), 24);
	assert_int_equal(imdproxy_utf8_to_utf16le("h:9", buf + 24, sizeof(buf) - 24), 6);
	assert_memory_equal(buf, request, sizeof(request));
	assert_int_equal(imdproxy_decode_request(request, sizeof(request), &req, &payload), 24);
	assert_int_equal(req.code, IMDPROXY_REQ_CONNECT);
	assert_int_equal(req.flags, 0x2301);
	assert_int_equal(req.length, 6);
	assert_int_equal(payload, 6);
	assert_int_equal(imdproxy_utf16le_to_utf8(request + 24, 6, text, sizeof(text)), 3);
	assert_string_equal(text, "h:9");

	assert_int_equal(imdproxy_encode_connect_reply(buf, 0, 0x1122334455667788ull), 16);
	assert_memory_equal(buf, reply_wire, sizeof(reply_wire));
	assert_int_equal(imdproxy_decode_reply(IMDPROXY_REQ_CONNECT, reply_wire, 16, &req, &reply,
					       &payload), 16);
	assert_int_equal(reply.errorno, 0);
	assert_true(reply.object_ptr == 0x1122334455667788ull);
	assert_int_equal(payload, 0);
}

static void test_utf16(void **state)
{
	/* "é€😀": 2, 3 and 4 UTF-8 bytes; the last is a surrogate pair in UTF-16. */
	static const char utf8[] = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
	static const uint8_t utf16[] = {0xe9, 0x00, 0xac, 0x20, 0x3d, 0xd8, 0x00, 0xde};
	static const uint8_t lone_low[] = {0x00, 0xdc};
	static const uint8_t lone_high[] = {0x3d, 0xd8, 'a', 0};
	static const uint8_t nul[] = {'a', 0, 0, 0};
	uint8_t buf[16];
	char text[16];

	(void)state;
	assert_int_equal(imdproxy_utf8_to_utf16le(utf8, buf, sizeof(buf)), 8);
	assert_memory_equal(buf, utf16, sizeof(utf16));
	assert_int_equal(imdproxy_utf16le_to_utf8(utf16, sizeof(utf16), text, sizeof(text)), 9);
	assert_string_equal(text, utf8);

	assert_int_equal(imdproxy_utf8_to_utf16le(utf8, buf, 7), -ENOSPC);
	assert_int_equal(imdproxy_utf16le_to_utf8(utf16, sizeof(utf16), text, 9), -ENOSPC);
	assert_int_equal(imdproxy_utf8_to_utf16le("\xc0\xaf", buf, sizeof(buf)), -EILSEQ); /* overlong */
	assert_int_equal(imdproxy_utf8_to_utf16le("\xed\xa0\x80", buf, sizeof(buf)), -EILSEQ);
	assert_int_equal(imdproxy_utf8_to_utf16le("\xe2\x82", buf, sizeof(buf)), -EILSEQ);
	assert_int_equal(imdproxy_utf16le_to_utf8(utf16, 3, text, sizeof(text)), -EILSEQ);
	assert_int_equal(imdproxy_utf16le_to_utf8(lone_low, 2, text, sizeof(text)), -EILSEQ);
	assert_int_equal(imdproxy_utf16le_to_utf8(lone_high, 4, text, sizeof(text)), -EILSEQ);
	assert_int_equal(imdproxy_utf16le_to_utf8(nul, 4, text, sizeof(text)), -EILSEQ);
	assert_int_equal(imdproxy_utf16le_to_utf8(utf16, 0, text, 1), 0);
	assert_string_equal(text, "");
}

static void test_scsi(void **state)
{
	static const uint8_t request[] = {
		0x08, 0, 0, 0, 0, 0, 0, 0,
		0x12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, /* cdb */
		0x10, 0, 0, 0, 0, 0, 0, 0,             /* request_length 16 */
		0x24, 0, 0, 0, 0, 0, 0, 0,             /* max_response_length 36 */
	};
	static const uint8_t cdb[16] = {0x12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
	static const uint8_t reply_wire[] = {0x13, 0, 0, 0, 0, 0, 0, 0, 0x25, 0, 0, 0, 0, 0, 0, 0};
	struct imdproxy_request req;
	struct imdproxy_reply reply;
	uint8_t buf[IMDPROXY_MAX_REQUEST_HEADER];
	uint64_t payload;

	(void)state;
	assert_int_equal(imdproxy_encode_scsi_request(buf, cdb, 16, 36), 40);
	assert_memory_equal(buf, request, sizeof(request));
	assert_int_equal(imdproxy_decode_request(request, sizeof(request), &req, &payload), 40);
	assert_memory_equal(req.cdb, cdb, 16);
	assert_int_equal(req.length, 16);
	assert_int_equal(req.max_response_length, 36);
	assert_int_equal(payload, 16); /* what a server must skip after the header */
	assert_int_equal(imdproxy_decode_request(request, 39, &req, &payload), -EAGAIN);

	/* 37 bytes of response when 36 were allowed */
	assert_int_equal(imdproxy_decode_reply(IMDPROXY_REQ_SCSI, reply_wire, 16, &req, &reply,
					       &payload), -EBADMSG);
	assert_int_equal(imdproxy_decode_reply(IMDPROXY_REQ_SCSI, reply_wire, 16, NULL, &reply,
					       &payload), 16);
	assert_int_equal(reply.errorno, 19);
	assert_int_equal(payload, 37);
}

static void test_unknown_codes(void **state)
{
	static const uint8_t shared[] = {0x09, 0, 0, 0, 0, 0, 0, 0, 0xaa};
	static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t enodev[] = {0x13, 0, 0, 0, 0, 0, 0, 0};
	struct imdproxy_request req;
	struct imdproxy_reply reply = {.errorno = 19};
	uint8_t buf[16];
	uint64_t payload;

	(void)state;
	assert_int_equal(imdproxy_decode_request(shared, sizeof(shared), &req, &payload), 8);
	assert_int_equal(req.code, IMDPROXY_REQ_SHARED);
	assert_int_equal(payload, 0);
	assert_int_equal(imdproxy_decode_request(huge, sizeof(huge), &req, &payload), 8);
	assert_true(req.code == UINT64_MAX);
	assert_int_equal(payload, 0);
	assert_int_equal(imdproxy_decode_request(huge, 7, &req, &payload), -EAGAIN);
	assert_int_equal(imdproxy_decode_request(huge, 0, &req, &payload), -EAGAIN);

	assert_int_equal(imdproxy_encode_error_reply(buf, 19), 8);
	assert_memory_equal(buf, enodev, 8);
	assert_int_equal(imdproxy_encode_reply(buf, sizeof(buf), 42, &reply), 8);
	assert_memory_equal(buf, enodev, 8);
}

static void test_generic_round_trip(void **state)
{
	static const struct imdproxy_request requests[] = {
		{.code = IMDPROXY_REQ_INFO},
		{.code = IMDPROXY_REQ_READ, .offset = 1, .length = 2},
		{.code = IMDPROXY_REQ_WRITE, .offset = UINT64_MAX, .length = 3},
		{.code = IMDPROXY_REQ_CONNECT, .flags = 7, .length = 8},
		{.code = IMDPROXY_REQ_CLOSE},
		{.code = IMDPROXY_REQ_UNMAP, .length = 48},
		{.code = IMDPROXY_REQ_ZERO, .length = 16},
		{.code = IMDPROXY_REQ_SCSI, .length = 5, .max_response_length = 6, .cdb = {1, 2, 3}},
		{.code = 1000},
	};
	uint8_t buf[IMDPROXY_MAX_REQUEST_HEADER];

	(void)state;
	for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
		struct imdproxy_request back;
		uint64_t payload;
		int n = imdproxy_encode_request(buf, sizeof(buf), &requests[i]);

		assert_int_equal(n, (int)imdproxy_request_header_size(requests[i].code));
		assert_int_equal(imdproxy_decode_request(buf, (size_t)n, &back, &payload), n);
		assert_memory_equal(&back, &requests[i], sizeof(back));
		assert_int_equal(imdproxy_encode_request(buf, (size_t)n - 1, &requests[i]), -ENOSPC);
	}

	for (uint64_t code = 0; code <= 10; code++) {
		struct imdproxy_reply reply = {.errorno = 5, .length = 4, .object_ptr = 3,
					       .info = {.file_size = 9, .req_alignment = 1, .flags = 2}};
		struct imdproxy_reply back;
		uint64_t payload;
		int n;

		if (code == IMDPROXY_REQ_CLOSE)
			continue;
		n = imdproxy_encode_reply(buf, sizeof(buf), code, &reply);
		assert_int_equal(n, (int)imdproxy_reply_header_size(code));
		assert_int_equal(imdproxy_decode_reply(code, buf, (size_t)n, NULL, &back, &payload), n);
		if (code == IMDPROXY_REQ_INFO)
			assert_memory_equal(&back.info, &reply.info, sizeof(reply.info));
		else
			assert_int_equal(back.errorno, 5);
		assert_int_equal(imdproxy_encode_reply(buf, (size_t)n - 1, code, &reply), -ENOSPC);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codes),
		cmocka_unit_test(test_header_sizes),
		cmocka_unit_test(test_info_request),
		cmocka_unit_test(test_info_reply),
		cmocka_unit_test(test_read_request_and_reply),
		cmocka_unit_test(test_write_request_and_reply),
		cmocka_unit_test(test_range_requests),
		cmocka_unit_test(test_close),
		cmocka_unit_test(test_connect),
		cmocka_unit_test(test_utf16),
		cmocka_unit_test(test_scsi),
		cmocka_unit_test(test_unknown_codes),
		cmocka_unit_test(test_generic_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
