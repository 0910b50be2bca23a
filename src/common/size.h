/* Sizes and offsets as ImDisk's command line writes them. */
#ifndef IMDISK_COMMON_SIZE_H
#define IMDISK_COMMON_SIZE_H

#include <stdbool.h>
#include <stdint.h>

/* What a size string asked for. */
struct size_request {
	enum {
		SIZE_BYTES,          /* value is a byte count */
		SIZE_PERCENT_FREE,   /* value is a percentage (1..100) of free physical memory */
		SIZE_FREE_MINUS,     /* free physical memory minus value bytes ("-s -1G") */
	} kind;
	uint64_t value;
};

/* Parse ImDisk's -s forms: plain bytes; suffix b/B = 512-byte blocks ("100b");
 * k m g t = powers of 1000; K M G T = powers of 1024; "N%" = percent of free memory;
 * a leading '-' = free memory minus the rest.  Returns 0, or -EINVAL for a bad form
 * (empty, junk after the suffix, 0%, >100%), -ERANGE on overflow. */
int size_parse(const char *text, struct size_request *out);

/* Resolve a request against `free_bytes` of free physical memory; -ENOMEM when a
 * negative size leaves nothing, -EINVAL for a zero result. */
int size_resolve(const struct size_request *req, uint64_t free_bytes, uint64_t *bytes);

/* Free physical memory as ImDisk means it (MemAvailable from /proc/meminfo). */
int size_free_memory(uint64_t *bytes);

/* Parse a byte offset (-b): the same suffixes as sizes, no % and no sign. */
int size_parse_offset(const char *text, uint64_t *bytes);

/* Format bytes for people: "512 MiB", "1.5 GiB", "4096 bytes". */
void size_format(uint64_t bytes, char *buf, unsigned buf_size);

#endif
