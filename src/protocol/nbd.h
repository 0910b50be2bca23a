/* The NBD protocol, server side: pure codecs over byte buffers, no I/O.
 *
 * Written from the protocol's public description (fixed newstyle negotiation,
 * structured replies, the base:allocation metadata context).  Everything on the
 * wire is big-endian.  A session (devio's nbd_session.c) reads bytes, hands them
 * here, and writes what comes back; this file decides what every option and
 * request means, so that it can be fuzzed on its own. */
#ifndef IMDISK_PROTOCOL_NBD_H
#define IMDISK_PROTOCOL_NBD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Handshake. */
#define NBD_MAGIC 0x4e42444d41474943ull    /* "NBDMAGIC" */
#define NBD_IHAVEOPT 0x49484156454f5054ull /* "IHAVEOPT" */
#define NBD_OPT_REPLY_MAGIC 0x0003e889045565a9ull
#define NBD_GREETING_SIZE 18               /* magic, IHAVEOPT, handshake flags */
#define NBD_CLIENT_FLAGS_SIZE 4
#define NBD_OPTION_HEADER_SIZE 16          /* IHAVEOPT, option, length */
#define NBD_OPTION_REPLY_HEADER_SIZE 20    /* magic, option, type, length */

#define NBD_FLAG_FIXED_NEWSTYLE 0x0001u
#define NBD_FLAG_NO_ZEROES 0x0002u
#define NBD_FLAG_C_FIXED_NEWSTYLE 0x0001u
#define NBD_FLAG_C_NO_ZEROES 0x0002u

#define NBD_OPT_EXPORT_NAME 1u
#define NBD_OPT_ABORT 2u
#define NBD_OPT_LIST 3u
#define NBD_OPT_STARTTLS 5u
#define NBD_OPT_INFO 6u
#define NBD_OPT_GO 7u
#define NBD_OPT_STRUCTURED_REPLY 8u
#define NBD_OPT_LIST_META_CONTEXT 9u
#define NBD_OPT_SET_META_CONTEXT 10u

#define NBD_REP_ACK 1u
#define NBD_REP_SERVER 2u
#define NBD_REP_INFO 3u
#define NBD_REP_META_CONTEXT 4u
#define NBD_REP_FLAG_ERROR 0x80000000u
#define NBD_REP_ERR_UNSUP (NBD_REP_FLAG_ERROR | 1u)
#define NBD_REP_ERR_POLICY (NBD_REP_FLAG_ERROR | 2u)
#define NBD_REP_ERR_INVALID (NBD_REP_FLAG_ERROR | 3u)
#define NBD_REP_ERR_UNKNOWN (NBD_REP_FLAG_ERROR | 6u)
#define NBD_REP_ERR_TOO_BIG (NBD_REP_FLAG_ERROR | 9u)

#define NBD_INFO_EXPORT 0u
#define NBD_INFO_NAME 1u
#define NBD_INFO_DESCRIPTION 2u
#define NBD_INFO_BLOCK_SIZE 3u

/* Transmission flags (per export). */
#define NBD_FLAG_HAS_FLAGS (1u << 0)
#define NBD_FLAG_READ_ONLY (1u << 1)
#define NBD_FLAG_SEND_FLUSH (1u << 2)
#define NBD_FLAG_SEND_FUA (1u << 3)
#define NBD_FLAG_SEND_TRIM (1u << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES (1u << 6)
#define NBD_FLAG_SEND_DF (1u << 7)
#define NBD_FLAG_CAN_MULTI_CONN (1u << 8)
#define NBD_FLAG_SEND_CACHE (1u << 10)
#define NBD_FLAG_SEND_FAST_ZERO (1u << 11)

/* Transmission. */
#define NBD_REQUEST_MAGIC 0x25609513u
#define NBD_SIMPLE_REPLY_MAGIC 0x67446698u
#define NBD_STRUCTURED_REPLY_MAGIC 0x668e33efu
#define NBD_REQUEST_SIZE 28
#define NBD_SIMPLE_REPLY_SIZE 16
#define NBD_CHUNK_HEADER_SIZE 20

#define NBD_CMD_FLAG_FUA (1u << 0)
#define NBD_CMD_FLAG_NO_HOLE (1u << 1)
#define NBD_CMD_FLAG_DF (1u << 2)
#define NBD_CMD_FLAG_REQ_ONE (1u << 3)
#define NBD_CMD_FLAG_FAST_ZERO (1u << 4)

#define NBD_CMD_READ 0u
#define NBD_CMD_WRITE 1u
#define NBD_CMD_DISC 2u
#define NBD_CMD_FLUSH 3u
#define NBD_CMD_TRIM 4u
#define NBD_CMD_CACHE 5u
#define NBD_CMD_WRITE_ZEROES 6u
#define NBD_CMD_BLOCK_STATUS 7u

#define NBD_REPLY_FLAG_DONE (1u << 0)
#define NBD_REPLY_TYPE_NONE 0u
#define NBD_REPLY_TYPE_OFFSET_DATA 1u
#define NBD_REPLY_TYPE_OFFSET_HOLE 2u
#define NBD_REPLY_TYPE_BLOCK_STATUS 5u
#define NBD_REPLY_TYPE_ERROR ((1u << 15) + 1u)

