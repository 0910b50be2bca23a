/* NBD codec: byte vectors written by hand from the wire layout (big-endian),
 * the handshake's option haggling, request checks and reply encodings. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "protocol/nbd.h"

static const struct nbd_export export_rw = {
	.size = 1 << 20, .can_trim = true,
	.min_block = 1, .preferred_block = 4096, .max_block = NBD_MAX_PAYLOAD,
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* Option reply number `index` in out: its type, its data in *data. */
static uint32_t reply_at(const uint8_t *out, size_t len, int index, uint32_t option,
			 const uint8_t **data, uint32_t *data_len)
{
	size_t pos = 0;

	for (;;) {
		assert_true(pos + NBD_OPTION_REPLY_HEADER_SIZE <= len);
		assert_int_equal(be64(out + pos), NBD_OPT_REPLY_MAGIC);
		assert_int_equal(be32(out + pos + 8), option);
		if (index-- == 0) {
			*data = out + pos + 20;
			*data_len = be32(out + pos + 16);
			return be32(out + pos + 12);
		}
		pos += NBD_OPTION_REPLY_HEADER_SIZE + be32(out + pos + 16);
	}
}

static struct nbd_handshake start(void)
{
	static const uint8_t flags[4] = {0, 0, 0, 3};
	struct nbd_handshake hs;

	assert_int_equal(nbd_decode_client_flags(flags, &hs), 0);
	return hs;
}

static void test_greeting_and_client_flags(void **state)
{
	static const uint8_t expected[18] = {'N', 'B', 'D', 'M', 'A', 'G', 'I', 'C',
					     'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T', 0, 3};
	static const uint8_t oldstyle[4] = {0, 0, 0, 0}, unknown[4] = {0, 0, 1, 1};
	uint8_t out[NBD_GREETING_SIZE];
	struct nbd_handshake hs;

	(void)state;
	assert_int_equal(nbd_encode_greeting(out), 18);
	assert_memory_equal(out, expected, 18);
	assert_int_equal(nbd_decode_client_flags(oldstyle, &hs), -EPROTO);
	assert_int_equal(nbd_decode_client_flags(unknown, &hs), -EPROTO);
	hs = start();
	assert_int_equal(hs.client_flags, 3);
}

static void test_option_header(void **state)
{
	uint8_t in[16] = {'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T', 0, 0, 0, 7, 0, 0, 0, 6};
	uint32_t option, length;

	(void)state;
	assert_int_equal(nbd_decode_option_header(in, &option, &length), 0);
	assert_int_equal(option, NBD_OPT_GO);
	assert_int_equal(length, 6);
	in[0] = 'X';
	assert_int_equal(nbd_decode_option_header(in, &option, &length), -EPROTO);
}

static void test_go(void **state)
{
	static const uint8_t go[] = {0, 0, 0, 0, 0, 1, 0, NBD_INFO_BLOCK_SIZE};
	struct nbd_handshake hs = start();
	uint8_t out[NBD_MAX_OPTION_REPLIES];
	const uint8_t *data;
	uint32_t len;
	size_t out_len;

	(void)state;
	assert_int_equal(nbd_handle_option(&export_rw, &hs, NBD_OPT_GO, go, sizeof(go), out,
					   &out_len), NBD_OPTION_TRANSMISSION);
	assert_int_equal(reply_at(out, out_len, 0, NBD_OPT_GO, &data, &len), NBD_REP_INFO);
	assert_int_equal(len, 12);
	assert_int_equal(data[1], NBD_INFO_EXPORT);
	assert_int_equal(be64(data + 2), 1 << 20);
	/* Not structured: no DF; writable: trim, zeroes, fast zero; multi-conn. */
	assert_int_equal((data[10] << 8) | data[11],
			 NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
				 NBD_FLAG_CAN_MULTI_CONN | NBD_FLAG_SEND_CACHE |
				 NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_SEND_FAST_ZERO |
				 NBD_FLAG_SEND_TRIM);
	assert_int_equal(reply_at(out, out_len, 1, NBD_OPT_GO, &data, &len), NBD_REP_INFO);
	assert_int_equal(len, 14);
	assert_int_equal(data[1], NBD_INFO_BLOCK_SIZE);
	assert_int_equal(be32(data + 2), 1);
	assert_int_equal(be32(data + 6), 4096);
	assert_int_equal(be32(data + 10), NBD_MAX_PAYLOAD);
	assert_int_equal(reply_at(out, out_len, 2, NBD_OPT_GO, &data, &len), NBD_REP_ACK);
	assert_int_equal(len, 0);

	/* INFO says the same and stays in the handshake; a bad length is invalid. */
	assert_int_equal(nbd_handle_option(&export_rw, &hs, NBD_OPT_INFO, go, sizeof(go), out,
					   &out_len), NBD_OPTION_CONTINUE);
	assert_int_equal(reply_at(out, out_len, 2, NBD_OPT_INFO, &data, &len), NBD_REP_ACK);
	assert_int_equal(nbd_handle_option(&export_rw, &hs, NBD_OPT_GO, go, sizeof(go) - 1, out,
					   &out_len), NBD_OPTION_CONTINUE);
	assert_int_equal(reply_at(out, out_len, 0, NBD_OPT_GO, &data, &len), NBD_REP_ERR_INVALID);
}

