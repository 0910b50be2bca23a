/* The FUSE transport's API against a real private mount (root and /dev/fuse
 * needed, else skipped): publish, names, I/O through the file, fallocate and
 * fsync reaching the disk, resize, remove (waiting for a request in flight, and
 * with the file still open), and stop with a file still open. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "transport/fuse.h"


#define DISK_SIZE (4u << 20)

/* A RAM disk that counts what reaches it and can be made slow. */
struct test_disk {
	struct vdisk disk;
	uint8_t *bytes;
	unsigned trims, zeroes, flushes;
	unsigned read_delay_ms;
};

static int test_read(struct vdisk *disk, void *buf, size_t len, uint64_t offset)
{
	struct test_disk *t = (struct test_disk *)disk;

	if (t->read_delay_ms) {
		struct timespec delay = { 0, (long)t->read_delay_ms * 1000000L };
		nanosleep(&delay, NULL);
	}
	memcpy(buf, t->bytes + offset, len);
	return 0;
}

static int test_write(struct vdisk *disk, const void *buf, size_t len, uint64_t offset)
{
	memcpy(((struct test_disk *)disk)->bytes + offset, buf, len);
	return 0;
}

static int test_flush(struct vdisk *disk)
{
	((struct test_disk *)disk)->flushes++;
	return 0;
}

static int test_trim(struct vdisk *disk, uint64_t offset, uint64_t len)
{
	struct test_disk *t = (struct test_disk *)disk;

	t->trims++;
	memset(t->bytes + offset, 0, len);
	return 0;
}

static int test_zero(struct vdisk *disk, uint64_t offset, uint64_t len)
{
	struct test_disk *t = (struct test_disk *)disk;

	t->zeroes++;
	memset(t->bytes + offset, 0, len);
	return 0;
}

static int test_resize(struct vdisk *disk, uint64_t new_size)
{
	struct test_disk *t = (struct test_disk *)disk;
	uint8_t *bytes = realloc(t->bytes, new_size);

	if (!bytes)
		return -ENOMEM;
	if (new_size > disk->size)
		memset(bytes + disk->size, 0, new_size - disk->size);
	t->bytes = bytes;
	disk->size = new_size;
	return 0;
}

static void test_close(struct vdisk *disk)
{
	free(((struct test_disk *)disk)->bytes);
	free(disk);
}

static const struct vdisk_ops test_ops = {
	.name = "test",
	.read = test_read,
	.write = test_write,
	.flush = test_flush,
	.trim = test_trim,
	.zero = test_zero,
	.resize = test_resize,
	.close = test_close,
};

static struct test_disk *test_disk_new(uint64_t size)
{
	struct test_disk *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->bytes = calloc(1, size);
	assert_non_null(t->bytes);
	t->disk.ops = &test_ops;
	t->disk.size = size;
	t->disk.flags = VDISK_CAN_TRIM | VDISK_TRIM_ZEROES | VDISK_CAN_ZERO | VDISK_CAN_FLUSH;
	return t;
}

struct fixture {
	char dir[64];
	struct transport_fuse *fuse;
	struct test_disk *disk;
	char path[256];
	int fd;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->fd = -1;
	*state = f;
	if (geteuid() != 0 || access("/dev/fuse", R_OK | W_OK) != 0)
		return 0; /* the tests skip themselves */
	snprintf(f->dir, sizeof(f->dir), "/tmp/imdisk-fuse-unit.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	if (transport_fuse_start(f->dir, 2, &f->fuse) < 0)
		f->fuse = NULL;
	f->disk = test_disk_new(DISK_SIZE);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	/* Stop first, with the file possibly still open: it must not hang. */
	transport_fuse_stop(f->fuse);
	if (f->fd >= 0)
		close(f->fd);
	if (f->disk)
		vdisk_close(&f->disk->disk);
	if (f->dir[0])
		rmdir(f->dir);
	free(f);
	return 0;
}

static struct fixture *started(void **state)
{
	struct fixture *f = *state;

