/* libFuzzer harness: the client's side of IMDPROXY.  Each step of the input is one
 * byte choosing which request the reply answers, an 8-byte length the client asked
 * for, then the reply bytes; replies must decode within bounds, never accept more
 * data than asked, and encode back to the same bytes. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/endian.h"
#include "protocol/imdproxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	while (size >= 9) {
		struct imdproxy_request sent = {.code = data[0] % 11};
		struct imdproxy_reply reply;
		uint8_t again[IMDPROXY_MAX_REPLY_HEADER];
		uint64_t payload;
		int header;

		sent.length = get_le64(data + 1);
		sent.max_response_length = sent.length;
		data += 9;
		size -= 9;
		header = imdproxy_decode_reply(sent.code, data, size, &sent, &reply, &payload);
		if (header == -EBADMSG) {
			/* Only a READ or SCSI reply longer than asked is refused. */
			if (reply.length <= sent.length)
				abort();
			break;
		}
		if (header < 0)
			break;
		if (payload > sent.length)
			abort();
		if (sent.code == IMDPROXY_REQ_INFO)
			(void)imdproxy_info_check(&reply.info);
		if (imdproxy_encode_reply(again, sizeof(again), sent.code, &reply) != header ||
		    memcmp(again, data, (size_t)header) != 0)
			abort();
		data += header;
		size -= (size_t)header;
		if (payload > size)
			break;
		data += payload;
		size -= (size_t)payload;
	}
	return 0;
}
