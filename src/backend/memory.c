/* The RAM disk: a memfd mapped shared.
 *
 * Writes are a memcpy into the mapping.  Reads of pages that were written come
 * out of the mapping too (or are handed out in place by view); reads of pages
 * never written, or trimmed since, go through pread() on the memfd instead: a
 * read fault on a shared shmem mapping allocates a page even for a hole, so
 * reading a hole through the mapping would fill the disk with zero pages, while
 * pread() of a hole copies the shared zero page and allocates nothing.  A bitmap
 * of written pages tells the two apart; it may claim too little (a racing trim
 * and write), which costs a pread, never wrong data: the mapping and pread show
 * the same bytes.  Trim and zero punch holes, which gives the pages back (Shmem
 * in /proc/meminfo drops) and reads back as zeroes.
 *
 * The mapping moves only on resize; the rwlock keeps readers, writers and views
 * off it meanwhile.
 */
#include "backend/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

#include "common/fdio.h"

/* Granularity of the all-zero test when preloading: one page. */
#define PRELOAD_BLOCK 4096u
#define PRELOAD_CHUNK (1u << 20)

struct memory_disk {
	struct vdisk disk;
	int fd;
	uint8_t *map;
	size_t map_len;
	bool locked;
	pthread_rwlock_t map_lock; /* read: uses map or written; write: moves them */
	size_t page_size;
	_Atomic unsigned long *written; /* a bit per page: allocated by a write */
	size_t written_words;
};

#define WORD_BITS (8 * sizeof(unsigned long))

static const struct vdisk_ops memory_ops;

static struct memory_disk *to_memory(struct vdisk *disk)
{
	return (struct memory_disk *)disk;
}

static size_t written_words_for(uint64_t size, size_t page_size)
{
	uint64_t pages = (size + page_size - 1) / page_size;

	return (size_t)((pages + WORD_BITS - 1) / WORD_BITS);
}

static bool page_written(struct memory_disk *mem, uint64_t page)
{
	return atomic_load_explicit(&mem->written[page / WORD_BITS], memory_order_relaxed) &
	       (1ul << (page % WORD_BITS));
}

/* Pages from `first` on with the same written state as `first`, up to `last`. */
static uint64_t written_run(struct memory_disk *mem, uint64_t first, uint64_t last, bool *written)
{
	uint64_t page = first;

	*written = page_written(mem, first);
	while (page < last && page_written(mem, page + 1) == *written)
		page++;
	return page - first + 1;
}

/* Marks the pages that [offset, offset + len) touches (whole_only: only the pages
 * it covers entirely) as written or not. */
static void written_mark(struct memory_disk *mem, uint64_t offset, uint64_t len, bool written, bool whole_only)
{
	uint64_t first = offset / mem->page_size, end = (offset + len + mem->page_size - 1) / mem->page_size;

	if (whole_only) {
		first = (offset + mem->page_size - 1) / mem->page_size;
		end = (offset + len) / mem->page_size;
	}
	for (uint64_t page = first; page < end; page++) {
		unsigned long bit = 1ul << (page % WORD_BITS);
		if (written)
			atomic_fetch_or_explicit(&mem->written[page / WORD_BITS], bit, memory_order_relaxed);
		else
			atomic_fetch_and_explicit(&mem->written[page / WORD_BITS], ~bit, memory_order_relaxed);
	}
}

static bool range_written(struct memory_disk *mem, size_t len, uint64_t offset)
{
	bool written;
	uint64_t first = offset / mem->page_size, last = (offset + len - 1) / mem->page_size;

	return written_run(mem, first, last, &written) == last - first + 1 && written;
}

