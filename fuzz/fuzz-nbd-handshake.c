/* libFuzzer harness: the server's side of the NBD handshake.  The input is what
 * a client would send after the greeting: its flags, then options (header and
 * data).  Every option must be answered within NBD_MAX_OPTION_REPLIES bytes by
 * well-formed replies (magic, the option echoed, lengths that add up), and
 * base:allocation may be agreed only with structured replies. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/endian.h"
#include "protocol/nbd.h"

static void check_replies(const uint8_t *out, size_t len, uint32_t option,
			  enum nbd_option_result result)
{
	size_t pos = 0;

	if (len > NBD_MAX_OPTION_REPLIES)
		abort();
	if (option == NBD_OPT_EXPORT_NAME) {
		/* No reply header: size, flags and maybe the padding. */
		if (result != NBD_OPTION_TRANSMISSION || (len != 10 && len != 134))
			abort();
		return;
	}
	while (pos < len) {
		if (len - pos < NBD_OPTION_REPLY_HEADER_SIZE ||
		    get_be64(out + pos) != NBD_OPT_REPLY_MAGIC || get_be32(out + pos + 8) != option)
			abort();
		pos += NBD_OPTION_REPLY_HEADER_SIZE;
		if (get_be32(out + pos - 4) > len - pos)
			abort();
		pos += get_be32(out + pos - 4);
	}
	if (len == 0)
		abort(); /* every option gets an answer */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct nbd_export exp = {
		.size = 1 << 20, .read_only = size & 1, .can_trim = true,
		.min_block = 1, .preferred_block = 4096, .max_block = NBD_MAX_PAYLOAD,
	};
	static uint8_t out[NBD_MAX_OPTION_REPLIES];
	struct nbd_handshake hs;

	if (size < NBD_CLIENT_FLAGS_SIZE || nbd_decode_client_flags(data, &hs) < 0)
		return 0;
	data += NBD_CLIENT_FLAGS_SIZE;
	size -= NBD_CLIENT_FLAGS_SIZE;
	while (size >= NBD_OPTION_HEADER_SIZE) {
		enum nbd_option_result result;
		uint32_t option, length;
		size_t out_len;

		if (nbd_decode_option_header(data, &option, &length) < 0)
			break;
		data += NBD_OPTION_HEADER_SIZE;
		size -= NBD_OPTION_HEADER_SIZE;
		if (length > size)
			break;
		result = nbd_handle_option(&exp, &hs, option, data, length, out, &out_len);
		check_replies(out, out_len, option, result);
		if (hs.base_allocation && !hs.structured_replies)
			abort();
		data += length;
		size -= length;
		if (result != NBD_OPTION_CONTINUE)
			break;
	}
	return 0;
}
