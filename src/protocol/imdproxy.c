/* IMDPROXY codec: see imdproxy.h for the wire layout. */
#include "protocol/imdproxy.h"

#include <errno.h>
#include <string.h>

#include "common/endian.h"

bool imdproxy_code_known(uint64_t code)
{
	return code <= IMDPROXY_REQ_SHARED;
}

const char *imdproxy_code_name(uint64_t code)
{
	static const char *const names[] = {
		"NULL", "INFO", "READ", "WRITE", "CONNECT", "CLOSE", "UNMAP", "ZERO", "SCSI", "SHARED",
	};

	return imdproxy_code_known(code) ? names[code] : "unknown";
}

size_t imdproxy_request_header_size(uint64_t code)
{
	switch (code) {
	case IMDPROXY_REQ_READ:
	case IMDPROXY_REQ_WRITE:
	case IMDPROXY_REQ_CONNECT:
		return 24;
	case IMDPROXY_REQ_UNMAP:
	case IMDPROXY_REQ_ZERO:
		return 16;
	case IMDPROXY_REQ_SCSI:
		return 40;
	default: /* INFO, CLOSE, and codes whose layout nobody knows */
		return IMDPROXY_CODE_SIZE;
	}
}

int imdproxy_decode_request(const void *buf, size_t len, struct imdproxy_request *req,
			    uint64_t *payload_size)
{
	const uint8_t *p = buf;
	size_t header_size;

	/* Nothing is written on failure: the caller's *req stays as it was. */
	if (len < IMDPROXY_CODE_SIZE)
		return -EAGAIN;
	header_size = imdproxy_request_header_size(get_le64(p));
	if (len < header_size)
		return -EAGAIN;
	memset(req, 0, sizeof(*req));
	req->code = get_le64(p);
	*payload_size = 0;
	switch (req->code) {
	case IMDPROXY_REQ_READ:
		req->offset = get_le64(p + 8);
		req->length = get_le64(p + 16);
		break;
	case IMDPROXY_REQ_WRITE:
		req->offset = get_le64(p + 8);
		req->length = get_le64(p + 16);
		*payload_size = req->length;
		break;
	case IMDPROXY_REQ_CONNECT:
		req->flags = get_le64(p + 8);
		req->length = get_le64(p + 16);
		*payload_size = req->length;
		break;
	case IMDPROXY_REQ_UNMAP:
	case IMDPROXY_REQ_ZERO:
		req->length = get_le64(p + 8);
		*payload_size = req->length;
		break;
	case IMDPROXY_REQ_SCSI:
		memcpy(req->cdb, p + 8, IMDPROXY_SCSI_CDB_SIZE);
		req->length = get_le64(p + 24);
		req->max_response_length = get_le64(p + 32);
		*payload_size = req->length;
		break;
	default:
		break;
	}
	return (int)header_size;
}

int imdproxy_encode_request(void *buf, size_t cap, const struct imdproxy_request *req)
{
	uint8_t *p = buf;
	size_t header_size = imdproxy_request_header_size(req->code);

	if (cap < header_size)
		return -ENOSPC;
	put_le64(p, req->code);
	switch (req->code) {
	case IMDPROXY_REQ_READ:
	case IMDPROXY_REQ_WRITE:
		put_le64(p + 8, req->offset);
		put_le64(p + 16, req->length);
		break;
	case IMDPROXY_REQ_CONNECT:
		put_le64(p + 8, req->flags);
		put_le64(p + 16, req->length);
		break;
	case IMDPROXY_REQ_UNMAP:
	case IMDPROXY_REQ_ZERO:
		put_le64(p + 8, req->length);
		break;
	case IMDPROXY_REQ_SCSI:
		memcpy(p + 8, req->cdb, IMDPROXY_SCSI_CDB_SIZE);
		put_le64(p + 24, req->length);
		put_le64(p + 32, req->max_response_length);
		break;
	default:
		break;
	}
	return (int)header_size;
}