static int memory_read(struct vdisk *disk, void *buf, size_t len, uint64_t offset)
{
	struct memory_disk *mem = to_memory(disk);
	uint8_t *out = buf;
	int r = 0;

	pthread_rwlock_rdlock(&mem->map_lock);
	/* Past the end only after a concurrent shrink: zeroes, as pread gives. */
	while (len && r == 0) {
		uint64_t page = offset / mem->page_size;
		uint64_t last = (offset + len - 1) / mem->page_size;
		size_t run;
		bool written = false;

		if (offset < mem->map_len) {
			uint64_t run_end = (page + written_run(mem, page, last, &written)) * mem->page_size;
			run = run_end - offset < len ? (size_t)(run_end - offset) : len;
		} else {
			run = len;
		}
		if (written && offset + run <= mem->map_len)
			memcpy(out, mem->map + offset, run);
		else
			r = pread_zero_filled(mem->fd, out, run, (off_t)offset);
		out += run;
		offset += run;
		len -= run;
	}
	pthread_rwlock_unlock(&mem->map_lock);
	return r;
}

static const void *memory_view(struct vdisk *disk, size_t len, uint64_t offset)
{
	struct memory_disk *mem = to_memory(disk);

	pthread_rwlock_rdlock(&mem->map_lock);
	if (offset <= mem->map_len && len <= mem->map_len - offset && range_written(mem, len, offset))
		return mem->map + offset;
	pthread_rwlock_unlock(&mem->map_lock);
	return NULL;
}

static void memory_view_end(struct vdisk *disk)
{
	pthread_rwlock_unlock(&to_memory(disk)->map_lock);
}

static int memory_write(struct vdisk *disk, const void *buf, size_t len, uint64_t offset)
{
	struct memory_disk *mem = to_memory(disk);
	int r = 0;

	pthread_rwlock_rdlock(&mem->map_lock);
	/* vdisk_write checked the range against a size a resize may have changed since. */
	if (offset > mem->map_len || len > mem->map_len - offset) {
		r = -EINVAL;
	} else {
		memcpy(mem->map + offset, buf, len);
		written_mark(mem, offset, len, true, false);
	}
	pthread_rwlock_unlock(&mem->map_lock);
	return r;
}

static int memory_punch(struct memory_disk *mem, uint64_t offset, uint64_t len)
{
	int r = 0;

	pthread_rwlock_rdlock(&mem->map_lock);
	/* Partial pages at the ends stay allocated (shmem zeroes them in place). */
	written_mark(mem, offset, offset < mem->map_len && len <= mem->map_len - offset ? len : 0, false, true);
	if (fallocate(mem->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)len) < 0)
		r = -errno;
	pthread_rwlock_unlock(&mem->map_lock);
	return r;
}

static int memory_trim(struct vdisk *disk, uint64_t offset, uint64_t len)
{
	return memory_punch(to_memory(disk), offset, len);
}

/* shmem zeroes the partial pages at both ends of a punched range, so a hole is
 * an exact zero of any byte range. */
static int memory_zero(struct vdisk *disk, uint64_t offset, uint64_t len)
{
	return memory_punch(to_memory(disk), offset, len);
}

