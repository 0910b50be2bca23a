/* libFuzzer harness for imdiskd's state files (src/daemon/state_parse.c).  The input
 * is state file text; a 0x1e byte (ASCII record separator) splits it into several
 * files, named unit-0, unit-1, ..., parsed together as the daemon does at a start
 * (which also checks duplicates and names).  Every record that parses must pass
 * its own checks again after a round trip through state_format_record, unchanged,
 * and must be safe to compute with (no division by zero in the geometry). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/state_parse.h"

#define MAX_TEXTS 16

static void ignore_report(void *context, const char *name, const char *why)
{
	(void)context;
	(void)name;
	(void)why;
}

static void check_round_trip(const struct state_record *record)
{
	static char text[STATE_TEXT_MAX];
	static struct state_record again;
	char why[STATE_WHY_MAX];
	int length = state_format_record(record, text, sizeof(text));

	if (length < 0)
		abort(); /* every valid record fits */
	if (state_parse_record(text, (size_t)length, &again, why) != 0)
		abort();
	if (memcmp(record, &again, sizeof(again)) != 0)
		abort();
	/* What the daemon computes from a record: must not trap. */
	if (record->size / record->sector_size / record->sectors_per_track / record->tracks_per_cylinder == UINT64_MAX)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct state_record records[MAX_TEXTS];
	struct state_text texts[MAX_TEXTS];
	char names[MAX_TEXTS][16];
	char why[STATE_WHY_MAX];
	size_t count = 0, start = 0, parsed;
	char *copy;

	/* The whole input as one file, in a buffer of its exact size (no terminator). */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (state_parse_record(copy, size, &records[0], why) == 0)
		check_round_trip(&records[0]);

	for (size_t i = 0; i <= size && count < MAX_TEXTS; i++) {
		if (i < size && data[i] != 0x1e)
			continue;
		snprintf(names[count], sizeof(names[count]), "unit-%zu", count);
		texts[count] = (struct state_text){.name = names[count], .text = copy + start, .length = i - start};
		count++;
		start = i + 1;
	}
	parsed = state_parse_all(texts, count, records, ignore_report, NULL);
	if (parsed > count)
		abort();
	for (size_t i = 0; i < parsed; i++) {
		check_round_trip(&records[i]);
		for (size_t j = 0; j < i; j++)
			if (records[i].unit == records[j].unit || records[i].loop_number == records[j].loop_number)
				abort(); /* duplicates are skipped */
	}
	free(copy);
	return 0;
}