static void test_list_abort_unknown(void **state)
{
	struct nbd_handshake hs = start();
	uint8_t out[NBD_MAX_OPTION_REPLIES];
	const uint8_t *data;
	uint32_t len;
	size_t out_len;

	(void)state;
	assert_int_equal(nbd_handle_option(&export_rw, &hs, NBD_OPT_LIST, NULL, 0, out, &out_len),
			 NBD_OPTION_CONTINUE);
	assert_int_equal(reply_at(out, out_len, 0, NBD_OPT_LIST, &data, &len), NBD_REP_SERVER);
	assert_int_equal(len, 4);
	assert_int_equal(be32(data), 0); /* the export named "" */
	assert_int_equal(reply_at(out, out_len, 1, NBD_OPT_LIST, &data, &len), NBD_REP_ACK);

	assert_int_equal(nbd_handle_option(&export_rw, &hs, 42, NULL, 0, out, &out_len),
			 NBD_OPTION_CONTINUE);
	assert_int_equal(reply_at(out, out_len, 0, 42, &data, &len), NBD_REP_ERR_UNSUP);
	assert_int_equal(nbd_handle_option(&export_rw, &hs, NBD_OPT_STARTTLS, NULL, 0, out,
					   &out_len), NBD_OPTION_CONTINUE);
	assert_int_equal(reply_at(out, out_len, 0, NBD_OPT_STARTTLS, &data, &len),
			 NBD_REP_ERR_UNSUP);
	assert_int_equal(nbd_handle_option(&export_rw, &hs, NBD_OPT_INFO, NULL,
					   NBD_MAX_OPTION_LENGTH + 1, out, &out_len),
			 NBD_OPTION_CONTINUE);
	assert_int_equal(reply_at(out, out_len, 0, NBD_OPT_INFO, &data, &len), NBD_REP_ERR_TOO_BIG);

	assert_int_equal(nbd_handle_option(&export_rw, &hs, NBD_OPT_ABORT, NULL, 0, out, &out_len),
			 NBD_OPTION_CLOSE);
	assert_int_equal(reply_at(out, out_len, 0, NBD_OPT_ABORT, &data, &len), NBD_REP_ACK);
}

static void test_export_name(void **state)
{
	struct nbd_handshake hs = start();
	uint8_t out[NBD_MAX_OPTION_REPLIES];
	size_t out_len;

	(void)state;
	assert_int_equal(nbd_handle_option(&export_rw, &hs, NBD_OPT_EXPORT_NAME, NULL, 0, out,
					   &out_len), NBD_OPTION_TRANSMISSION);
	assert_int_equal(out_len, 10); /* NO_ZEROES agreed: no padding */
	assert_int_equal(be64(out), 1 << 20);
	hs.client_flags = NBD_FLAG_C_FIXED_NEWSTYLE;
	assert_int_equal(nbd_handle_option(&export_rw, &hs, NBD_OPT_EXPORT_NAME, NULL, 0, out,
					   &out_len), NBD_OPTION_TRANSMISSION);
	assert_int_equal(out_len, 134);
}