static int memory_resize(struct vdisk *disk, uint64_t new_size)
{
	struct memory_disk *mem = to_memory(disk);
	size_t old_len;
	void *map;
	int r = 0;

	if (new_size == 0 || new_size > SIZE_MAX || new_size > INT64_MAX)
		return -EINVAL;
	pthread_rwlock_wrlock(&mem->map_lock);
	old_len = mem->map_len;
	/* Grow the file before the mapping and shrink it after, so the mapping
	 * never covers bytes the file does not have (that would be SIGBUS). */
	if (new_size > old_len && ftruncate(mem->fd, (off_t)new_size) < 0) {
		r = -errno;
		goto out;
	}
	/* A locked mapping stays locked: mremap populates and locks the new part
	 * (and fails with EAGAIN over RLIMIT_MEMLOCK). */
	map = mremap(mem->map, old_len, (size_t)new_size, MREMAP_MAYMOVE);
	if (map == MAP_FAILED) {
		r = errno == EAGAIN ? -ENOMEM : -errno;
		if (new_size > old_len && ftruncate(mem->fd, (off_t)old_len) < 0)
			r = -errno;
		goto out;
	}
	mem->map = map;
	mem->map_len = (size_t)new_size;
	if (written_words_for(new_size, mem->page_size) > mem->written_words) {
		size_t words = written_words_for(new_size, mem->page_size);
		_Atomic unsigned long *written = realloc((void *)mem->written, words * sizeof(*written));
		if (written) {
			memset((void *)(written + mem->written_words), 0,
			       (words - mem->written_words) * sizeof(*written));
			mem->written = written;
			mem->written_words = words;
		} else {
			r = -ENOMEM;
		}
	}
	if (new_size < old_len) {
		written_mark(mem, new_size, old_len - new_size, false, true);
		if (ftruncate(mem->fd, (off_t)new_size) < 0)
			r = -errno; /* the tail stays allocated but unreachable: harmless */
	}
	disk->size = new_size;
out:
	pthread_rwlock_unlock(&mem->map_lock);
	return r;
}

static void memory_close(struct vdisk *disk)
{
	struct memory_disk *mem = to_memory(disk);

	munmap(mem->map, mem->map_len);
	close(mem->fd);
	pthread_rwlock_destroy(&mem->map_lock);
	free((void *)mem->written);
	free(mem);
}

static const struct vdisk_ops memory_ops = {
	.name = "memory",
	.read = memory_read,
	.view = memory_view,
	.view_end = memory_view_end,
	.write = memory_write,
	.trim = memory_trim,
	.zero = memory_zero,
	.resize = memory_resize,
	.close = memory_close,
};

int backend_memory_open(uint64_t size, struct vdisk **out)
{
	struct memory_disk *mem;
	int r;

	if (size == 0 || size > SIZE_MAX || size > INT64_MAX)
		return -EINVAL;
	mem = calloc(1, sizeof(*mem));
	if (!mem)
		return -ENOMEM;
	mem->fd = memfd_create("imdisk-memory", MFD_CLOEXEC);
	if (mem->fd < 0) {
		r = -errno;
		goto fail_free;
	}
	if (ftruncate(mem->fd, (off_t)size) < 0) {
		r = -errno;
		goto fail_close;
	}
	mem->map = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, mem->fd, 0);
	if (mem->map == MAP_FAILED) {
		r = -errno;
		goto fail_close;
	}
	mem->map_len = (size_t)size;
	mem->page_size = (size_t)sysconf(_SC_PAGESIZE);
	mem->written_words = written_words_for(size, mem->page_size);
	mem->written = calloc(mem->written_words, sizeof(*mem->written));
	if (!mem->written) {
		r = -ENOMEM;
		goto fail_unmap;
	}
	r = -pthread_rwlock_init(&mem->map_lock, NULL);
	if (r < 0)
		goto fail_unmap;
	mem->disk.ops = &memory_ops;
	mem->disk.size = size;
	mem->disk.flags = VDISK_CAN_TRIM | VDISK_CAN_ZERO | VDISK_TRIM_ZEROES;
	*out = &mem->disk;
	return 0;

fail_unmap:
	free((void *)mem->written);
	munmap(mem->map, (size_t)size);
fail_close:
	close(mem->fd);
fail_free:
	free(mem);
	return r;
}

int backend_memory_fd(struct vdisk *disk)
{
	if (!disk || disk->ops != &memory_ops)
		return -EINVAL;
	return to_memory(disk)->fd;
}

