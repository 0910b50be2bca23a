/* IMDPROXY, ImDisk's proxy protocol: a pure codec over buffers, shared by the
 * server (devio) and the client (the proxy backend).
 *
 * Every integer is an unsigned 64-bit little-endian value, the request code
 * included.  There is no magic, no padding and no framing: a request is a header
 * then optional data, a reply is a header then optional data, on one byte stream.
 * The size of a request header depends only on its code, and the size of the data
 * that follows is in the header, so a reader always knows where the next request
 * starts, even for requests it does not serve.
 *
 *   request           header                                          data after it
 *   INFO    8         code                                            -
 *   READ    24        code, offset, length                            -
 *   WRITE   24        code, offset, length                            length bytes
 *   CONNECT 24        code, flags, length                             length bytes (UTF-16LE)
 *   CLOSE   8         code                                            -
 *   UNMAP   16        code, length                                    length bytes of ranges
 *   ZERO    16        code, length                                    length bytes of ranges
 *   SCSI    40        code, cdb[16], request_length, max_response     request_length bytes
 *   other   8         code                                            (unknown: none assumed)
 *
 *   reply to          header                                          data after it
 *   INFO    24        file_size, req_alignment, flags                 -
 *   READ    16        errorno, length                                 length bytes
 *   WRITE   16        errorno, length                                 -
 *   CONNECT 16        error_code, object_ptr                          -
 *   CLOSE   none: the session ends
 *   UNMAP   8         errorno                                         -
 *   ZERO    8         errorno                                         -
 *   SCSI    16        errorno, length                                 length bytes
 *   other   8         errorno                                         -
 *
 * A range (UNMAP, ZERO) is 16 bytes: i64 starting offset, u64 length in bytes.
 * errorno is opaque on the wire (non-zero means failure); servers send a host
 * errno value (EBADF = 9 for a write to a read-only image, ENODEV = 19 for a
 * request they do not serve, EINVAL = 22 for an offset out of range).
 */
#ifndef IMDISK_PROTOCOL_IMDPROXY_H
#define IMDISK_PROTOCOL_IMDPROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum imdproxy_request_code {
	IMDPROXY_REQ_NULL = 0,
	IMDPROXY_REQ_INFO = 1,
	IMDPROXY_REQ_READ = 2,
	IMDPROXY_REQ_WRITE = 3,
	IMDPROXY_REQ_CONNECT = 4,
	IMDPROXY_REQ_CLOSE = 5,
	IMDPROXY_REQ_UNMAP = 6,
	IMDPROXY_REQ_ZERO = 7,
	IMDPROXY_REQ_SCSI = 8,   /* defined by ImDisk, never sent by it */
	IMDPROXY_REQ_SHARED = 9, /* defined by ImDisk, never sent by it; layout unknown */
};

/* INFO reply flags. */
#define IMDPROXY_FLAG_RO 0x01u
#define IMDPROXY_FLAG_SUPPORTS_UNMAP 0x02u
#define IMDPROXY_FLAG_SUPPORTS_ZERO 0x04u
#define IMDPROXY_FLAG_SUPPORTS_SCSI 0x08u
#define IMDPROXY_FLAG_SUPPORTS_SHARED 0x10u
#define IMDPROXY_FLAG_KEEP_OPEN 0x20u

/* Message sizes in bytes (headers only; data follows where the table above says). */
#define IMDPROXY_INFO_REQUEST_SIZE 8
#define IMDPROXY_INFO_REPLY_SIZE 24
#define IMDPROXY_READ_REQUEST_SIZE 24
#define IMDPROXY_READ_REPLY_SIZE 16
#define IMDPROXY_WRITE_REQUEST_SIZE 24
#define IMDPROXY_WRITE_REPLY_SIZE 16
#define IMDPROXY_CONNECT_REQUEST_SIZE 24
#define IMDPROXY_CONNECT_REPLY_SIZE 16
#define IMDPROXY_CLOSE_REQUEST_SIZE 8
#define IMDPROXY_RANGE_REQUEST_SIZE 16 /* UNMAP, ZERO */
#define IMDPROXY_RANGE_REPLY_SIZE 8
#define IMDPROXY_RANGE_ENTRY_SIZE 16
#define IMDPROXY_SCSI_REQUEST_SIZE 40
#define IMDPROXY_SCSI_REPLY_SIZE 16
#define IMDPROXY_CODE_SIZE 8            /* the request code that starts every request */
#define IMDPROXY_ERROR_REPLY_SIZE 8     /* the reply to a request a server does not know */
#define IMDPROXY_MAX_REQUEST_HEADER 40
#define IMDPROXY_MAX_REPLY_HEADER 24
#define IMDPROXY_SCSI_CDB_SIZE 16