static void test_meta_context(void **state)
{
	static const uint8_t set[] = {0, 0, 0, 0, 0, 0, 0, 2,
				      0, 0, 0, 15, 'b', 'a', 's', 'e', ':', 'a', 'l', 'l', 'o',
				      'c', 'a', 't', 'i', 'o', 'n',
				      0, 0, 0, 5, 'o', 't', 'h', 'e', 'r'};
	static const uint8_t list_all[] = {0, 0, 0, 0, 0, 0, 0, 0};
	struct nbd_handshake hs = start();
	uint8_t out[NBD_MAX_OPTION_REPLIES];
	const uint8_t *data;
	uint32_t len;
	size_t out_len;

	(void)state;
	/* SET before STRUCTURED_REPLY is invalid. */
	nbd_handle_option(&export_rw, &hs, NBD_OPT_SET_META_CONTEXT, set, sizeof(set), out, &out_len);
	assert_int_equal(reply_at(out, out_len, 0, NBD_OPT_SET_META_CONTEXT, &data, &len),
			 NBD_REP_ERR_INVALID);
	assert_false(hs.base_allocation);

	nbd_handle_option(&export_rw, &hs, NBD_OPT_STRUCTURED_REPLY, NULL, 0, out, &out_len);
	assert_int_equal(reply_at(out, out_len, 0, NBD_OPT_STRUCTURED_REPLY, &data, &len),
			 NBD_REP_ACK);
	assert_true(hs.structured_replies);

	nbd_handle_option(&export_rw, &hs, NBD_OPT_LIST_META_CONTEXT, list_all, sizeof(list_all),
			  out, &out_len);
	assert_int_equal(reply_at(out, out_len, 0, NBD_OPT_LIST_META_CONTEXT, &data, &len),
			 NBD_REP_META_CONTEXT);
	assert_int_equal(len, 4 + 15);
	assert_memory_equal(data + 4, "base:allocation", 15);
	assert_false(hs.base_allocation); /* LIST sets nothing */

	nbd_handle_option(&export_rw, &hs, NBD_OPT_SET_META_CONTEXT, set, sizeof(set), out, &out_len);
	assert_int_equal(reply_at(out, out_len, 0, NBD_OPT_SET_META_CONTEXT, &data, &len),
			 NBD_REP_META_CONTEXT);
	assert_int_equal(be32(data), NBD_META_BASE_ALLOCATION_ID);
	assert_int_equal(reply_at(out, out_len, 1, NBD_OPT_SET_META_CONTEXT, &data, &len),
			 NBD_REP_ACK);
	assert_true(hs.base_allocation);

	/* A query running past the data is invalid, and changes nothing. */
	nbd_handle_option(&export_rw, &hs, NBD_OPT_SET_META_CONTEXT, set, sizeof(set) - 1, out,
			  &out_len);
	assert_int_equal(reply_at(out, out_len, 0, NBD_OPT_SET_META_CONTEXT, &data, &len),
			 NBD_REP_ERR_INVALID);
	assert_true(hs.base_allocation);
	assert_int_equal(nbd_transmission_flags(&export_rw, &hs) & NBD_FLAG_SEND_DF,
			 NBD_FLAG_SEND_DF);
}

static void test_request_decode_and_check(void **state)
{
	static const uint8_t wire[28] = {0x25, 0x60, 0x95, 0x13, 0, 1, 0, 1,
					 1, 2, 3, 4, 5, 6, 7, 8,
					 0, 0, 0, 0, 0, 0, 0x10, 0,
					 0, 0, 2, 0};
	struct nbd_handshake hs = start();
	struct nbd_request req;
	uint8_t again[NBD_REQUEST_SIZE];
	uint8_t bad[28];

	(void)state;
	assert_int_equal(nbd_decode_request(wire, &req), 0);
	assert_int_equal(req.flags, NBD_CMD_FLAG_FUA);
	assert_int_equal(req.type, NBD_CMD_WRITE);
	assert_int_equal(req.cookie, 0x0102030405060708ull);
	assert_int_equal(req.offset, 0x1000);
	assert_int_equal(req.length, 512);
	assert_int_equal(nbd_request_payload(&req), 512);
	assert_int_equal(nbd_encode_request(again, &req), 28);
	assert_memory_equal(again, wire, 28);
	memcpy(bad, wire, 28);
	bad[0] = 0;
	assert_int_equal(nbd_decode_request(bad, &req), -EPROTO);
	assert_int_equal(nbd_decode_request(wire, &req), 0);

	assert_int_equal(nbd_check_request(&export_rw, &hs, &req), 0);
	req.offset = (1 << 20) - 511; /* past the end */
	assert_int_equal(nbd_check_request(&export_rw, &hs, &req), NBD_EINVAL);
	req.offset = UINT64_MAX; /* no wrap-around */
	assert_int_equal(nbd_check_request(&export_rw, &hs, &req), NBD_EINVAL);
	req = (struct nbd_request){.type = NBD_CMD_READ, .length = NBD_MAX_PAYLOAD + 1};
	struct nbd_export big = export_rw;
	big.size = 1ull << 40;
	assert_int_equal(nbd_check_request(&big, &hs, &req), NBD_EOVERFLOW);
	assert_int_equal(nbd_request_payload(&req), 0);
	req = (struct nbd_request){.type = NBD_CMD_READ, .flags = NBD_CMD_FLAG_DF, .length = 1};
	assert_int_equal(nbd_check_request(&export_rw, &hs, &req), NBD_EINVAL); /* no DF */
	req = (struct nbd_request){.type = NBD_CMD_WRITE, .flags = NBD_CMD_FLAG_NO_HOLE, .length = 1};
	assert_int_equal(nbd_check_request(&export_rw, &hs, &req), NBD_EINVAL); /* zeroes only */
	req = (struct nbd_request){.type = NBD_CMD_FLUSH, .flags = NBD_CMD_FLAG_FUA};
	assert_int_equal(nbd_check_request(&export_rw, &hs, &req), 0); /* FUA goes anywhere */
	req = (struct nbd_request){.type = NBD_CMD_BLOCK_STATUS, .length = 4096};
	assert_int_equal(nbd_check_request(&export_rw, &hs, &req), NBD_EINVAL); /* no context */
	hs.base_allocation = true;
	assert_int_equal(nbd_check_request(&export_rw, &hs, &req), 0);
	req = (struct nbd_request){.type = 99};
	assert_int_equal(nbd_check_request(&export_rw, &hs, &req), NBD_EINVAL);
	req = (struct nbd_request){.type = NBD_CMD_WRITE_ZEROES,
				   .flags = NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO};
	assert_int_equal(nbd_check_request(&export_rw, &hs, &req), 0);
	struct nbd_export ro = export_rw;
	ro.read_only = true;
	assert_int_equal(nbd_check_request(&ro, &hs, &req), NBD_EPERM);
	req = (struct nbd_request){.type = NBD_CMD_FLUSH};
	assert_int_equal(nbd_check_request(&ro, &hs, &req), 0);
}