	if (geteuid() != 0 || access("/dev/fuse", R_OK | W_OK) != 0)
		skip();
	assert_non_null(f->fuse);
	return f;
}

static void test_publish_names(void **state)
{
	struct fixture *f = started(state);
	char path[256], small[8];
	struct stat st;
	DIR *dir;
	struct dirent *entry;
	int seen = 0;

	assert_int_equal(transport_fuse_add(f->fuse, "one", &f->disk->disk, f->path, sizeof(f->path)), 0);
	snprintf(path, sizeof(path), "%s/one", f->dir);
	assert_string_equal(f->path, path);
	assert_int_equal(transport_fuse_add(f->fuse, "one", &f->disk->disk, path, sizeof(path)), -EEXIST);
	assert_int_equal(transport_fuse_add(f->fuse, "a/b", &f->disk->disk, path, sizeof(path)), -EINVAL);
	assert_int_equal(transport_fuse_add(f->fuse, "..", &f->disk->disk, path, sizeof(path)), -EINVAL);
	assert_int_equal(transport_fuse_add(f->fuse, "", &f->disk->disk, path, sizeof(path)), -EINVAL);
	assert_int_equal(transport_fuse_add(f->fuse, "two", &f->disk->disk, small, sizeof(small)), -ENAMETOOLONG);

	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_size, DISK_SIZE);

	dir = opendir(f->dir);
	assert_non_null(dir);
	while ((entry = readdir(dir)))
		if (strcmp(entry->d_name, "one") == 0)
			seen++;
	closedir(dir);
	assert_int_equal(seen, 1);

	assert_int_equal(transport_fuse_remove(f->fuse, "one"), 0);
	assert_int_equal(transport_fuse_remove(f->fuse, "one"), -ENOENT);
	assert_int_equal(stat(f->path, &st), -1);
	assert_int_equal(errno, ENOENT);
	/* The name is free again, and found at once. */
	assert_int_equal(transport_fuse_add(f->fuse, "one", &f->disk->disk, f->path, sizeof(f->path)), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(transport_fuse_remove(f->fuse, "one"), 0);
}

static void test_io_through_file(void **state)
{
	struct fixture *f = started(state);
	static uint8_t out[256 << 10], in[256 << 10];

	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(transport_fuse_add(f->fuse, "io", &f->disk->disk, f->path, sizeof(f->path)), 0);
	f->fd = open(f->path, O_RDWR);
	assert_true(f->fd >= 0);
	assert_int_equal(pwrite(f->fd, out, sizeof(out), 12345), sizeof(out));
	assert_memory_equal(f->disk->bytes + 12345, out, sizeof(out));
	assert_int_equal(pread(f->fd, in, sizeof(in), 12345), sizeof(in));
	assert_memory_equal(in, out, sizeof(in));
	/* Past the end: a short read, and a write that does not fit fails. */
	assert_int_equal(pread(f->fd, in, 4096, DISK_SIZE - 100), 100);
	assert_int_equal(pread(f->fd, in, 4096, DISK_SIZE), 0);
	assert_int_equal(pwrite(f->fd, out, 4096, DISK_SIZE - 100), -1);
	/* The size is the disk's. */
	assert_int_equal(ftruncate(f->fd, 1 << 20), -1);
	assert_int_equal(errno, EPERM);

	assert_int_equal(fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 12345, 4096), 0);
	assert_int_equal(f->disk->trims, 1);
	assert_int_equal(fallocate(f->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 65536, 4096), 0);
	assert_int_equal(f->disk->zeroes, 1);
	assert_int_equal(pread(f->fd, in, 4096, 12345), 4096);
	for (size_t i = 0; i < 4096; i++)
		assert_int_equal(in[i], 0);
	assert_int_equal(fsync(f->fd), 0);
	assert_true(f->disk->flushes >= 1);
	close(f->fd);
	f->fd = -1;
	assert_int_equal(transport_fuse_remove(f->fuse, "io"), 0);
}