/* What the ImDisk driver accepts. */
#define IMDPROXY_MAX_ALIGNMENT 512
#define IMDPROXY_CONNECT_MAX_STRING 520 /* bytes of UTF-16LE */

/* A failed WRITE's reply length, as the reference server sends it. */
#define IMDPROXY_WRITE_FAILED UINT64_MAX

/* Shared-memory transport: bytes [0, 4096) hold the request header, overwritten by
 * the reply header; data (WRITE/UNMAP/ZERO payload, READ reply data) starts at 4096.
 * The Linux mapping of the events and the server mutex is in docs/imdproxy-shm.md. */
#define IMDPROXY_SHM_HEADER_AREA 4096
/* The Linux mapping keeps a control block at the end of the header area (far
 * past any header), u64 little-endian fields: */
#define IMDPROXY_SHM_MAGIC_OFFSET 3968       /* "IMDPSHM1": the server set it up */
#define IMDPROXY_SHM_DATA_SIZE_OFFSET 3976   /* bytes from 4096 on: largest transfer */
#define IMDPROXY_SHM_SERVER_PID_OFFSET 3984
#define IMDPROXY_SHM_REQUEST_SEQ_OFFSET 3992 /* the client's number for its request */
#define IMDPROXY_SHM_REPLY_SEQ_OFFSET 4000   /* the server's copy of it in the reply */
#define IMDPROXY_SHM_MAGIC "IMDPSHM1"
/* Byte-range locks (F_OFD_SETLK) on the shared-memory object itself: byte 0 is
 * held by the server while it lives (ImDisk's "<name>_Server" mutex), byte 1 by
 * the client of the moment.  The events are POSIX named semaphores. */
#define IMDPROXY_SHM_SERVER_LOCK_BYTE 0
#define IMDPROXY_SHM_CLIENT_LOCK_BYTE 1
#define IMDPROXY_SHM_REQUEST_SUFFIX "_Request"
#define IMDPROXY_SHM_RESPONSE_SUFFIX "_Response"

/* A request header, decoded.  Fields a code does not carry are zero. */
struct imdproxy_request {
	uint64_t code;
	uint64_t offset;              /* READ, WRITE */
	uint64_t length;              /* READ, WRITE: data bytes; UNMAP, ZERO, CONNECT: bytes after
					 the header; SCSI: request_length */
	uint64_t flags;               /* CONNECT */
	uint64_t max_response_length; /* SCSI */
	uint8_t cdb[IMDPROXY_SCSI_CDB_SIZE]; /* SCSI */
};

/* The INFO reply. */
struct imdproxy_info {
	uint64_t file_size;
	uint64_t req_alignment;
	uint64_t flags; /* IMDPROXY_FLAG_* */
};

/* A reply header, decoded.  Fields a code does not carry are zero. */
struct imdproxy_reply {
	uint64_t errorno;           /* every reply but INFO; CONNECT: error_code */
	uint64_t length;            /* READ, WRITE, SCSI */
	uint64_t object_ptr;        /* CONNECT */
	struct imdproxy_info info;  /* INFO */
};

struct imdproxy_range {
	uint64_t offset; /* an i64 on the wire; offsets >= 2^63 are out of range anyway */
	uint64_t length;
};

/* A request code ImDisk defines (0..9). */
bool imdproxy_code_known(uint64_t code);
/* A short name for logs: "INFO", "READ", ... or "unknown". */
const char *imdproxy_code_name(uint64_t code);

/* Bytes of the header of a request with this code, the code included.  A code with
 * no known layout (NULL, SHARED, anything above 9) counts as the code alone. */
size_t imdproxy_request_header_size(uint64_t code);

/* Decode the request header at the start of buf.  Returns the header size (> 0) and
 * fills *req and *payload_size (the bytes of data that follow the header and belong
 * to this request); -EAGAIN when buf is shorter than that header (at least 8 bytes
 * are needed to know how many).  Values are not judged here: the caller decides what
 * is too large, so that it can still skip what it refuses. */