static void test_replies(void **state)
{
	static const uint8_t simple[16] = {0x67, 0x44, 0x66, 0x98, 0, 0, 0, 22,
					   0, 0, 0, 0, 0, 0, 0, 9};
	static const struct nbd_extent extents[2] = {{4096, 0}, {8192, NBD_STATE_ZERO}};
	uint8_t out[NBD_MAX_ERROR_CHUNK];

	(void)state;
	assert_int_equal(nbd_encode_simple_reply(out, NBD_EINVAL, 9), 16);
	assert_memory_equal(out, simple, 16);

	assert_int_equal(nbd_encode_offset_data(out, NBD_REPLY_FLAG_DONE, 9, 4096, 512), 28);
	assert_int_equal(be32(out), NBD_STRUCTURED_REPLY_MAGIC);
	assert_int_equal((out[4] << 8) | out[5], NBD_REPLY_FLAG_DONE);
	assert_int_equal((out[6] << 8) | out[7], NBD_REPLY_TYPE_OFFSET_DATA);
	assert_int_equal(be64(out + 8), 9);
	assert_int_equal(be32(out + 16), 8 + 512);
	assert_int_equal(be64(out + 20), 4096);

	assert_int_equal(nbd_encode_offset_hole(out, 0, 9, 8192, 4096), 32);
	assert_int_equal((out[6] << 8) | out[7], NBD_REPLY_TYPE_OFFSET_HOLE);
	assert_int_equal(be32(out + 16), 12);
	assert_int_equal(be32(out + 28), 4096);

	assert_int_equal(nbd_encode_error_chunk(out, NBD_REPLY_FLAG_DONE, 9, NBD_EIO, "bad"), 29);
	assert_int_equal((out[6] << 8) | out[7], NBD_REPLY_TYPE_ERROR);
	assert_int_equal(be32(out + 16), 9);
	assert_int_equal(be32(out + 20), NBD_EIO);
	assert_int_equal((out[24] << 8) | out[25], 3);
	assert_memory_equal(out + 26, "bad", 3);

	assert_int_equal(nbd_encode_block_status(out, NBD_REPLY_FLAG_DONE, 9, 1, extents, 2),
			 20 + 4 + 16);
	assert_int_equal((out[6] << 8) | out[7], NBD_REPLY_TYPE_BLOCK_STATUS);
	assert_int_equal(be32(out + 16), 20);
	assert_int_equal(be32(out + 20), 1);
	assert_int_equal(be32(out + 24), 4096);
	assert_int_equal(be32(out + 28), 0);
	assert_int_equal(be32(out + 32), 8192);
	assert_int_equal(be32(out + 36), NBD_STATE_ZERO);

	assert_int_equal(nbd_encode_chunk_header(out, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, 9,
						 0), 20);
	assert_int_equal(be32(out + 16), 0);

	assert_int_equal(nbd_error_from_errno(EROFS), NBD_EPERM);
	assert_int_equal(nbd_error_from_errno(EOPNOTSUPP), NBD_ENOTSUP);
	assert_int_equal(nbd_error_from_errno(EBADMSG), NBD_EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greeting_and_client_flags),
		cmocka_unit_test(test_option_header),
		cmocka_unit_test(test_go),
		cmocka_unit_test(test_list_abort_unknown),
		cmocka_unit_test(test_export_name),
		cmocka_unit_test(test_meta_context),
		cmocka_unit_test(test_request_decode_and_check),
		cmocka_unit_test(test_replies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