/* Error values on the wire (not the host's errno). */
#define NBD_EPERM 1u
#define NBD_EIO 5u
#define NBD_ENOMEM 12u
#define NBD_EINVAL 22u
#define NBD_ENOSPC 28u
#define NBD_EOVERFLOW 75u
#define NBD_ENOTSUP 95u
#define NBD_ESHUTDOWN 108u

/* base:allocation extent flags. */
#define NBD_STATE_HOLE (1u << 0)
#define NBD_STATE_ZERO (1u << 1)
#define NBD_META_BASE_ALLOCATION "base:allocation"
#define NBD_META_BASE_ALLOCATION_ID 1u /* the id this server gives it */

/* The largest request payload served (a WRITE's data, a READ's reply). */
#define NBD_MAX_PAYLOAD (32u << 20)
/* The largest option data taken: more is refused as too big. */
#define NBD_MAX_OPTION_LENGTH 4096u
/* Room for every reply one option makes (nbd_handle_option's out). */
#define NBD_MAX_OPTION_REPLIES 1024u

/* The one export this server has, as the handshake describes it. */
struct nbd_export {
	uint64_t size;
	bool read_only;
	bool can_trim;       /* TRIM is advertised */
	uint32_t min_block;  /* NBD_INFO_BLOCK_SIZE */
	uint32_t preferred_block;
	uint32_t max_block;
};

/* What the handshake has agreed so far. */
struct nbd_handshake {
	uint32_t client_flags;
	bool structured_replies;
	bool base_allocation; /* block status with NBD_META_BASE_ALLOCATION_ID */
};

enum nbd_option_result {
	NBD_OPTION_CONTINUE,     /* send out, read the next option */
	NBD_OPTION_TRANSMISSION, /* send out, then the transmission phase starts */
	NBD_OPTION_CLOSE,        /* send out (maybe nothing), then close */
};

/* The server's greeting: NBD_GREETING_SIZE bytes. */
size_t nbd_encode_greeting(uint8_t *out);
/* The client's flags (NBD_CLIENT_FLAGS_SIZE bytes): 0, or -EPROTO when the
 * client does not speak fixed newstyle or sets flags we do not know. */
int nbd_decode_client_flags(const uint8_t *in, struct nbd_handshake *hs);
/* An option header: 0, or -EPROTO without IHAVEOPT. */
int nbd_decode_option_header(const uint8_t *in, uint32_t *option, uint32_t *length);
/* The transmission flags for this export after this handshake. */
uint16_t nbd_transmission_flags(const struct nbd_export *exp, const struct nbd_handshake *hs);
/* Answer one option whose data (length bytes) is in data: the replies go to out
 * (NBD_MAX_OPTION_REPLIES bytes of room), their size to *out_len. */
enum nbd_option_result nbd_handle_option(const struct nbd_export *exp, struct nbd_handshake *hs,
					 uint32_t option, const uint8_t *data, uint32_t length,
					 uint8_t *out, size_t *out_len);

struct nbd_request {
	uint16_t flags;
	uint16_t type;
	uint64_t cookie;
	uint64_t offset;
	uint32_t length;
};

/* A request header (NBD_REQUEST_SIZE bytes): 0, or -EPROTO for a bad magic. */
int nbd_decode_request(const uint8_t *in, struct nbd_request *req);
/* The payload bytes that follow a request header (a WRITE's data). */
uint32_t nbd_request_payload(const struct nbd_request *req);
/* Check a request against the export: 0 to serve it, else the NBD_E* to
 * answer with (range, flags, commands not negotiated). */
uint32_t nbd_check_request(const struct nbd_export *exp, const struct nbd_handshake *hs,
			   const struct nbd_request *req);
size_t nbd_encode_request(uint8_t *out, const struct nbd_request *req);

/* Replies: each returns the header size written to out. */
size_t nbd_encode_simple_reply(uint8_t *out, uint32_t error, uint64_t cookie);
/* A chunk header with `length` bytes of chunk data after it. */
size_t nbd_encode_chunk_header(uint8_t *out, uint16_t flags, uint16_t type, uint64_t cookie,
			       uint32_t length);
/* OFFSET_DATA: header and offset (NBD_CHUNK_HEADER_SIZE + 8); data_len data follow. */
size_t nbd_encode_offset_data(uint8_t *out, uint16_t flags, uint64_t cookie, uint64_t offset,
			      uint32_t data_len);
/* OFFSET_HOLE: NBD_CHUNK_HEADER_SIZE + 12 bytes. */
size_t nbd_encode_offset_hole(uint8_t *out, uint16_t flags, uint64_t cookie, uint64_t offset,
			      uint32_t hole_len);
/* ERROR with a message of up to 1024 bytes (cut there). */
size_t nbd_encode_error_chunk(uint8_t *out, uint16_t flags, uint64_t cookie, uint32_t error,
			      const char *message);
#define NBD_MAX_ERROR_CHUNK (NBD_CHUNK_HEADER_SIZE + 6 + 1024)
struct nbd_extent {
	uint32_t length;
	uint32_t flags; /* NBD_STATE_* */
};
/* BLOCK_STATUS: the header, the context id and count descriptors. */
size_t nbd_encode_block_status(uint8_t *out, uint16_t flags, uint64_t cookie, uint32_t context,
			       const struct nbd_extent *extents, size_t count);

const char *nbd_command_name(uint16_t type);
const char *nbd_option_name(uint32_t option);
/* A host errno (positive) as the NBD error for it. */
uint32_t nbd_error_from_errno(int error);

#endif