int imdproxy_decode_request(const void *buf, size_t len, struct imdproxy_request *req,
			    uint64_t *payload_size);

/* Encode a request header from *req; returns its size, or -ENOSPC when cap is too
 * small.  Only the fields the code carries are written. */
int imdproxy_encode_request(void *buf, size_t cap, const struct imdproxy_request *req);

/* One function per request, for callers that build them field by field.  Each
 * writes exactly the header size listed above and returns it; buf must hold it. */
size_t imdproxy_encode_info_request(void *buf);
size_t imdproxy_encode_read_request(void *buf, uint64_t offset, uint64_t length);
size_t imdproxy_encode_write_request(void *buf, uint64_t offset, uint64_t length);
size_t imdproxy_encode_close_request(void *buf);
/* UNMAP or ZERO: `array_bytes` of ranges follow (16 per range). */
size_t imdproxy_encode_range_request(void *buf, uint64_t code, uint64_t array_bytes);
size_t imdproxy_encode_connect_request(void *buf, uint64_t flags, uint64_t string_bytes);
size_t imdproxy_encode_scsi_request(void *buf, const uint8_t cdb[IMDPROXY_SCSI_CDB_SIZE],
				    uint64_t request_length, uint64_t max_response_length);

/* Range arrays (UNMAP, ZERO). */
size_t imdproxy_encode_range(void *buf, uint64_t offset, uint64_t length);
void imdproxy_decode_range(const void *buf, struct imdproxy_range *range);
/* How many ranges `array_bytes` hold; -EBADMSG when it is not a multiple of 16. */
int64_t imdproxy_range_count(uint64_t array_bytes);

/* Bytes of the reply header to a request with this code; 0 for CLOSE (no reply). */
size_t imdproxy_reply_header_size(uint64_t code);

/* Decode the reply header to a request with this code at the start of buf.
 * Returns the header size and fills *reply and *payload_size (data that follows:
 * READ and SCSI replies); -EAGAIN when buf is shorter than the header; -EINVAL for
 * CLOSE, which has no reply.  `sent` (may be NULL) is the request this answers: with
 * it, a READ reply longer than asked is -EBADMSG (a fatal device error for ImDisk),
 * as is a SCSI reply longer than max_response_length. */
int imdproxy_decode_reply(uint64_t code, const void *buf, size_t len,
			  const struct imdproxy_request *sent, struct imdproxy_reply *reply,
			  uint64_t *payload_size);

/* Encode the reply header to a request with this code; returns its size, -ENOSPC
 * when cap is too small, -EINVAL for CLOSE. */
int imdproxy_encode_reply(void *buf, size_t cap, uint64_t code, const struct imdproxy_reply *reply);

/* One function per reply; each returns the header size it wrote. */
size_t imdproxy_encode_info_reply(void *buf, const struct imdproxy_info *info);
size_t imdproxy_encode_read_reply(void *buf, uint64_t errorno, uint64_t length);
size_t imdproxy_encode_write_reply(void *buf, uint64_t errorno, uint64_t length);
size_t imdproxy_encode_range_reply(void *buf, uint64_t errorno);
size_t imdproxy_encode_connect_reply(void *buf, uint64_t error_code, uint64_t object_ptr);
size_t imdproxy_encode_scsi_reply(void *buf, uint64_t errorno, uint64_t length);
/* The 8-byte reply to a request the server does not know. */
size_t imdproxy_encode_error_reply(void *buf, uint64_t errorno);

/* What the ImDisk driver requires of an INFO reply: req_alignment 1..512.
 * Returns 0 or -EBADMSG. */
int imdproxy_info_check(const struct imdproxy_info *info);

/* CONNECT's string: UTF-8 to UTF-16LE without a terminator; returns the bytes
 * written, -EILSEQ for invalid UTF-8, -ENOSPC when cap is too small. */
int imdproxy_utf8_to_utf16le(const char *text, void *buf, size_t cap);
/* UTF-16LE (len bytes, no terminator) to a NUL-terminated UTF-8 string; returns the
 * string's length, -EILSEQ for an odd length, a broken surrogate pair or a U+0000, -ENOSPC
 * when cap is too small (the terminator included). */
int imdproxy_utf16le_to_utf8(const void *buf, size_t len, char *text, size_t cap);

#endif
