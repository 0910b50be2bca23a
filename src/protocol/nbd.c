/* NBD server-side codecs: see nbd.h.  Every decoder checks each length against
 * the bytes it was given before it reads them: option data comes straight from
 * the client. */
#include <errno.h>
#include <string.h>

#include "common/endian.h"
#include "protocol/nbd.h"

static inline uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

size_t nbd_encode_greeting(uint8_t *out)
{
	put_be64(out, NBD_MAGIC);
	put_be64(out + 8, NBD_IHAVEOPT);
	put_be16(out + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	return NBD_GREETING_SIZE;
}

int nbd_decode_client_flags(const uint8_t *in, struct nbd_handshake *hs)
{
	uint32_t flags = get_be32(in);

	memset(hs, 0, sizeof(*hs));
	/* Old-style negotiation cannot refuse an option: only fixed newstyle. */
	if (!(flags & NBD_FLAG_C_FIXED_NEWSTYLE) ||
	    (flags & ~(uint32_t)(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)))
		return -EPROTO;
	hs->client_flags = flags;
	return 0;
}

int nbd_decode_option_header(const uint8_t *in, uint32_t *option, uint32_t *length)
{
	if (get_be64(in) != NBD_IHAVEOPT)
		return -EPROTO;
	*option = get_be32(in + 8);
	*length = get_be32(in + 12);
	return 0;
}

uint16_t nbd_transmission_flags(const struct nbd_export *exp, const struct nbd_handshake *hs)
{
	/* Every connection serves the same disk and a FLUSH flushes all of it:
	 * multi-conn is safe. */
	uint16_t flags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
			 NBD_FLAG_CAN_MULTI_CONN | NBD_FLAG_SEND_CACHE;

	if (exp->read_only) {
		flags |= NBD_FLAG_READ_ONLY;
	} else {
		flags |= NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_SEND_FAST_ZERO;
		if (exp->can_trim)
			flags |= NBD_FLAG_SEND_TRIM;
	}
	/* A READ is always answered in one chunk, so DF costs nothing. */
	if (hs->structured_replies)
		flags |= NBD_FLAG_SEND_DF;
	return flags;
}

/* One option reply appended at out + *len. */
static void put_reply(uint8_t *out, size_t *len, uint32_t option, uint32_t type,
		      const void *data, uint32_t data_len)
{
	uint8_t *p = out + *len;

	put_be64(p, NBD_OPT_REPLY_MAGIC);
	put_be32(p + 8, option);
	put_be32(p + 12, type);
	put_be32(p + 16, data_len);
	if (data_len)
		memcpy(p + NBD_OPTION_REPLY_HEADER_SIZE, data, data_len);
	*len += NBD_OPTION_REPLY_HEADER_SIZE + data_len;
}

/* INFO and GO: an export name, then a list of info requests. */
static bool info_request_valid(const uint8_t *data, uint32_t length)
{
	uint32_t name_len;
	uint16_t count;

	if (length < 6)
		return false;
	name_len = get_be32(data);
	if (name_len > length - 6)
		return false;
	count = get_be16(data + 4 + name_len);
	return (uint64_t)4 + name_len + 2 + 2ull * count == length;
}

static void reply_export_info(const struct nbd_export *exp, const struct nbd_handshake *hs,
			      uint32_t option, uint8_t *out, size_t *out_len)
{
	uint8_t info[14];

	put_be16(info, NBD_INFO_EXPORT);
	put_be64(info + 2, exp->size);
	put_be16(info + 10, nbd_transmission_flags(exp, hs));
	put_reply(out, out_len, option, NBD_REP_INFO, info, 12);
	/* Sent even unasked: it only tells the client what it may rely on. */
	put_be16(info, NBD_INFO_BLOCK_SIZE);
	put_be32(info + 2, exp->min_block);
	put_be32(info + 6, exp->preferred_block);
	put_be32(info + 10, exp->max_block);
	put_reply(out, out_len, option, NBD_REP_INFO, info, 14);
	put_reply(out, out_len, option, NBD_REP_ACK, NULL, 0);
}

/* LIST_META_CONTEXT and SET_META_CONTEXT: an export name, then queries.  Only
 * base:allocation exists; LIST with no query, or with "base:", names it. */
static enum nbd_option_result handle_meta_context(struct nbd_handshake *hs, uint32_t option,
						  const uint8_t *data, uint32_t length,
						  uint8_t *out, size_t *out_len)
{
	static const char base[] = NBD_META_BASE_ALLOCATION;
	const size_t base_len = sizeof(base) - 1;
	bool set = option == NBD_OPT_SET_META_CONTEXT;
	bool matched = false;
	uint32_t name_len, count, pos;
	uint8_t reply[4 + sizeof(base)];

	if (set && !hs->structured_replies)
		goto invalid;
	if (length < 8)
		goto invalid;
	name_len = get_be32(data);
	if (name_len > length - 8)
		goto invalid;
	count = get_be32(data + 4 + name_len);
	pos = 8 + name_len;
	/* Check every query before answering any. */
	for (uint32_t i = 0; i < count; i++) {
		uint32_t query_len;

		if (length - pos < 4)
			goto invalid;
		query_len = get_be32(data + pos);
		pos += 4;
		if (query_len > length - pos)
			goto invalid;
		if ((query_len == base_len && !memcmp(data + pos, base, base_len)) ||
		    (!set && query_len == 5 && !memcmp(data + pos, "base:", 5)))
			matched = true;
		pos += query_len;
	}
	if (pos != length)
		goto invalid;
	if (!set && count == 0)
		matched = true;
	if (set)
		hs->base_allocation = matched;
	if (matched) {
		put_be32(reply, set ? NBD_META_BASE_ALLOCATION_ID : 0);
		memcpy(reply + 4, base, base_len);
		put_reply(out, out_len, option, NBD_REP_META_CONTEXT, reply, (uint32_t)(4 + base_len));
	}
	put_reply(out, out_len, option, NBD_REP_ACK, NULL, 0);
	return NBD_OPTION_CONTINUE;
invalid:
	put_reply(out, out_len, option, NBD_REP_ERR_INVALID, NULL, 0);
	return NBD_OPTION_CONTINUE;
}

enum nbd_option_result nbd_handle_option(const struct nbd_export *exp, struct nbd_handshake *hs,
					 uint32_t option, const uint8_t *data, uint32_t length,
					 uint8_t *out, size_t *out_len)
{
	*out_len = 0;
	if (length > NBD_MAX_OPTION_LENGTH) {
		put_reply(out, out_len, option, NBD_REP_ERR_TOO_BIG, NULL, 0);
		return NBD_OPTION_CONTINUE;
	}
	switch (option) {
	case NBD_OPT_EXPORT_NAME:
		/* The old way into transmission: no reply header, and no way to refuse. */
		put_be64(out, exp->size);
		put_be16(out + 8, nbd_transmission_flags(exp, hs));
		*out_len = 10;
		if (!(hs->client_flags & NBD_FLAG_C_NO_ZEROES)) {
			memset(out + 10, 0, 124);
			*out_len += 124;
		}
		return NBD_OPTION_TRANSMISSION;
	case NBD_OPT_ABORT:
		put_reply(out, out_len, option, NBD_REP_ACK, NULL, 0);
		return NBD_OPTION_CLOSE;
	case NBD_OPT_LIST: {
		uint8_t name[4] = {0}; /* the one export, named "" */

		if (length != 0) {
			put_reply(out, out_len, option, NBD_REP_ERR_INVALID, NULL, 0);
			return NBD_OPTION_CONTINUE;
		}
		put_reply(out, out_len, option, NBD_REP_SERVER, name, sizeof(name));
		put_reply(out, out_len, option, NBD_REP_ACK, NULL, 0);
		return NBD_OPTION_CONTINUE;
	}
	case NBD_OPT_INFO:
	case NBD_OPT_GO:
		/* Any name is this server's one export, as most single-export servers do. */
		if (!info_request_valid(data, length)) {
			put_reply(out, out_len, option, NBD_REP_ERR_INVALID, NULL, 0);
			return NBD_OPTION_CONTINUE;
		}
		reply_export_info(exp, hs, option, out, out_len);
		return option == NBD_OPT_GO ? NBD_OPTION_TRANSMISSION : NBD_OPTION_CONTINUE;
	case NBD_OPT_STRUCTURED_REPLY:
		if (length != 0) {
			put_reply(out, out_len, option, NBD_REP_ERR_INVALID, NULL, 0);
			return NBD_OPTION_CONTINUE;
		}
		hs->structured_replies = true;
		put_reply(out, out_len, option, NBD_REP_ACK, NULL, 0);
		return NBD_OPTION_CONTINUE;
	case NBD_OPT_LIST_META_CONTEXT:
	case NBD_OPT_SET_META_CONTEXT:
		return handle_meta_context(hs, option, data, length, out, out_len);
	default:
		/* STARTTLS included: TLS is not offered by this server. */
		put_reply(out, out_len, option, NBD_REP_ERR_UNSUP, NULL, 0);
		return NBD_OPTION_CONTINUE;
	}
}

int nbd_decode_request(const uint8_t *in, struct nbd_request *req)
{
	if (get_be32(in) != NBD_REQUEST_MAGIC)
		return -EPROTO;
	req->flags = get_be16(in + 4);
	req->type = get_be16(in + 6);
	req->cookie = get_be64(in + 8);
	req->offset = get_be64(in + 16);
	req->length = get_be32(in + 24);
	return 0;
}

size_t nbd_encode_request(uint8_t *out, const struct nbd_request *req)
{
	put_be32(out, NBD_REQUEST_MAGIC);
	put_be16(out + 4, req->flags);
	put_be16(out + 6, req->type);
	put_be64(out + 8, req->cookie);
	put_be64(out + 16, req->offset);
	put_be32(out + 24, req->length);
	return NBD_REQUEST_SIZE;
}

uint32_t nbd_request_payload(const struct nbd_request *req)
{
	return req->type == NBD_CMD_WRITE ? req->length : 0;
}

/* The command flags each command may carry.  FUA is taken on every command
 * (it means something only for the ones that change the disk). */
static uint16_t allowed_flags(uint16_t type, const struct nbd_handshake *hs)
{
	switch (type) {
	case NBD_CMD_READ:
		return NBD_CMD_FLAG_FUA | (hs->structured_replies ? NBD_CMD_FLAG_DF : 0);
	case NBD_CMD_WRITE_ZEROES:
		return NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO;
	case NBD_CMD_BLOCK_STATUS:
		return NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_REQ_ONE;
	default:
		return NBD_CMD_FLAG_FUA;
	}
}

uint32_t nbd_check_request(const struct nbd_export *exp, const struct nbd_handshake *hs,
			   const struct nbd_request *req)
{
	bool ranged = true;

	if (req->flags & ~allowed_flags(req->type, hs))
		return NBD_EINVAL;
	switch (req->type) {
	case NBD_CMD_READ:
	case NBD_CMD_CACHE:
		break;
	case NBD_CMD_WRITE:
	case NBD_CMD_WRITE_ZEROES:
		if (exp->read_only)
			return NBD_EPERM;
		break;
	case NBD_CMD_TRIM:
		if (exp->read_only)
			return NBD_EPERM;
		if (!exp->can_trim)
			return NBD_EINVAL;
		break;
	case NBD_CMD_BLOCK_STATUS:
		if (!hs->base_allocation || req->length == 0)
			return NBD_EINVAL;
		break;
	case NBD_CMD_FLUSH:
	case NBD_CMD_DISC:
		ranged = false;
		break;
	default:
		return NBD_EINVAL;
	}
	if (ranged && (req->offset > exp->size || req->length > exp->size - req->offset))
		return NBD_EINVAL;
	if ((req->type == NBD_CMD_READ || req->type == NBD_CMD_WRITE) &&
	    req->length > exp->max_block)
		return NBD_EOVERFLOW;
	return 0;
}

size_t nbd_encode_simple_reply(uint8_t *out, uint32_t error, uint64_t cookie)
{
	put_be32(out, NBD_SIMPLE_REPLY_MAGIC);
	put_be32(out + 4, error);
	put_be64(out + 8, cookie);
	return NBD_SIMPLE_REPLY_SIZE;
}

size_t nbd_encode_chunk_header(uint8_t *out, uint16_t flags, uint16_t type, uint64_t cookie,
			       uint32_t length)
{
	put_be32(out, NBD_STRUCTURED_REPLY_MAGIC);
	put_be16(out + 4, flags);
	put_be16(out + 6, type);
	put_be64(out + 8, cookie);
	put_be32(out + 16, length);
	return NBD_CHUNK_HEADER_SIZE;
}

size_t nbd_encode_offset_data(uint8_t *out, uint16_t flags, uint64_t cookie, uint64_t offset,
			      uint32_t data_len)
{
	size_t n = nbd_encode_chunk_header(out, flags, NBD_REPLY_TYPE_OFFSET_DATA, cookie,
					   8 + data_len);

	put_be64(out + n, offset);
	return n + 8;
}

size_t nbd_encode_offset_hole(uint8_t *out, uint16_t flags, uint64_t cookie, uint64_t offset,
			      uint32_t hole_len)
{
	size_t n = nbd_encode_chunk_header(out, flags, NBD_REPLY_TYPE_OFFSET_HOLE, cookie, 12);

	put_be64(out + n, offset);
	put_be32(out + n + 8, hole_len);
	return n + 12;
}

size_t nbd_encode_error_chunk(uint8_t *out, uint16_t flags, uint64_t cookie, uint32_t error,
			      const char *message)
{
	size_t len = message ? strlen(message) : 0;
	size_t n;

	if (len > 1024)
		len = 1024;
	n = nbd_encode_chunk_header(out, flags, NBD_REPLY_TYPE_ERROR, cookie, (uint32_t)(6 + len));
	put_be32(out + n, error);
	put_be16(out + n + 4, (uint16_t)len);
	if (len)
		memcpy(out + n + 6, message, len);
	return n + 6 + len;
}

size_t nbd_encode_block_status(uint8_t *out, uint16_t flags, uint64_t cookie, uint32_t context,
			       const struct nbd_extent *extents, size_t count)
{
	size_t n = nbd_encode_chunk_header(out, flags, NBD_REPLY_TYPE_BLOCK_STATUS, cookie,
					   (uint32_t)(4 + 8 * count));

	put_be32(out + n, context);
	n += 4;
	for (size_t i = 0; i < count; i++, n += 8) {
		put_be32(out + n, extents[i].length);
		put_be32(out + n + 4, extents[i].flags);
	}
	return n;
}

const char *nbd_command_name(uint16_t type)
{
	switch (type) {
	case NBD_CMD_READ: return "READ";
	case NBD_CMD_WRITE: return "WRITE";
	case NBD_CMD_DISC: return "DISC";
	case NBD_CMD_FLUSH: return "FLUSH";
	case NBD_CMD_TRIM: return "TRIM";
	case NBD_CMD_CACHE: return "CACHE";
	case NBD_CMD_WRITE_ZEROES: return "WRITE_ZEROES";
	case NBD_CMD_BLOCK_STATUS: return "BLOCK_STATUS";
	default: return "unknown command";
	}
}

const char *nbd_option_name(uint32_t option)
{
	switch (option) {
	case NBD_OPT_EXPORT_NAME: return "EXPORT_NAME";
	case NBD_OPT_ABORT: return "ABORT";
	case NBD_OPT_LIST: return "LIST";
	case NBD_OPT_STARTTLS: return "STARTTLS";
	case NBD_OPT_INFO: return "INFO";
	case NBD_OPT_GO: return "GO";
	case NBD_OPT_STRUCTURED_REPLY: return "STRUCTURED_REPLY";
	case NBD_OPT_LIST_META_CONTEXT: return "LIST_META_CONTEXT";
	case NBD_OPT_SET_META_CONTEXT: return "SET_META_CONTEXT";
	default: return "unknown option";
	}
}

uint32_t nbd_error_from_errno(int error)
{
	switch (error) {
	case 0: return 0;
	case EPERM:
	case EROFS: return NBD_EPERM;
	case ENOMEM: return NBD_ENOMEM;
	case EINVAL: return NBD_EINVAL;
	case ENOSPC:
	case EDQUOT:
	case EFBIG: return NBD_ENOSPC;
	case EOVERFLOW: return NBD_EOVERFLOW;
	case EOPNOTSUPP: return NBD_ENOTSUP;
	case ESHUTDOWN:
	case ECANCELED: return NBD_ESHUTDOWN;
	default: return NBD_EIO;
	}
}
