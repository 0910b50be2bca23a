/* State file text to validated records: see state_parse.h.  Every field is checked
 * on its own (form and range) and then against the others (geometry against the
 * size, the device name against the loop number), because the daemon divides by
 * the sector size and geometry and hands the rest to the kernel. */
#include "daemon/state_parse.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define KEY_MAX 32
#define CHS_FIELD_MAX 255
/* Offsets and sizes are off_t to the kernel: at most 2^63 - 1 together. */
#define BYTES_MAX ((uint64_t)INT64_MAX)

#define KNOWN_OPTIONS \
	(IMDISK_OPTION_RO | IMDISK_OPTION_REMOVABLE | IMDISK_OPTION_SPARSE_FILE | IMDISK_OPTION_BYTE_SWAP | \
	 IMDISK_IMAGE_MODIFIED | IMDISK_SHARED_IMAGE)
#define KNOWN_FLAGS (KNOWN_OPTIONS | IMDISK_DEVICE_TYPE_MASK | IMDISK_TYPE_MASK | IMDISK_PROXY_TYPE_MASK)

enum field {
	FIELD_UNIT, FIELD_LOOP, FIELD_DEVICE, FIELD_TAG, FIELD_FLAGS, FIELD_SIZE, FIELD_OFFSET,
	FIELD_SECTOR_SIZE, FIELD_SECTORS_PER_TRACK, FIELD_TRACKS_PER_CYLINDER, FIELD_CYLINDERS,
	FIELD_TRANSPORT, FIELD_WRITTEN_BASELINE, FIELD_BACKING_DEVICE, FIELD_BACKING_INODE, FIELD_IMAGE,
	FIELD_OWNER_UID, FIELD_OWNER_GID, FIELD_COUNT,
};

enum field_form { FORM_U32, FORM_U64, FORM_TEXT };

struct field_spec {
	const char *key;
	enum field_form form;
	bool required; /* every file state.c writes has it */
};

static const struct field_spec fields[FIELD_COUNT] = {
	[FIELD_UNIT] = {"unit", FORM_U32, true},
	[FIELD_LOOP] = {"loop", FORM_U32, true},
	[FIELD_DEVICE] = {"device", FORM_TEXT, true},
	[FIELD_TAG] = {"tag", FORM_TEXT, true},
	[FIELD_FLAGS] = {"flags", FORM_U32, true},
	[FIELD_SIZE] = {"size", FORM_U64, true},
	[FIELD_OFFSET] = {"offset", FORM_U64, true},
	[FIELD_SECTOR_SIZE] = {"sector_size", FORM_U32, true},
	[FIELD_SECTORS_PER_TRACK] = {"sectors_per_track", FORM_U32, true},
	[FIELD_TRACKS_PER_CYLINDER] = {"tracks_per_cylinder", FORM_U32, true},
	[FIELD_CYLINDERS] = {"cylinders", FORM_U64, true},
	[FIELD_TRANSPORT] = {"transport", FORM_U32, true},
	[FIELD_WRITTEN_BASELINE] = {"written_baseline", FORM_U64, true},
	[FIELD_BACKING_DEVICE] = {"backing_device", FORM_U64, true},
	[FIELD_BACKING_INODE] = {"backing_inode", FORM_U64, true},
	[FIELD_IMAGE] = {"image", FORM_TEXT, true},
	/* Written since disks have owners; an older file's disks are root's. */
	[FIELD_OWNER_UID] = {"owner_uid", FORM_U32, false},
	[FIELD_OWNER_GID] = {"owner_gid", FORM_U32, false},
};

