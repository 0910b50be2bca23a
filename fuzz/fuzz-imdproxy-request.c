/* libFuzzer harness: the server's side of IMDPROXY.  The input is a stream of
 * requests as a client would send them; each header must decode without reading
 * out of bounds, encode back to the same bytes, and say exactly how much data to
 * skip, so that the next request is found whatever the codes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/imdproxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	while (size > 0) {
		struct imdproxy_request req;
		struct imdproxy_reply reply = {.errorno = 19};
		uint8_t again[IMDPROXY_MAX_REQUEST_HEADER];
		uint8_t answer[IMDPROXY_MAX_REPLY_HEADER];
		uint64_t payload;
		int header = imdproxy_decode_request(data, size, &req, &payload);

		if (header < 0)
			break;
		if (imdproxy_encode_request(again, sizeof(again), &req) != header ||
		    memcmp(again, data, (size_t)header) != 0)
			abort();
		if (req.code != IMDPROXY_REQ_CLOSE &&
		    imdproxy_encode_reply(answer, sizeof(answer), req.code, &reply) !=
			    (int)imdproxy_reply_header_size(req.code))
			abort();
		data += header;
		size -= (size_t)header;
		if (payload > size)
			break;

		if (req.code == IMDPROXY_REQ_UNMAP || req.code == IMDPROXY_REQ_ZERO) {
			int64_t count = imdproxy_range_count(payload);
			for (int64_t i = 0; i < count; i++) {
				struct imdproxy_range range;
				imdproxy_decode_range(data + i * IMDPROXY_RANGE_ENTRY_SIZE, &range);
				if (range.length > UINT64_MAX - range.offset)
					continue; /* a server refuses it with EINVAL */
			}
		} else if (req.code == IMDPROXY_REQ_CONNECT && payload <= IMDPROXY_CONNECT_MAX_STRING) {
			char text[IMDPROXY_CONNECT_MAX_STRING * 2 + 1];
			uint8_t back[IMDPROXY_CONNECT_MAX_STRING];
			int n = imdproxy_utf16le_to_utf8(data, (size_t)payload, text, sizeof(text));
			/* What decodes encodes back to the same UTF-16. */
			if (n >= 0 && (imdproxy_utf8_to_utf16le(text, back, sizeof(back)) != (int)payload ||
				       memcmp(back, data, (size_t)payload) != 0))
				abort();
		}
		data += payload;
		size -= (size_t)payload;
	}
	return 0;
}
