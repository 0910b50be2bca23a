/* Sizes and offsets as ImDisk's command line writes them: see size.h. */
#include "common/size.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* The largest byte count accepted: files and loop offsets are off_t. */
#define SIZE_LIMIT ((uint64_t)INT64_MAX)

/* The multiplier a suffix letter stands for, or 0 when it is not a suffix. */
static uint64_t suffix_multiplier(char c)
{
	switch (c) {
	case 'b': case 'B': return 512;
	case 'k': return 1000;
	case 'm': return 1000ull * 1000;
	case 'g': return 1000ull * 1000 * 1000;
	case 't': return 1000ull * 1000 * 1000 * 1000;
	case 'K': return 1ull << 10;
	case 'M': return 1ull << 20;
	case 'G': return 1ull << 30;
	case 'T': return 1ull << 40;
	default: return 0;
	}
}

/* util-linux's explicit suffixes ("KiB" = 1024, "KB" = 1000, up to T), so a size
 * written for losetup or truncate means the same here; 0 when `suffix` is none. */
static uint64_t explicit_multiplier(const char *suffix)
{
	static const char letters[] = "KMGT";
	const char *letter = suffix[0] ? strchr(letters, suffix[0]) : NULL;
	unsigned power;
	uint64_t base, multiplier = 1;

	if (!letter)
		return 0;
	if (strcmp(suffix + 1, "iB") == 0)
		base = 1024;
	else if (strcmp(suffix + 1, "B") == 0)
		base = 1000;
	else
		return 0;
	for (power = 0; power <= (unsigned)(letter - letters); power++)
		multiplier *= base;
	return multiplier;
}

/* Read one or more decimal digits at *text into *value and advance past them.
 * -EINVAL when there is no digit, -ERANGE when the number exceeds SIZE_LIMIT. */
static int parse_digits(const char **text, uint64_t *value)
{
	const char *p = *text;
	uint64_t v = 0;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned digit = (unsigned)(*p - '0');
		if (v > (SIZE_LIMIT - digit) / 10)
			return -ERANGE;
		v = v * 10 + digit;
	}
	*text = p;
	*value = v;
	return 0;
}

/* Digits, an optional suffix letter, then the end of the string. */
static int parse_scaled(const char *p, uint64_t *bytes)
{
	uint64_t value, multiplier = 1;
	int r = parse_digits(&p, &value);

	if (r < 0)
		return r;
	if (*p) {
		multiplier = explicit_multiplier(p);
		if (!multiplier) {
			multiplier = suffix_multiplier(*p);
			if (!multiplier || p[1])
				return -EINVAL;
		}
	}
	if (value > SIZE_LIMIT / multiplier)
		return -ERANGE;
	*bytes = value * multiplier;
	return 0;
}

int size_parse(const char *text, struct size_request *out)
{
	const char *p = text;
	uint64_t value;
	int r;

	if (!p || !*p)
		return -EINVAL;
	if (*p == '-') {
		r = parse_scaled(p + 1, &value);
		if (r < 0)
			return r;
		/* "-0" is not a negative size; refuse it rather than guess. */
		if (value == 0)
			return -EINVAL;
		out->kind = SIZE_FREE_MINUS;
		out->value = value;
		return 0;
	}
	r = parse_digits(&p, &value);
	if (r < 0)
		return r;
	if (p[0] == '%' && p[1] == 0) {
		if (value < 1 || value > 100)
			return -EINVAL;
		out->kind = SIZE_PERCENT_FREE;
		out->value = value;
		return 0;
	}
	r = parse_scaled(text, &value);
	if (r < 0)
		return r;
	out->kind = SIZE_BYTES;
	out->value = value;
	return 0;
}

int size_parse_offset(const char *text, uint64_t *bytes)
{
	if (!text || !*text)
		return -EINVAL;
	return parse_scaled(text, bytes);
}

int size_resolve(const struct size_request *req, uint64_t free_bytes, uint64_t *bytes)
{
	uint64_t result;

	switch (req->kind) {
	case SIZE_BYTES:
		if (req->value == 0)
			return -EINVAL;
		result = req->value;
		break;
	case SIZE_PERCENT_FREE:
		if (req->value < 1 || req->value > 100)
			return -EINVAL;
		/* Split so that free_bytes * value cannot overflow. */
		result = free_bytes / 100 * req->value + free_bytes % 100 * req->value / 100;
		break;
	case SIZE_FREE_MINUS:
		if (req->value >= free_bytes)
			return -ENOMEM;
		result = free_bytes - req->value;
		break;
	default:
		return -EINVAL;
	}
	if (req->kind != SIZE_BYTES) {
		/* An amount of memory is approximate anyway; the disk it sizes is not. */
		result -= result % SIZE_MEMORY_GRAIN;
		if (result == 0)
			return -ENOMEM;
	}
	*bytes = result;
	return 0;
}

/* The value of a "Name:   N kB" line of /proc/meminfo in bytes, when `line` is one. */
static int meminfo_field(const char *line, const char *name, uint64_t *bytes)
{
	size_t name_len = strlen(name);
	uint64_t kib;

	if (strncmp(line, name, name_len) != 0 || line[name_len] != ':')
		return -ENOENT;
	if (sscanf(line + name_len + 1, "%" SCNu64, &kib) != 1)
		return -EIO;
	if (kib > UINT64_MAX / 1024)
		return -ERANGE;
	*bytes = kib * 1024;
	return 0;
}

int size_free_memory(uint64_t *bytes)
{
	char line[256];
	uint64_t available = 0, free_only = 0;
	int have_available = 0, have_free = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (meminfo_field(line, "MemAvailable", &available) == 0)
			have_available = 1;
		else if (meminfo_field(line, "MemFree", &free_only) == 0)
			have_free = 1;
	}
	fclose(f);
	if (have_available)
		*bytes = available;
	else if (have_free)
		*bytes = free_only;
	else
		return -ENOENT;
	return 0;
}

void size_format(uint64_t bytes, char *buf, unsigned buf_size)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	unsigned unit = 0, shift = 10;
	uint64_t whole, rest, hundredths;

	if (!buf || buf_size == 0)
		return;
	if (bytes < 1024) {
		snprintf(buf, buf_size, "%" PRIu64 " %s", bytes, bytes == 1 ? "byte" : "bytes");
		return;
	}
	while (unit + 1 < sizeof(units) / sizeof(units[0]) && (bytes >> (shift + 10)) != 0) {
		unit++;
		shift += 10;
	}
	whole = bytes >> shift;
	rest = bytes & ((1ull << shift) - 1);
	if (rest == 0) {
		snprintf(buf, buf_size, "%" PRIu64 " %s", whole, units[unit]);
		return;
	}
	/* floor(rest * 100 / 2^shift) without overflowing: drop low bits of rest
	 * first when rest * 100 would not fit (they cannot change two decimals by
	 * more than the truncation already does). */
	if (shift > 56) {
		rest >>= shift - 56;
		hundredths = rest * 100 >> 56;
	} else {
		hundredths = rest * 100 >> shift;
	}
	snprintf(buf, buf_size, "%" PRIu64 ".%02" PRIu64 " %s", whole, hundredths, units[unit]);
}