static int invalid(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int invalid(char *why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, STATE_WHY_MAX, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

/* Plain decimal, as state.c writes it: digits only, no sign, no spaces, no overflow. */
static bool parse_decimal(const char *text, size_t length, uint64_t max, uint64_t *value)
{
	uint64_t v = 0;

	if (length == 0 || length > 20)
		return false;
	for (size_t i = 0; i < length; i++) {
		unsigned digit = (unsigned char)text[i] - '0';
		if (digit > 9 || __builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, digit, &v))
			return false;
	}
	if (v > max)
		return false;
	*value = v;
	return true;
}

/* A name for a log line and the kernel: printable, nothing that could forge a line. */
static bool text_is_sane(const char *text, size_t length)
{
	for (size_t i = 0; i < length; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

static int copy_text(char *out, size_t size, const char *key, const char *value, size_t length, char *why)
{
	if (length >= size)
		return invalid(why, "%s is longer than %zu bytes", key, size - 1);
	if (!text_is_sane(value, length))
		return invalid(why, "%s holds control characters", key);
	memcpy(out, value, length);
	out[length] = 0;
	return 0;
}

static int store_field(struct state_record *r, enum field f, const char *value, size_t length, char *why)
{
	const struct field_spec *spec = &fields[f];
	uint64_t number = 0;

	if (spec->form != FORM_TEXT &&
	    !parse_decimal(value, length, spec->form == FORM_U32 ? UINT32_MAX : UINT64_MAX, &number))
		return invalid(why, "%s=%.*s is not a %s-bit decimal number", spec->key, (int)(length > 24 ? 24 : length),
			       text_is_sane(value, length) ? value : "?", spec->form == FORM_U32 ? "32" : "64");
	switch (f) {
	case FIELD_UNIT: r->unit = (uint32_t)number; break;
	case FIELD_LOOP: r->loop_number = (uint32_t)number; break;
	case FIELD_DEVICE: return copy_text(r->device, sizeof(r->device), spec->key, value, length, why);
	case FIELD_TAG: return copy_text(r->tag, sizeof(r->tag), spec->key, value, length, why);
	case FIELD_FLAGS: r->flags = (uint32_t)number; break;
	case FIELD_SIZE: r->size = number; break;
	case FIELD_OFFSET: r->image_offset = number; break;
	case FIELD_SECTOR_SIZE: r->sector_size = (uint32_t)number; break;
	case FIELD_SECTORS_PER_TRACK: r->sectors_per_track = (uint32_t)number; break;
	case FIELD_TRACKS_PER_CYLINDER: r->tracks_per_cylinder = (uint32_t)number; break;
	case FIELD_CYLINDERS: r->cylinders = number; break;
	case FIELD_TRANSPORT: r->transport = (uint32_t)number; break;
	case FIELD_WRITTEN_BASELINE: r->written_baseline = number; break;
	case FIELD_BACKING_DEVICE: r->backing_device = number; break;
	case FIELD_BACKING_INODE: r->backing_inode = number; break;
	case FIELD_IMAGE: return copy_text(r->image, sizeof(r->image), spec->key, value, length, why);
	case FIELD_OWNER_UID: r->owner_uid = (uint32_t)number; break;
	case FIELD_OWNER_GID: r->owner_gid = (uint32_t)number; break;
	case FIELD_COUNT: break;
	}
	return 0;
}

static int check_flags(uint32_t flags, char *why)
{
	uint32_t device_type = IMDISK_DEVICE_TYPE(flags), type = IMDISK_TYPE(flags);

	if (flags & ~KNOWN_FLAGS)
		return invalid(why, "flags=%" PRIu32 " has unknown bits 0x%" PRIx32, flags, flags & ~KNOWN_FLAGS);
	if (device_type > IMDISK_DEVICE_TYPE_RAW)
		return invalid(why, "flags=%" PRIu32 " has an unknown device type 0x%" PRIx32, flags, device_type);
	if (type != IMDISK_TYPE_FILE && type != IMDISK_TYPE_VM && type != IMDISK_TYPE_PROXY)
		return invalid(why, "flags=%" PRIu32 " has an unknown disk kind 0x%" PRIx32, flags, type);
	/* The file and proxy subtypes share one nibble, both 0 to 3. */
	if (IMDISK_PROXY_TYPE(flags) > IMDISK_PROXY_TYPE_SHM)
		return invalid(why, "flags=%" PRIu32 " has an unknown %s kind 0x%" PRIx32, flags,
			       type == IMDISK_TYPE_PROXY ? "proxy" : "file", IMDISK_PROXY_TYPE(flags));
	return 0;
}

/* The fields against each other, once all are known. */
static int check_record(const struct state_record *r, char *why)
{
	char device[IMDISK_DEVICE_NAME_MAX];
	uint64_t cylinder_bytes, end, most_cylinders;
	int e;

	if (r->unit >= STATE_MAX_UNITS)
		return invalid(why, "unit=%" PRIu32 " is out of range (0 to %d)", r->unit, STATE_MAX_UNITS - 1);
	if (r->loop_number > STATE_MAX_LOOP)
		return invalid(why, "loop=%" PRIu32 " is out of range (0 to %u)", r->loop_number, STATE_MAX_LOOP);
	snprintf(device, sizeof(device), "/dev/loop%" PRIu32, r->loop_number);
	if (strcmp(device, r->device) != 0)
		return invalid(why, "device=%s is not loop %" PRIu32 "'s device %s", r->device, r->loop_number, device);
	/* The tag the daemon gives: "imdisk:" and 16 hex digits; others are not ours. */
	if (strncmp(r->tag, "imdisk:", 7) != 0 || strlen(r->tag) != 7 + 16 ||
	    strspn(r->tag + 7, "0123456789abcdef") != 16)
		return invalid(why, "tag=%s is not an imdisk ownership tag", r->tag);
	e = check_flags(r->flags, why);
	if (e < 0)
		return e;
	if (r->sector_size < 512 || r->sector_size > 4096 || (r->sector_size & (r->sector_size - 1)))
		return invalid(why, "sector_size=%" PRIu32 " is not a power of two from 512 to 4096", r->sector_size);
	if (r->size < r->sector_size || r->size > BYTES_MAX)
		return invalid(why, "size=%" PRIu64 " is out of range (%" PRIu32 " to %" PRIu64 ")", r->size,
			       r->sector_size, BYTES_MAX);
	if (r->size % 512)
		return invalid(why, "size=%" PRIu64 " is not a multiple of 512", r->size);
	if (r->image_offset > BYTES_MAX || __builtin_add_overflow(r->image_offset, r->size, &end) || end > BYTES_MAX)
		return invalid(why, "offset=%" PRIu64 " with size=%" PRIu64 " ends past 2^63 bytes", r->image_offset,
			       r->size);
	if (r->sectors_per_track < 1 || r->sectors_per_track > CHS_FIELD_MAX)
		return invalid(why, "sectors_per_track=%" PRIu32 " is out of range (1 to %d)", r->sectors_per_track,
			       CHS_FIELD_MAX);
	if (r->tracks_per_cylinder < 1 || r->tracks_per_cylinder > CHS_FIELD_MAX)
		return invalid(why, "tracks_per_cylinder=%" PRIu32 " is out of range (1 to %d)", r->tracks_per_cylinder,
			       CHS_FIELD_MAX);
	/* At most 4096 * 255 * 255: no overflow.  A geometry never holds more than the disk. */
	cylinder_bytes = (uint64_t)r->sector_size * r->sectors_per_track * r->tracks_per_cylinder;
	most_cylinders = r->size / cylinder_bytes ? r->size / cylinder_bytes : 1;
	if (r->cylinders < 1 || r->cylinders > most_cylinders)
		return invalid(why, "cylinders=%" PRIu64 " does not fit size=%" PRIu64 " (1 to %" PRIu64 ")", r->cylinders,
			       r->size, most_cylinders);
	if (r->transport != IMDISK_TRANSPORT_LOOP && r->transport != IMDISK_TRANSPORT_FUSE)
		return invalid(why, "transport=%" PRIu32 " is not a known transport", r->transport);
	if (r->owner_uid == UINT32_MAX)
		return invalid(why, "owner_uid=%" PRIu32 " is no user", r->owner_uid);
	if (r->owner_gid == UINT32_MAX)
		return invalid(why, "owner_gid=%" PRIu32 " is no group", r->owner_gid);
	return 0;
}

int state_parse_record(const char *text, size_t length, struct state_record *record, char *why)
{
	bool seen[FIELD_COUNT] = {false};
	size_t pos = 0;
	unsigned line = 0;
	int e;

	memset(record, 0, sizeof(*record));
	if (length > STATE_TEXT_MAX)
		return invalid(why, "the file is larger than %d bytes", STATE_TEXT_MAX);
	if (memchr(text, 0, length))
		return invalid(why, "the file holds a NUL byte");
	while (pos < length) {
		const char *start = text + pos, *end = memchr(start, '\n', length - pos), *equals;
		size_t line_length = end ? (size_t)(end - start) : length - pos;
		size_t key_length;
		int f;

		pos += line_length + (end ? 1 : 0);
		line++;
		if (line_length == 0)
			continue;
		equals = memchr(start, '=', line_length);
		if (!equals)
			return invalid(why, "line %u is not key=value", line);
		key_length = (size_t)(equals - start);
		for (f = 0; f < FIELD_COUNT; f++) {
			if (strlen(fields[f].key) == key_length && memcmp(fields[f].key, start, key_length) == 0)
				break;
		}
		if (f == FIELD_COUNT)
			continue; /* a field of a newer daemon: it does not change what we check */
		if (seen[f])
			return invalid(why, "%s is given twice", fields[f].key);
		seen[f] = true;
		e = store_field(record, (enum field)f, equals + 1, line_length - key_length - 1, why);
		if (e < 0)
			return e;
	}
	for (int f = 0; f < FIELD_COUNT; f++) {
		if (fields[f].required && !seen[f])
			return invalid(why, "%s is missing", fields[f].key);
	}
	return check_record(record, why);
}

size_t state_parse_all(const struct state_text *texts, size_t count, struct state_record *records,
		       state_report_fn *report, void *context)
{
	char why[STATE_WHY_MAX];
	size_t filled = 0;

	for (size_t i = 0; i < count; i++) {
		struct state_record *r = &records[filled];
		const char *what = NULL;
		uint64_t named;

		if (state_parse_record(texts[i].text, texts[i].length, r, why) < 0) {
			report(context, texts[i].name, why);
			continue;
		}
		/* unit-N describes unit N: else forgetting N would leave it behind. */
		if (!strncmp(texts[i].name, "unit-", 5) &&
		    parse_decimal(texts[i].name + 5, strlen(texts[i].name + 5), UINT32_MAX, &named) &&
		    named != r->unit) {
			snprintf(why, sizeof(why), "unit=%" PRIu32 " is not the unit its name says", r->unit);
			report(context, texts[i].name, why);
			continue;
		}
		/* Two disks on one loop device would detach each other. */
		for (size_t j = 0; j < filled && !what; j++) {
			if (records[j].unit == r->unit)
				what = "unit";
			else if (records[j].loop_number == r->loop_number)
				what = "loop";
		}
		if (what) {
			snprintf(why, sizeof(why), "%s=%" PRIu32 " is described by an earlier state file", what,
				 !strcmp(what, "unit") ? r->unit : r->loop_number);
			report(context, texts[i].name, why);
			continue;
		}
		filled++;
	}
	return filled;
}

int state_format_record(const struct state_record *r, char *buf, size_t size)
{
	int n = snprintf(buf, size,
			 "unit=%" PRIu32 "\nloop=%" PRIu32 "\ndevice=%s\ntag=%s\nflags=%" PRIu32 "\nsize=%" PRIu64
			 "\noffset=%" PRIu64 "\nsector_size=%" PRIu32 "\nsectors_per_track=%" PRIu32
			 "\ntracks_per_cylinder=%" PRIu32 "\ncylinders=%" PRIu64 "\ntransport=%" PRIu32
			 "\nwritten_baseline=%" PRIu64 "\nbacking_device=%" PRIu64 "\nbacking_inode=%" PRIu64
			 "\nowner_uid=%" PRIu32 "\nowner_gid=%" PRIu32 "\nimage=%s\n",
			 r->unit, r->loop_number, r->device, r->tag, r->flags, r->size, r->image_offset, r->sector_size,
			 r->sectors_per_track, r->tracks_per_cylinder, r->cylinders, r->transport, r->written_baseline,
			 r->backing_device, r->backing_inode, r->owner_uid, r->owner_gid, r->image);

	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	return n;
}
