/* Byte swap (ImDisk's -o bswap): the bytes at even offset 2k and 2k+1 of the
 * lower disk trade places.  Pairs are fixed by the absolute offset, so a request
 * that starts or ends on an odd offset still sees the same bytes as an aligned
 * one: each of its odd edge bytes maps to exactly one lower byte.  On a disk of
 * odd size the last byte has no partner and stays where it is. */
#include "layer/layer.h"
#include "layer/layer_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Writes are swapped into a bounce buffer (never into the caller's) of at most
 * this many bytes, one chunk after another. */
#define BOUNCE_MAX (1u << 20)
/* When even a bounce buffer cannot be had, go on in small steps on the stack. */
#define BOUNCE_STACK 4096u

static void swap_copy(uint8_t *dst, const uint8_t *src, size_t len)
{
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t v;
		memcpy(&v, src + i, 8);
		v = ((v & 0x00ff00ff00ff00ffull) << 8) | ((v >> 8) & 0x00ff00ff00ff00ffull);
		memcpy(dst + i, &v, 8);
	}
	for (; i + 2 <= len; i += 2) {
		uint8_t t = src[i];
		dst[i] = src[i + 1];
		dst[i + 1] = t;
	}
}

/* Where the view's byte at offset lives on the lower disk. */
static uint64_t partner(const struct vdisk *disk, uint64_t offset)
{
	uint64_t other = offset ^ 1;

	return other < disk->size ? other : offset;
}

/* How a request splits where the byte pairs do: an odd first byte (head, 0 or 1),
 * the whole pairs (middle), and a last byte without its partner (tail, 0 or 1). */
struct pair_split {
	size_t head, middle, tail;
};

static struct pair_split split_at_pairs(uint64_t offset, size_t len)
{
	struct pair_split split = {.head = (offset & 1) && len > 0};

	split.middle = (len - split.head) & ~(size_t)1;
	split.tail = len - split.head - split.middle;
	return split;
}

static int byteswap_read(struct vdisk *disk, void *buf, size_t len, uint64_t offset)
{
	struct pair_split split = split_at_pairs(offset, len);
	uint8_t *middle = (uint8_t *)buf + split.head;
	int r = 0;

	if (split.head)
		r = vdisk_read(disk->lower, buf, 1, partner(disk, offset));
	if (r == 0 && split.middle) {
		r = vdisk_read(disk->lower, middle, split.middle, offset + split.head);
		if (r == 0)
			swap_copy(middle, middle, split.middle);
	}
	if (r == 0 && split.tail)
		r = vdisk_read(disk->lower, middle + split.middle, 1, partner(disk, offset + len - 1));
	return r;
}

static int write_swapped(struct vdisk *disk, const uint8_t *src, size_t len, uint64_t offset)
{
	uint8_t stack_bounce[BOUNCE_STACK];
	size_t cap = len < BOUNCE_MAX ? len : BOUNCE_MAX;
	uint8_t *bounce = malloc(cap);
	int r = 0;

	if (!bounce) {
		bounce = stack_bounce;
		cap = sizeof(stack_bounce);
	}
	while (len) {
		size_t chunk = len < cap ? len : cap;
		swap_copy(bounce, src, chunk);
		r = vdisk_write(disk->lower, bounce, chunk, offset);
		if (r < 0)
			break;
		src += chunk;
		offset += chunk;
		len -= chunk;
	}
	if (bounce != stack_bounce)
		free(bounce);
	return r;
}

static int byteswap_write(struct vdisk *disk, const void *buf, size_t len, uint64_t offset)
{
	struct pair_split split = split_at_pairs(offset, len);
	const uint8_t *middle = (const uint8_t *)buf + split.head;
	int r = 0;

	if (split.head)
		r = vdisk_write(disk->lower, buf, 1, partner(disk, offset));
	if (r == 0 && split.middle)
		r = write_swapped(disk, middle, split.middle, offset + split.head);
	if (r == 0 && split.tail)
		r = vdisk_write(disk->lower, middle + split.middle, 1, partner(disk, offset + len - 1));
	return r;
}

/* Trim is advice: only the whole pairs inside the range are passed on. */
static int byteswap_trim(struct vdisk *disk, uint64_t offset, uint64_t len)
{
	uint64_t start = (offset + 1) & ~(uint64_t)1;
	uint64_t end = (offset + len) & ~(uint64_t)1;

	if (end <= start)
		return 0;
	return vdisk_try_trim(disk->lower, start, end - start);
}

static int byteswap_zero(struct vdisk *disk, uint64_t offset, uint64_t len)
{
	static const uint8_t zero_byte;
	uint64_t end = offset + len;
	uint64_t start = (offset + 1) & ~(uint64_t)1;
	uint64_t middle_end = end & ~(uint64_t)1;
	int r;

	if (middle_end < start)
		middle_end = start; /* one odd byte: the edges below cover it */
	if (offset & 1) {
		r = vdisk_write(disk->lower, &zero_byte, 1, partner(disk, offset));
		if (r < 0)
			return r;
	}
	if (middle_end > start) {
		r = vdisk_zero(disk->lower, start, middle_end - start);
		if (r < 0)
			return r;
	}
	if (end & 1 && end - 1 >= start)
		return vdisk_write(disk->lower, &zero_byte, 1, partner(disk, end - 1));
	return 0;
}

/* The bytes are never the lower disk's as they are: no view, reads are
 * swapped in place and writes through a swapped copy (neither asynchronous:
 * an odd edge is a read-modify of its partner byte).  Flush and resize pass
 * through. */
static const struct vdisk_ops byteswap_ops = {
	.name = "byteswap",
	.read = byteswap_read,
	.write = byteswap_write,
	.trim = byteswap_trim,
	.zero = byteswap_zero,
	.view = layer_no_view,
	.read_async = layer_no_read_async,
	.write_async = layer_no_write_async,
};

int layer_byteswap_open(struct vdisk *lower, struct vdisk **out)
{
	struct vdisk *disk;

	if (!lower)
		return -EINVAL;
	disk = layer_new(&byteswap_ops, lower, sizeof(struct layer));
	if (!disk)
		return -ENOMEM;
	/* A trim passes on whole pairs only: its odd edges keep their bytes.  Reads
	 * are swapped in place, so they are never asynchronous. */
	disk->flags &= ~(VDISK_TRIM_ZEROES | VDISK_ASYNC_READ | VDISK_ASYNC_WRITE);
	*out = disk;
	return 0;
}
