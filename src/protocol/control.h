/* The control protocol between libimdisk and imdiskd: pure codec over buffers.
 *
 * A message is a 16-byte header followed by `length` bytes of attributes.
 * Header (little-endian): u32 magic "IMDK", u16 version, u16 type, u32 length,
 * i32 status (replies: 0 or a negative errno; requests: 0).
 * An attribute is u16 tag, u16 size, then `size` bytes; integers are little-endian.
 * Unknown tags are skipped, so a newer peer can add attributes without breaking
 * an older one; the version changes only when a meaning changes.
 */
#ifndef IMDISK_PROTOCOL_CONTROL_H
#define IMDISK_PROTOCOL_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "imdisk.h"

#define CONTROL_MAGIC 0x4B444D49u /* "IMDK" */
#define CONTROL_VERSION 1
#define CONTROL_HEADER_SIZE 16
#define CONTROL_MAX_PAYLOAD (64 * 1024)
#define CONTROL_MAX_MESSAGE (CONTROL_HEADER_SIZE + CONTROL_MAX_PAYLOAD)
#define CONTROL_MAX_UNITS 1024
#define CONTROL_VERSION_TEXT_MAX 64

enum control_type {
	CONTROL_QUERY_VERSION = 1,
	CONTROL_CREATE = 2,
	CONTROL_QUERY_DEVICE = 3,
	CONTROL_LIST = 4,
	CONTROL_SET_FLAGS = 5,
	CONTROL_REMOVE = 6,
	CONTROL_GROW = 7,
	CONTROL_WATCH = 8,
	CONTROL_EVENT = 9, /* sent by the daemon on a watch stream */
	CONTROL_TYPE_MAX = 9,
	CONTROL_REPLY = 0x8000, /* or-ed into the type of a reply */
};

enum control_tag {
	CONTROL_TAG_UNIT = 1,                /* u32 */
	CONTROL_TAG_FLAGS = 2,               /* u32 */
	CONTROL_TAG_SIZE = 3,                /* u64 */
	CONTROL_TAG_IMAGE_OFFSET = 4,        /* u64 */
	CONTROL_TAG_SECTOR_SIZE = 5,         /* u32 */
	CONTROL_TAG_SECTORS_PER_TRACK = 6,   /* u32 */
	CONTROL_TAG_TRACKS_PER_CYLINDER = 7, /* u32 */
	CONTROL_TAG_CYLINDERS = 8,           /* u64 */
	CONTROL_TAG_TRANSPORT = 9,           /* u32 */
	CONTROL_TAG_CONNECTED = 10,          /* u32 */
	CONTROL_TAG_DEVICE = 11,             /* string */
	CONTROL_TAG_IMAGE = 12,              /* string */
	CONTROL_TAG_MASK = 13,               /* u32: SET_FLAGS mask, reply: bits not changed */
	CONTROL_TAG_VALUES = 14,             /* u32: SET_FLAGS values */
	CONTROL_TAG_REMOVE_MODE = 15,        /* u32 */
	CONTROL_TAG_AMOUNT = 16,             /* u64: GROW bytes */
	CONTROL_TAG_UNITS = 17,              /* u32 array: LIST reply */
	CONTROL_TAG_API_VERSION = 18,        /* u32 */
	CONTROL_TAG_VERSION_TEXT = 19,       /* string */
	CONTROL_TAG_EVENT_KIND = 20,         /* u32 */
	CONTROL_TAG_TOTAL = 21,              /* u32: LIST reply, how many disks exist */
	CONTROL_TAG_MESSAGE = 22,            /* string: a reply's human-readable error detail */
	CONTROL_TAG_OWNER_UID = 23,          /* u32: QUERY and CREATE replies, the disk's creator */
	CONTROL_TAG_OWNER_GID = 24,          /* u32 */
};

/* Which attributes a message carries (bit = 1 << tag); tags stay below 64. */
#define CONTROL_TAG_LIMIT 64
#define CONTROL_HAS(m, tag) (((m)->present >> (tag)) & 1u)

/* One decoded message: every field any message type can carry. */
struct control_message {
	uint16_t type;
	int32_t status;
	uint64_t present; /* 1 << tag for each attribute seen/to send */
	struct imdisk_device device;
	uint32_t owner_uid; /* beside the device: struct imdisk_device is public ABI */
	uint32_t owner_gid;
	uint32_t mask;
	uint32_t values;
	uint32_t remove_mode;
	uint64_t amount;
	uint32_t api_version;
	char version_text[CONTROL_VERSION_TEXT_MAX];
	uint32_t event_kind;
	uint32_t total;
	uint32_t unit_count;
	uint32_t units[CONTROL_MAX_UNITS];
	char message[256];
};

/* Mark an attribute as present (for encoding). */
static inline void control_set(struct control_message *m, enum control_tag tag)
{
	m->present |= (uint64_t)1 << tag;
}

/* Encode `m` into buf; returns the message size or -ENOSPC / -EINVAL. */
int control_encode(const struct control_message *m, uint8_t *buf, size_t cap);

/* From the first CONTROL_HEADER_SIZE bytes: the whole message size, or -EBADMSG
 * (bad magic, unknown type, payload too large) or -EPROTONOSUPPORT (version). */
int control_message_size(const uint8_t *buf, size_t len);

/* Decode a whole message (header and payload).  Returns 0 or -EBADMSG on any
 * malformed input; never reads outside buf[0..len). */
int control_decode(const uint8_t *buf, size_t len, struct control_message *m);

#endif
