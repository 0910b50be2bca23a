/* The state files of imdiskd, as text: parsed and validated field by field, with no
 * I/O and no globals, so that the same code runs in the daemon, the unit test and
 * the fuzzer.  A state file is one unit's key=value lines (state.c writes them);
 * anyone who could write into the state folder could forge one, so nothing in it
 * is trusted until it has passed here. */
#ifndef IMDISK_DAEMON_STATE_PARSE_H
#define IMDISK_DAEMON_STATE_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "imdisk.h"

#define STATE_MAX_UNITS 1024           /* the disk table's units (DISK_TABLE_MAX_UNITS) */
#define STATE_MAX_LOOP 1048575u        /* the kernel's loop minors (MINORMASK) */
#define STATE_TAG_SIZE 64              /* the loop ownership tag (LOOP_TAG_SIZE) */
#define STATE_TEXT_MAX (16 * 1024)     /* a state file is a few hundred bytes */
#define STATE_WHY_MAX 256

/* One validated state file. */
struct state_record {
	uint32_t unit;
	uint32_t loop_number;
	char device[IMDISK_DEVICE_NAME_MAX]; /* "/dev/loopN" of loop_number */
	char tag[STATE_TAG_SIZE];
	uint32_t flags;
	uint64_t size;
	uint64_t image_offset;
	uint32_t sector_size;
	uint32_t sectors_per_track;
	uint32_t tracks_per_cylinder;
	uint64_t cylinders;
	uint32_t transport;
	uint64_t written_baseline;
	uint64_t backing_device;
	uint64_t backing_inode;
	char image[IMDISK_PATH_MAX];
	uint32_t owner_uid; /* 0 (root) when the file does not say */
	uint32_t owner_gid;
};

/* Parse one state file's text (length bytes, not NUL-terminated).  Returns 0 and
 * fills *record, or -EBADMSG and puts into why[STATE_WHY_MAX] what is wrong, naming
 * the field ("sector_size=0 is not a power of two from 512 to 4096"). */
int state_parse_record(const char *text, size_t length, struct state_record *record, char *why);

/* The text of a state file for record (what state_parse_record reads back), in
 * buf[size]; returns its length, or -ENOSPC when it does not fit. */
int state_format_record(const struct state_record *record, char *buf, size_t size);

/* One state file's text, and a name for it in reports (its file name). */
struct state_text {
	const char *name;
	const char *text;
	size_t length;
};

/* Called once for each text that is skipped, with the reason. */
typedef void state_report_fn(void *context, const char *name, const char *why);

/* Parse count texts into records[] (room for count): a text that does not parse,
 * or describes a unit an earlier text already did, is reported and skipped.
 * Returns how many records were filled. */
size_t state_parse_all(const struct state_text *texts, size_t count, struct state_record *records,
		       state_report_fn *report, void *context);

#endif