size_t imdproxy_encode_info_request(void *buf)
{
	put_le64(buf, IMDPROXY_REQ_INFO);
	return IMDPROXY_INFO_REQUEST_SIZE;
}

size_t imdproxy_encode_read_request(void *buf, uint64_t offset, uint64_t length)
{
	uint8_t *p = buf;

	put_le64(p, IMDPROXY_REQ_READ);
	put_le64(p + 8, offset);
	put_le64(p + 16, length);
	return IMDPROXY_READ_REQUEST_SIZE;
}

size_t imdproxy_encode_write_request(void *buf, uint64_t offset, uint64_t length)
{
	uint8_t *p = buf;

	put_le64(p, IMDPROXY_REQ_WRITE);
	put_le64(p + 8, offset);
	put_le64(p + 16, length);
	return IMDPROXY_WRITE_REQUEST_SIZE;
}

size_t imdproxy_encode_close_request(void *buf)
{
	put_le64(buf, IMDPROXY_REQ_CLOSE);
	return IMDPROXY_CLOSE_REQUEST_SIZE;
}

size_t imdproxy_encode_range_request(void *buf, uint64_t code, uint64_t array_bytes)
{
	uint8_t *p = buf;

	put_le64(p, code);
	put_le64(p + 8, array_bytes);
	return IMDPROXY_RANGE_REQUEST_SIZE;
}

size_t imdproxy_encode_connect_request(void *buf, uint64_t flags, uint64_t string_bytes)
{
	uint8_t *p = buf;

	put_le64(p, IMDPROXY_REQ_CONNECT);
	put_le64(p + 8, flags);
	put_le64(p + 16, string_bytes);
	return IMDPROXY_CONNECT_REQUEST_SIZE;
}

size_t imdproxy_encode_scsi_request(void *buf, const uint8_t cdb[IMDPROXY_SCSI_CDB_SIZE],
				    uint64_t request_length, uint64_t max_response_length)
{
	uint8_t *p = buf;

	put_le64(p, IMDPROXY_REQ_SCSI);
	memcpy(p + 8, cdb, IMDPROXY_SCSI_CDB_SIZE);
	put_le64(p + 24, request_length);
	put_le64(p + 32, max_response_length);
	return IMDPROXY_SCSI_REQUEST_SIZE;
}

size_t imdproxy_encode_range(void *buf, uint64_t offset, uint64_t length)
{
	uint8_t *p = buf;

	put_le64(p, offset);
	put_le64(p + 8, length);
	return IMDPROXY_RANGE_ENTRY_SIZE;
}

void imdproxy_decode_range(const void *buf, struct imdproxy_range *range)
{
	const uint8_t *p = buf;

	range->offset = get_le64(p);
	range->length = get_le64(p + 8);
}

int64_t imdproxy_range_count(uint64_t array_bytes)
{
	if (array_bytes % IMDPROXY_RANGE_ENTRY_SIZE)
		return -EBADMSG;
	return (int64_t)(array_bytes / IMDPROXY_RANGE_ENTRY_SIZE);
}

size_t imdproxy_reply_header_size(uint64_t code)
{
	switch (code) {
	case IMDPROXY_REQ_INFO:
		return IMDPROXY_INFO_REPLY_SIZE;
	case IMDPROXY_REQ_READ:
	case IMDPROXY_REQ_WRITE:
	case IMDPROXY_REQ_CONNECT:
	case IMDPROXY_REQ_SCSI:
		return 16;
	case IMDPROXY_REQ_CLOSE:
		return 0;
	default: /* UNMAP, ZERO, and the errorno-only reply to unknown requests */
		return 8;
	}
}

