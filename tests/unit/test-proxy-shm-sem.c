/* Unit tests for the shared-memory proxy's semaphores (src/backend/
 * proxy_shm_sem.c): they interoperate with glibc's sem_post/sem_wait (devio's
 * side), and a semaphore file the server shrinks gives -EIO instead of the
 * SIGBUS that would end the process; a SIGBUS elsewhere still does. */
#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/proxy_internal.h"

struct fixture {
	char name[64];
	char path[96];
	sem_t *glibc;
	struct proxy_shm_sem ours;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->name, sizeof(f->name), "/test-proxy-shm-sem-%d", (int)getpid());
	snprintf(f->path, sizeof(f->path), "/dev/shm/sem.%s", f->name + 1);
	sem_unlink(f->name);
	f->glibc = sem_open(f->name, O_CREAT | O_EXCL, 0600, 0);
	if (f->glibc == SEM_FAILED)
		return -1;
	*state = f;
	return 0;
}

/* In the test itself: cmocka puts its own SIGBUS handler in place around each
 * setup and test, and the attach puts ours back over it. */
static void attach(struct fixture *f)
{
	struct stat st;

	assert_int_equal(proxy_shm_sem_open(f->name, &f->ours, &st), 0);
	assert_int_equal(st.st_uid, geteuid());
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->ours.page)
		proxy_shm_sem_close(&f->ours);
	sem_close(f->glibc);
	sem_unlink(f->name);
	free(f);
	return 0;
}

static void test_interoperates_with_glibc(void **state)
{
	struct fixture *f = *state;
	int value;

	attach(f);
	assert_int_equal(proxy_shm_sem_post(&f->ours), 0);
	assert_int_equal(sem_getvalue(f->glibc, &value), 0);
	assert_int_equal(value, 1);
	assert_int_equal(sem_trywait(f->glibc), 0);
	assert_int_equal(proxy_shm_sem_wait(&f->ours, 50), -ETIMEDOUT);
	assert_int_equal(sem_post(f->glibc), 0);
	assert_int_equal(proxy_shm_sem_wait(&f->ours, 1000), 0);
	assert_int_equal(sem_getvalue(f->glibc, &value), 0);
	assert_int_equal(value, 0);
}

static void test_shrunk_file_is_an_error(void **state)
{
	struct fixture *f = *state;
	int fd;

	attach(f);
	fd = open(f->path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 0), 0);
	close(fd);
	assert_int_equal(proxy_shm_sem_post(&f->ours), -EIO);
	assert_int_equal(proxy_shm_sem_wait(&f->ours, 50), -EIO);
	/* Still guarded the second time. */
	assert_int_equal(proxy_shm_sem_post(&f->ours), -EIO);
}

static void test_other_sigbus_still_kills(void **state)
{
	struct fixture *f = *state;
	pid_t child;
	int status;

	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct stat st;
		int fd = open(f->path, O_RDWR);
		volatile uint8_t *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

		/* Whatever cmocka had: the default, and then our handler over it. */
		signal(SIGBUS, SIG_DFL);
		if (p == MAP_FAILED || proxy_shm_sem_open(f->name, &f->ours, &st) < 0 || ftruncate(fd, 0) < 0)
			_exit(2);
		p[0] = 1; /* no guard here */
		_exit(0);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGBUS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_interoperates_with_glibc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shrunk_file_is_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_sigbus_still_kills, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
