/* Control protocol codec: see control.h for the wire format. */
#include "protocol/control.h"

#include <errno.h>
#include <string.h>

#include "common/endian.h"

enum attribute_kind { KIND_NONE, KIND_U32, KIND_U64, KIND_STRING, KIND_U32_ARRAY };

struct attribute_spec {
	enum attribute_kind kind;
	size_t offset;   /* of the field in struct control_message */
	size_t capacity; /* strings: buffer size, including the terminator */
};

#define U32(field) {KIND_U32, offsetof(struct control_message, field), 0}
#define U64(field) {KIND_U64, offsetof(struct control_message, field), 0}
#define STRING(field) \
	{KIND_STRING, offsetof(struct control_message, field), sizeof(((struct control_message *)0)->field)}

static const struct attribute_spec attribute_specs[] = {
	[CONTROL_TAG_UNIT] = U32(device.unit),
	[CONTROL_TAG_FLAGS] = U32(device.flags),
	[CONTROL_TAG_SIZE] = U64(device.size),
	[CONTROL_TAG_IMAGE_OFFSET] = U64(device.image_offset),
	[CONTROL_TAG_SECTOR_SIZE] = U32(device.sector_size),
	[CONTROL_TAG_SECTORS_PER_TRACK] = U32(device.sectors_per_track),
	[CONTROL_TAG_TRACKS_PER_CYLINDER] = U32(device.tracks_per_cylinder),
	[CONTROL_TAG_CYLINDERS] = U64(device.cylinders),
	[CONTROL_TAG_TRANSPORT] = U32(device.transport),
	[CONTROL_TAG_CONNECTED] = U32(device.connected),
	[CONTROL_TAG_DEVICE] = STRING(device.device),
	[CONTROL_TAG_IMAGE] = STRING(device.image),
	[CONTROL_TAG_MASK] = U32(mask),
	[CONTROL_TAG_VALUES] = U32(values),
	[CONTROL_TAG_REMOVE_MODE] = U32(remove_mode),
	[CONTROL_TAG_AMOUNT] = U64(amount),
	[CONTROL_TAG_UNITS] = {KIND_U32_ARRAY, offsetof(struct control_message, units), 0},
	[CONTROL_TAG_API_VERSION] = U32(api_version),
	[CONTROL_TAG_VERSION_TEXT] = STRING(version_text),
	[CONTROL_TAG_EVENT_KIND] = U32(event_kind),
	[CONTROL_TAG_TOTAL] = U32(total),
	[CONTROL_TAG_MESSAGE] = STRING(message),
	[CONTROL_TAG_OWNER_UID] = U32(owner_uid),
	[CONTROL_TAG_OWNER_GID] = U32(owner_gid),
};

#define TAG_COUNT (sizeof(attribute_specs) / sizeof(attribute_specs[0]))
_Static_assert(TAG_COUNT <= CONTROL_TAG_LIMIT, "the present mask has 64 bits");

static int type_is_known(uint16_t type)
{
	uint16_t base = type & (uint16_t)~CONTROL_REPLY;
	return base >= 1 && base <= CONTROL_TYPE_MAX;
}