int imdproxy_decode_reply(uint64_t code, const void *buf, size_t len,
			  const struct imdproxy_request *sent, struct imdproxy_reply *reply,
			  uint64_t *payload_size)
{
	const uint8_t *p = buf;
	size_t header_size = imdproxy_reply_header_size(code);

	if (code == IMDPROXY_REQ_CLOSE)
		return -EINVAL;
	if (len < header_size)
		return -EAGAIN;
	memset(reply, 0, sizeof(*reply));
	*payload_size = 0;
	switch (code) {
	case IMDPROXY_REQ_INFO:
		reply->info.file_size = get_le64(p);
		reply->info.req_alignment = get_le64(p + 8);
		reply->info.flags = get_le64(p + 16);
		break;
	case IMDPROXY_REQ_READ:
		reply->errorno = get_le64(p);
		reply->length = get_le64(p + 8);
		if (sent && reply->length > sent->length)
			return -EBADMSG;
		*payload_size = reply->length;
		break;
	case IMDPROXY_REQ_WRITE:
		reply->errorno = get_le64(p);
		reply->length = get_le64(p + 8);
		break;
	case IMDPROXY_REQ_CONNECT:
		reply->errorno = get_le64(p);
		reply->object_ptr = get_le64(p + 8);
		break;
	case IMDPROXY_REQ_SCSI:
		reply->errorno = get_le64(p);
		reply->length = get_le64(p + 8);
		if (sent && reply->length > sent->max_response_length)
			return -EBADMSG;
		*payload_size = reply->length;
		break;
	default:
		reply->errorno = get_le64(p);
		break;
	}
	return (int)header_size;
}

int imdproxy_encode_reply(void *buf, size_t cap, uint64_t code, const struct imdproxy_reply *reply)
{
	uint8_t *p = buf;
	size_t header_size = imdproxy_reply_header_size(code);

	if (code == IMDPROXY_REQ_CLOSE)
		return -EINVAL;
	if (cap < header_size)
		return -ENOSPC;
	switch (code) {
	case IMDPROXY_REQ_INFO:
		return (int)imdproxy_encode_info_reply(p, &reply->info);
	case IMDPROXY_REQ_READ:
	case IMDPROXY_REQ_WRITE:
	case IMDPROXY_REQ_SCSI:
		put_le64(p, reply->errorno);
		put_le64(p + 8, reply->length);
		break;
	case IMDPROXY_REQ_CONNECT:
		put_le64(p, reply->errorno);
		put_le64(p + 8, reply->object_ptr);
		break;
	default:
		put_le64(p, reply->errorno);
		break;
	}
	return (int)header_size;
}

size_t imdproxy_encode_info_reply(void *buf, const struct imdproxy_info *info)
{
	uint8_t *p = buf;

	put_le64(p, info->file_size);
	put_le64(p + 8, info->req_alignment);
	put_le64(p + 16, info->flags);
	return IMDPROXY_INFO_REPLY_SIZE;
}

static size_t encode_pair(void *buf, uint64_t first, uint64_t second)
{
	uint8_t *p = buf;

	put_le64(p, first);
	put_le64(p + 8, second);
	return 16;
}

size_t imdproxy_encode_read_reply(void *buf, uint64_t errorno, uint64_t length)
{
	return encode_pair(buf, errorno, length);
}

size_t imdproxy_encode_write_reply(void *buf, uint64_t errorno, uint64_t length)
{
	return encode_pair(buf, errorno, length);
}

size_t imdproxy_encode_connect_reply(void *buf, uint64_t error_code, uint64_t object_ptr)
{
	return encode_pair(buf, error_code, object_ptr);
}

size_t imdproxy_encode_scsi_reply(void *buf, uint64_t errorno, uint64_t length)
{
	return encode_pair(buf, errorno, length);
}

size_t imdproxy_encode_range_reply(void *buf, uint64_t errorno)
{
	put_le64(buf, errorno);
	return IMDPROXY_RANGE_REPLY_SIZE;
}

size_t imdproxy_encode_error_reply(void *buf, uint64_t errorno)
{
	put_le64(buf, errorno);
	return IMDPROXY_ERROR_REPLY_SIZE;
}

