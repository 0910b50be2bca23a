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
 * k m g t = powers of 1000; K M G T = powers of 1024; util-linux's explicit KiB MiB
 * GiB TiB (powers of 1024) and KB MB GB TB (powers of 1000); "N%" = percent of free memory;
 * a leading '-' = free memory minus the rest ("-1G"; not with %).  Decimal digits
 * only, no spaces, no fractions, at most one suffix.  "0" parses (callers treat
 * it as "no size given"); "-0" does not.  Returns 0, or -EINVAL for a bad form
 * (empty, junk, 0%, >100%), -ERANGE when the bytes exceed INT64_MAX (what off_t
 * can address). */
int size_parse(const char *text, struct size_request *out);

/* Resolve a request against `free_bytes` of free physical memory.  A byte count
 * is returned as given; a size derived from free memory (N%, "-N") is rounded
 * down to a multiple of SIZE_MEMORY_GRAIN, so that it suits every sector size a
 * disk may have.  Returns 0, -EINVAL for a zero byte count, or -ENOMEM when a
 * percentage or a negative size leaves nothing. */
#define SIZE_MEMORY_GRAIN 4096u
int size_resolve(const struct size_request *req, uint64_t free_bytes, uint64_t *bytes);

/* Free physical memory as ImDisk means it: MemAvailable from /proc/meminfo
 * (MemFree on kernels older than 3.14, which lack MemAvailable). */
int size_free_memory(uint64_t *bytes);

/* Parse a byte offset (-b): the same suffixes as sizes, no % and no sign.  "auto"
 * is the caller's business.  Returns 0, -EINVAL or -ERANGE as size_parse(). */
int size_parse_offset(const char *text, uint64_t *bytes);

/* Format bytes for people, in exact binary units: below 1 KiB "N bytes"
 * ("1 byte"); an exact multiple of a unit as an integer ("512 MiB", "4 KiB");
 * otherwise two decimals, truncated so a size is never overstated ("1.50 GiB").
 * Units go up to EiB.  Always NUL-terminates when buf_size > 0. */
void size_format(uint64_t bytes, char *buf, unsigned buf_size);

#endif