static void test_read_only(void **state)
{
	struct fixture *f = started(state);
	struct stat st;

	f->disk->disk.flags |= VDISK_READ_ONLY;
	assert_int_equal(transport_fuse_add(f->fuse, "ro", &f->disk->disk, f->path, sizeof(f->path)), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0400);
	assert_int_equal(open(f->path, O_RDWR), -1);
	f->fd = open(f->path, O_RDONLY);
	assert_true(f->fd >= 0);
	close(f->fd);
	f->fd = -1;
	assert_int_equal(transport_fuse_remove(f->fuse, "ro"), 0);
}

static void test_resized(void **state)
{
	struct fixture *f = started(state);
	struct stat st;

	assert_int_equal(transport_fuse_add(f->fuse, "grow", &f->disk->disk, f->path, sizeof(f->path)), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_size, DISK_SIZE);
	assert_int_equal(vdisk_resize(&f->disk->disk, 2 * DISK_SIZE), 0);
	assert_int_equal(transport_fuse_resized(f->fuse, "grow"), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_size, 2 * DISK_SIZE);
	assert_int_equal(transport_fuse_resized(f->fuse, "nothing"), -ENOENT);
	assert_int_equal(transport_fuse_remove(f->fuse, "grow"), 0);
}

struct slow_read {
	int fd;
	ssize_t result;
};

static void *slow_read_main(void *opaque)
{
	struct slow_read *r = opaque;
	char buf[4096];

	r->result = pread(r->fd, buf, sizeof(buf), 0);
	return NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* remove() waits for the request in flight, then the open file fails cleanly. */
static void test_remove_in_flight(void **state)
{
	struct fixture *f = started(state);
	struct slow_read r;
	pthread_t thread;
	char buf[512];
	double start;

	assert_int_equal(transport_fuse_add(f->fuse, "slow", &f->disk->disk, f->path, sizeof(f->path)), 0);
	f->fd = open(f->path, O_RDONLY);
	assert_true(f->fd >= 0);
	f->disk->read_delay_ms = 300;
	r.fd = f->fd;
	r.result = -2;
	assert_int_equal(pthread_create(&thread, NULL, slow_read_main, &r), 0);
	usleep(100 * 1000);
	start = now();
	assert_int_equal(transport_fuse_remove(f->fuse, "slow"), 0);
	assert_true(now() - start > 0.1); /* it waited for the read */
	pthread_join(thread, NULL);
	assert_int_equal(r.result, 4096);
	f->disk->read_delay_ms = 0;
	assert_int_equal(pread(f->fd, buf, sizeof(buf), 0), -1);
	assert_int_equal(errno, EIO);
	/* The file stays open across teardown: stop must not hang on it. */
}

/* Stop with a published disk whose file is open. */
static void test_stop_with_open_file(void **state)
{
	struct fixture *f = started(state);

	assert_int_equal(transport_fuse_add(f->fuse, "open", &f->disk->disk, f->path, sizeof(f->path)), 0);
	f->fd = open(f->path, O_RDWR);
	assert_true(f->fd >= 0);
}

static void test_start_errors(void **state)
{
	struct transport_fuse *fuse = (void *)1;

	(void)state;
	assert_int_equal(transport_fuse_start("", 1, &fuse), -EINVAL);
	assert_null(fuse);
	assert_int_equal(transport_fuse_remove(NULL, "x"), -EINVAL);
	transport_fuse_stop(NULL);
	if (geteuid() != 0 || access("/dev/fuse", R_OK | W_OK) != 0)
		return;
	assert_int_equal(transport_fuse_start("/nonexistent/imdisk-fuse", 1, &fuse), -ENOENT);
	assert_null(fuse);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start_errors),
		cmocka_unit_test_setup_teardown(test_publish_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_through_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resized, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_with_open_file, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