int control_encode(const struct control_message *m, uint8_t *buf, size_t cap)
{
	size_t pos = CONTROL_HEADER_SIZE;

	if (cap < CONTROL_HEADER_SIZE)
		return -ENOSPC;
	if (!type_is_known(m->type))
		return -EINVAL;
	for (unsigned tag = 1; tag < TAG_COUNT; tag++) {
		const struct attribute_spec *spec = &attribute_specs[tag];
		const uint8_t *field = (const uint8_t *)m + spec->offset;
		size_t size = 0;

		if (!CONTROL_HAS(m, tag) || spec->kind == KIND_NONE)
			continue;
		switch (spec->kind) {
		case KIND_U32: size = 4; break;
		case KIND_U64: size = 8; break;
		case KIND_STRING: size = strnlen((const char *)field, spec->capacity - 1); break;
		case KIND_U32_ARRAY:
			if (m->unit_count > CONTROL_MAX_UNITS)
				return -EINVAL;
			size = 4 * (size_t)m->unit_count;
			break;
		case KIND_NONE: break;
		}
		if (size > UINT16_MAX)
			return -EINVAL;
		if (cap - pos < 4 + size)
			return -ENOSPC;
		put_le16(buf + pos, (uint16_t)tag);
		put_le16(buf + pos + 2, (uint16_t)size);
		pos += 4;
		switch (spec->kind) {
		case KIND_U32: put_le32(buf + pos, *(const uint32_t *)field); break;
		case KIND_U64: put_le64(buf + pos, *(const uint64_t *)field); break;
		case KIND_STRING: memcpy(buf + pos, field, size); break;
		case KIND_U32_ARRAY:
			for (uint32_t i = 0; i < m->unit_count; i++)
				put_le32(buf + pos + 4 * i, m->units[i]);
			break;
		case KIND_NONE: break;
		}
		pos += size;
	}
	if (pos - CONTROL_HEADER_SIZE > CONTROL_MAX_PAYLOAD)
		return -EINVAL;
	put_le32(buf, CONTROL_MAGIC);
	put_le16(buf + 4, CONTROL_VERSION);
	put_le16(buf + 6, m->type);
	put_le32(buf + 8, (uint32_t)(pos - CONTROL_HEADER_SIZE));
	put_le32(buf + 12, (uint32_t)m->status);
	return (int)pos;
}

int control_message_size(const uint8_t *buf, size_t len)
{
	uint32_t payload;

	if (len < CONTROL_HEADER_SIZE || get_le32(buf) != CONTROL_MAGIC)
		return -EBADMSG;
	if (get_le16(buf + 4) != CONTROL_VERSION)
		return -EPROTONOSUPPORT;
	if (!type_is_known(get_le16(buf + 6)))
		return -EBADMSG;
	payload = get_le32(buf + 8);
	if (payload > CONTROL_MAX_PAYLOAD)
		return -EBADMSG;
	return (int)(CONTROL_HEADER_SIZE + payload);
}

static int decode_attribute(struct control_message *m, unsigned tag, const uint8_t *value, size_t size)
{
	const struct attribute_spec *spec;
	uint8_t *field;

	if (tag == 0 || tag >= TAG_COUNT || attribute_specs[tag].kind == KIND_NONE)
		return 0; /* unknown: skipped for forward compatibility */
	spec = &attribute_specs[tag];
	field = (uint8_t *)m + spec->offset;
	switch (spec->kind) {
	case KIND_U32:
		if (size != 4)
			return -EBADMSG;
		*(uint32_t *)field = get_le32(value);
		break;
	case KIND_U64:
		if (size != 8)
			return -EBADMSG;
		*(uint64_t *)field = get_le64(value);
		break;
	case KIND_STRING:
		if (size >= spec->capacity || memchr(value, 0, size))
			return -EBADMSG;
		memcpy(field, value, size);
		field[size] = 0;
		break;
	case KIND_U32_ARRAY:
		if (size % 4 || size / 4 > CONTROL_MAX_UNITS)
			return -EBADMSG;
		m->unit_count = (uint32_t)(size / 4);
		for (uint32_t i = 0; i < m->unit_count; i++)
			m->units[i] = get_le32(value + 4 * i);
		break;
	case KIND_NONE: break;
	}
	m->present |= (uint64_t)1 << tag;
	return 0;
}

int control_decode(const uint8_t *buf, size_t len, struct control_message *m)
{
	int total = control_message_size(buf, len);
	size_t pos = CONTROL_HEADER_SIZE;

	if (total < 0)
		return total == -EPROTONOSUPPORT ? total : -EBADMSG;
	if ((size_t)total != len)
		return -EBADMSG;
	memset(m, 0, sizeof(*m));
	m->type = get_le16(buf + 6);
	m->status = (int32_t)get_le32(buf + 12);
	while (pos < len) {
		unsigned tag;
		size_t size;
		int r;

		if (len - pos < 4)
			return -EBADMSG;
		tag = get_le16(buf + pos);
		size = get_le16(buf + pos + 2);
		pos += 4;
		if (len - pos < size)
			return -EBADMSG;
		r = decode_attribute(m, tag, buf + pos, size);
		if (r < 0)
			return r;
		pos += size;
	}
	return 0;
}