int imdproxy_info_check(const struct imdproxy_info *info)
{
	if (info->req_alignment < 1 || info->req_alignment > IMDPROXY_MAX_ALIGNMENT)
		return -EBADMSG;
	return 0;
}

/* Decode one UTF-8 sequence at *p (n bytes left); returns the code point or -1.
 * Overlong forms, surrogates and values above U+10FFFF are refused. */
static int32_t utf8_next(const uint8_t **p, size_t n)
{
	const uint8_t *s = *p;
	uint32_t cp, min;
	size_t extra;

	if (s[0] < 0x80) {
		*p = s + 1;
		return s[0];
	} else if ((s[0] & 0xE0) == 0xC0) {
		cp = s[0] & 0x1F, extra = 1, min = 0x80;
	} else if ((s[0] & 0xF0) == 0xE0) {
		cp = s[0] & 0x0F, extra = 2, min = 0x800;
	} else if ((s[0] & 0xF8) == 0xF0) {
		cp = s[0] & 0x07, extra = 3, min = 0x10000;
	} else {
		return -1;
	}
	if (n < extra + 1)
		return -1;
	for (size_t i = 1; i <= extra; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return -1;
	*p = s + extra + 1;
	return (int32_t)cp;
}

int imdproxy_utf8_to_utf16le(const char *text, void *buf, size_t cap)
{
	const uint8_t *s = (const uint8_t *)text;
	const uint8_t *end = s + strlen(text);
	uint8_t *out = buf;
	size_t used = 0;

	while (s < end) {
		int32_t cp = utf8_next(&s, (size_t)(end - s));

		if (cp < 0)
			return -EILSEQ;
		if (cp >= 0x10000) {
			uint32_t v = (uint32_t)cp - 0x10000;
			if (cap - used < 4)
				return -ENOSPC;
			put_le16(out + used, (uint16_t)(0xD800 | (v >> 10)));
			put_le16(out + used + 2, (uint16_t)(0xDC00 | (v & 0x3FF)));
			used += 4;
		} else {
			if (cap - used < 2)
				return -ENOSPC;
			put_le16(out + used, (uint16_t)cp);
			used += 2;
		}
	}
	return (int)used;
}

int imdproxy_utf16le_to_utf8(const void *buf, size_t len, char *text, size_t cap)
{
	const uint8_t *p = buf;
	size_t used = 0;

	if (len % 2)
		return -EILSEQ;
	for (size_t i = 0; i < len; i += 2) {
		uint32_t cp = get_le16(p + i);
		uint8_t seq[4];
		size_t n;

		if (cp == 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
			return -EILSEQ; /* a NUL would cut the C string short */
		if (cp >= 0xD800 && cp <= 0xDBFF) {
			uint32_t low;
			if (i + 4 > len)
				return -EILSEQ;
			low = get_le16(p + i + 2);
			if (low < 0xDC00 || low > 0xDFFF)
				return -EILSEQ;
			cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
			i += 2;
		}
		if (cp < 0x80) {
			seq[0] = (uint8_t)cp, n = 1;
		} else if (cp < 0x800) {
			seq[0] = (uint8_t)(0xC0 | (cp >> 6));
			seq[1] = (uint8_t)(0x80 | (cp & 0x3F));
			n = 2;
		} else if (cp < 0x10000) {
			seq[0] = (uint8_t)(0xE0 | (cp >> 12));
			seq[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
			seq[2] = (uint8_t)(0x80 | (cp & 0x3F));
			n = 3;
		} else {
			seq[0] = (uint8_t)(0xF0 | (cp >> 18));
			seq[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
			seq[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
			seq[3] = (uint8_t)(0x80 | (cp & 0x3F));
			n = 4;
		}
		if (cap - used < n + 1)
			return -ENOSPC;
		memcpy(text + used, seq, n);
		used += n;
	}
	if (cap - used < 1)
		return -ENOSPC;
	text[used] = '\0';
	return (int)used;
}