int backend_memory_lock(struct vdisk *disk)
{
	struct memory_disk *mem;
	int r = 0;

	if (!disk || disk->ops != &memory_ops)
		return -EINVAL;
	mem = to_memory(disk);
	pthread_rwlock_rdlock(&mem->map_lock);
	if (!mem->locked) {
		if (mlock(mem->map, mem->map_len) == 0)
			mem->locked = true;
		else if (errno == EPERM)
			r = -EPERM;
		else
			r = -ENOMEM; /* ENOMEM over the limit, EAGAIN out of memory */
	}
	pthread_rwlock_unlock(&mem->map_lock);
	return r;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	return len == 0 || (p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}

/* Copies image bytes [from, to) to disk offset from - base, skipping all-zero
 * pages (the destination is already a hole).  *eof is set at the image's end. */
static int preload_range(struct memory_disk *mem, int image_fd, uint8_t *buf, uint64_t base,
			 uint64_t from, uint64_t to, bool *eof)
{
	while (from < to) {
		size_t want = to - from < PRELOAD_CHUNK ? (size_t)(to - from) : PRELOAD_CHUNK;
		ssize_t got = pread_up_to(image_fd, buf, want, (off_t)from);
		size_t pos = 0;

		if (got < 0)
			return (int)got;
		while (pos < (size_t)got) {
			/* Blocks end on the disk's page boundaries, so a skipped block
			 * is a whole page left unallocated. */
			uint64_t dst = from + pos - base;
			size_t block = PRELOAD_BLOCK - (size_t)(dst % PRELOAD_BLOCK);
			size_t run = 0;

			if (block > (size_t)got - pos)
				block = (size_t)got - pos;
			if (all_zero(buf + pos, block)) {
				pos += block;
				continue;
			}
			/* Gather the following non-zero blocks into one write. */
			while (pos + run < (size_t)got) {
				size_t b = PRELOAD_BLOCK - (size_t)((dst + run) % PRELOAD_BLOCK);
				if (b > (size_t)got - pos - run)
					b = (size_t)got - pos - run;
				if (all_zero(buf + pos + run, b))
					break;
				run += b;
			}
			int r = pwrite_full(mem->fd, buf + pos, run, (off_t)dst);
			if (r < 0)
				return r;
			written_mark(mem, dst, run, true, false);
			pos += run;
		}
		if ((size_t)got < want) {
			*eof = true;
			return 0;
		}
		from += (uint64_t)got;
	}
	return 0;
}

int backend_memory_preload(struct vdisk *disk, int image_fd, uint64_t image_offset, uint64_t len)
{
	struct memory_disk *mem;
	uint64_t pos, end;
	bool seek_holes = true, eof = false;
	uint8_t *buf;
	int r;

	if (!disk || disk->ops != &memory_ops)
		return -EINVAL;
	mem = to_memory(disk);
	if (len > disk->size || image_offset > INT64_MAX || len > INT64_MAX - image_offset)
		return -EINVAL;
	if (len == 0)
		return 0;
	/* Start from holes so that whatever is skipped below reads as zeroes,
	 * even on a disk that was written before. */
	r = memory_punch(mem, 0, len);
	if (r < 0)
		return r;
	buf = malloc(PRELOAD_CHUNK);
	if (!buf)
		return -ENOMEM;
	pos = image_offset;
	end = image_offset + len;
	while (pos < end && !eof) {
		uint64_t data = pos, hole = end;

		if (seek_holes) {
			off_t d = lseek(image_fd, (off_t)pos, SEEK_DATA);
			if (d < 0 && errno == ENXIO)
				break; /* nothing but a hole (or the end) from here */
			if (d < 0) {
				/* No hole support (a device, an odd file system):
				 * copy everything, still skipping zero pages. */
				seek_holes = false;
			} else {
				off_t h = lseek(image_fd, d, SEEK_HOLE);
				data = (uint64_t)d;
				if (h >= 0 && (uint64_t)h < end)
					hole = (uint64_t)h;
			}
		}
		if (data >= end)
			break;
		r = preload_range(mem, image_fd, buf, image_offset, data, hole, &eof);
		if (r < 0)
			break;
		pos = hole;
	}
	free(buf);
	return r;
}
