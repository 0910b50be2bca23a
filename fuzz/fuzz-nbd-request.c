/* libFuzzer harness: NBD transmission requests as a client would send them
 * after the handshake.  The first byte picks what the handshake agreed; then
 * each request header must decode, encode back to the same bytes, be checked
 * without overflow (a request the check passes lies within the export), and say
 * exactly how much data follows, so that the next request is found. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/nbd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nbd_export exp = {
		.size = 1 << 20, .can_trim = true,
		.min_block = 1, .preferred_block = 4096, .max_block = 1 << 16,
	};
	struct nbd_handshake hs = {.client_flags = NBD_FLAG_C_FIXED_NEWSTYLE};
	uint8_t reply[NBD_MAX_ERROR_CHUNK];

	if (size < 1)
		return 0;
	exp.read_only = data[0] & 1;
	hs.structured_replies = data[0] & 2;
	hs.base_allocation = hs.structured_replies && (data[0] & 4);
	if (data[0] & 8)
		exp.size = UINT64_MAX - 4096;
	data++;
	size--;
	while (size >= NBD_REQUEST_SIZE) {
		struct nbd_request req;
		uint8_t again[NBD_REQUEST_SIZE];
		uint32_t error, payload;

		if (nbd_decode_request(data, &req) < 0)
			break;
		if (nbd_encode_request(again, &req) != NBD_REQUEST_SIZE ||
		    memcmp(again, data, NBD_REQUEST_SIZE) != 0)
			abort();
		error = nbd_check_request(&exp, &hs, &req);
		if (error == 0 && req.type != NBD_CMD_FLUSH && req.type != NBD_CMD_DISC &&
		    (req.offset > exp.size || req.length > exp.size - req.offset))
			abort();
		if (error == 0 && (req.type == NBD_CMD_READ || req.type == NBD_CMD_WRITE) &&
		    req.length > exp.max_block)
			abort();
		if (error == 0 && req.type == NBD_CMD_BLOCK_STATUS && !hs.base_allocation)
			abort();
		if (nbd_encode_error_chunk(reply, NBD_REPLY_FLAG_DONE, req.cookie, error,
					   nbd_command_name(req.type)) > sizeof(reply))
			abort();
		nbd_encode_simple_reply(reply, error, req.cookie);
		data += NBD_REQUEST_SIZE;
		size -= NBD_REQUEST_SIZE;
		payload = nbd_request_payload(&req);
		if (payload != (req.type == NBD_CMD_WRITE ? req.length : 0))
			abort();
		if (payload > size)
			break;
		data += payload;
		size -= payload;
	}
	return 0;
}
