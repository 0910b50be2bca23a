/* The two semaphores of a shared-memory proxy server, used so that nothing the
 * server does to them can kill the daemon.
 *
 * A semaphore is a word in memory both sides map (glibc's sem_open maps the
 * file /dev/shm/sem.NAME); unlike the section's data, which the client copies
 * with pread/pwrite on its descriptor (proxy_shm.c), a futex cannot be reached
 * through a system call on a file: it must be mapped.  The server owns the file
 * and may shrink it at any moment, and a page of a shared mapping past the end
 * of its file raises SIGBUS on the next access, which by default kills the
 * process.  Two defences, both needed:
 *
 *  - Every access of the mapped word runs under a fault guard: the thread notes
 *    the guarded range and a sigsetjmp point; a SIGBUS handler (put back at every attach)
 *    jumps back to it when the fault lies in the range of the faulting thread's
 *    own guard, and the access fails with -EIO.  Any other SIGBUS is handed to
 *    the disposition that was there before, so a real bug still crashes.  A
 *    check of the file size before each access would not do: the server can
 *    shrink the file between the check and the access.
 *
 *  - The wait and the post are written here rather than taken from glibc
 *    (same data layout: glibc's 64-bit new_sem, a value in the low half of one
 *    64-bit word and the number of waiters in the high half, futexes shared
 *    between processes).  glibc's sem_timedwait aborts the process when the
 *    futex system call reports EFAULT, which it does when the page went away
 *    between its load of the word and the call; here EFAULT is just -EIO.
 *    Where that layout does not apply (a 32-bit build), glibc's functions are
 *    called under the same guard, and that one narrow window remains.
 *
 * The guard's state is thread-local, so concurrent disks (each on its own
 * thread) guard independently, and a jump never crosses threads.  The guard
 * is armed only around the few instructions that touch the semaphore word. */
#include "backend/proxy_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/deadline.h"
#include "common/trace.h"

/* Where glibc's sem_open keeps NAME (the tmpfs POSIX shared memory lives on). */
#define SEM_DIRECTORY "/dev/shm/sem."

struct fault_guard {
	sigjmp_buf env;
	uintptr_t lo, hi; /* the guarded range [lo, hi) */
};

static __thread struct fault_guard *volatile current_guard;
static __thread bool sigbus_unblocked;
static struct sigaction previous_sigbus;
static pthread_mutex_t handler_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_sigbus(int sig, siginfo_t *info, void *context)
{
	struct fault_guard *guard = current_guard;
	uintptr_t addr = (uintptr_t)info->si_addr;

	(void)sig;
	(void)context;
	if (guard && addr >= guard->lo && addr < guard->hi) {
		current_guard = NULL;
		siglongjmp(guard->env, 1);
	}
	/* Not ours: the instruction faults again under the old disposition. */
	sigaction(SIGBUS, &previous_sigbus, NULL);
}

/* At every attach: the handler is ours (installed once, or again should
 * somebody have replaced it since), and what was there before is kept for the
 * faults that are not ours. */
static int ensure_handler(void)
{
	struct sigaction action, current;
	int r = 0;

	pthread_mutex_lock(&handler_lock);
	if (sigaction(SIGBUS, NULL, &current) < 0) {
		r = -errno;
	} else if (!(current.sa_flags & SA_SIGINFO) || current.sa_sigaction != on_sigbus) {
		memset(&action, 0, sizeof(action));
		action.sa_sigaction = on_sigbus;
		action.sa_flags = SA_SIGINFO | SA_ONSTACK;
		sigemptyset(&action.sa_mask);
		if (sigaction(SIGBUS, &action, &previous_sigbus) < 0)
			r = -errno;
	}
	pthread_mutex_unlock(&handler_lock);
	return r;
}

/* A fault raised while SIGBUS is blocked (the FUSE workers block every signal)
 * is not delivered to a handler: the kernel resets it to the default and kills
 * the process.  So a thread that takes a guard unblocks SIGBUS, once; a fault
 * is synchronous, so blocking it never meant anything. */
static void guard_prepare(void)
{
	sigset_t set;

	if (sigbus_unblocked)
		return;
	sigemptyset(&set);
	sigaddset(&set, SIGBUS);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	sigbus_unblocked = true;
}

/* Runs `body` with faults in [base, base + len) turned into r = -EIO.  sigsetjmp
 * must be called in the frame that stays live while the access runs, hence a
 * macro; the guard is filled before sigsetjmp and not changed after it, so
 * nothing the jump returns to is indeterminate. */
#define GUARDED(base, len, r, ...)                                              \
	do {                                                                         \
		struct fault_guard guard_;                                               \
		guard_prepare();                                                         \
		guard_.lo = (uintptr_t)(base);                                           \
		guard_.hi = guard_.lo + (len);                                           \
		if (sigsetjmp(guard_.env, 1) == 0) {                                     \
			current_guard = &guard_;                                             \
			__VA_ARGS__                                                          \
			current_guard = NULL;                                                \
		} else {                                                                 \
			trace(TRACE_PROXY, "shm: the server's semaphore went away under us"); \
			(r) = -EIO;                                                          \
		}                                                                        \
	} while (0)

int proxy_shm_sem_open(const char *name, struct proxy_shm_sem *sem, struct stat *st)
{
	char path[sizeof(SEM_DIRECTORY) + PROXY_SHM_NAME_MAX + 16];
	void *page;
	int fd, r;

	sem->page = NULL;
	r = ensure_handler();
	if (r < 0)
		return r;
	if (name[0] == '/')
		name++;
	snprintf(path, sizeof(path), "%s%s", SEM_DIRECTORY, name);
	fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ECONNREFUSED : -errno;
	r = fstat(fd, st) < 0 ? -errno : 0;
	if (r == 0 && (!S_ISREG(st->st_mode) || (uint64_t)st->st_size < sizeof(sem_t)))
		r = -EBADMSG;
	if (r == 0) {
		page = mmap(NULL, sizeof(sem_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (page == MAP_FAILED)
			r = -errno;
		else
			sem->page = page;
	}
	close(fd); /* the mapping keeps the file */
	return r;
}

void proxy_shm_sem_close(struct proxy_shm_sem *sem)
{
	if (sem->page)
		munmap(sem->page, sizeof(sem_t));
	sem->page = NULL;
}

#if UINTPTR_MAX == UINT64_MAX && defined(__GLIBC__)

#define SEM_VALUE_MASK UINT64_C(0xffffffff)
#define SEM_WAITER UINT64_C(0x100000000)

/* The futex word is the value half of the 64-bit word. */
static uint32_t *sem_value_word(uint64_t *data)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return (uint32_t *)data + 1;
#else
	return (uint32_t *)data;
#endif
}

static long futex(uint32_t *word, int op, uint32_t value, const struct timespec *timeout)
{
	/* Not FUTEX_PRIVATE_FLAG: the other waiter is another process. */
	return syscall(SYS_futex, word, op, value, timeout, NULL, 0);
}

int proxy_shm_sem_post(struct proxy_shm_sem *sem)
{
	uint64_t *data = sem->page;
	int r = 0;

	GUARDED(data, sizeof(sem_t), r, {
		uint64_t d = __atomic_fetch_add(data, 1, __ATOMIC_RELEASE);
		if ((d >> 32) > 0 && futex(sem_value_word(data), FUTEX_WAKE, 1, NULL) < 0 && errno == EFAULT)
			r = -EIO;
	});
	return r;
}

int proxy_shm_sem_wait(struct proxy_shm_sem *sem, int timeout_ms)
{
	uint64_t *data = sem->page;
	struct timespec relative = { .tv_sec = timeout_ms / 1000, .tv_nsec = (long)(timeout_ms % 1000) * 1000000L };
	int r = -ETIMEDOUT;

	GUARDED(data, sizeof(sem_t), r, {
		uint64_t d = __atomic_load_n(data, __ATOMIC_RELAXED);
		bool waited = false;

		for (;;) {
			if (d & SEM_VALUE_MASK) {
				if (__atomic_compare_exchange_n(data, &d, d - 1, true, __ATOMIC_ACQUIRE,
								__ATOMIC_RELAXED)) {
					r = 0;
					break;
				}
				continue;
			}
			if (waited)
				break; /* woken or timed out without a post for us: the caller looks again */
			/* A waiter is counted while it sleeps, so that a post wakes it. */
			d = __atomic_add_fetch(data, SEM_WAITER, __ATOMIC_RELAXED);
			if ((d & SEM_VALUE_MASK) == 0 &&
			    futex(sem_value_word(data), FUTEX_WAIT, 0, &relative) < 0 && errno == EFAULT)
				r = -EIO;
			d = __atomic_sub_fetch(data, SEM_WAITER, __ATOMIC_RELAXED);
			if (r == -EIO)
				break;
			waited = true;
		}
	});
	return r;
}

#else /* not glibc's 64-bit layout: glibc's calls, under the guard */

int proxy_shm_sem_post(struct proxy_shm_sem *sem)
{
	int r = 0;

	GUARDED(sem->page, sizeof(sem_t), r, {
		if (sem_post((sem_t *)sem->page) < 0)
			r = -errno;
	});
	return r;
}

int proxy_shm_sem_wait(struct proxy_shm_sem *sem, int timeout_ms)
{
	struct timespec until = deadline_after_ms((unsigned int)(timeout_ms > 0 ? timeout_ms : 0));
	int r = 0;

	GUARDED(sem->page, sizeof(sem_t), r, {
		if (sem_clockwait((sem_t *)sem->page, CLOCK_MONOTONIC, &until) < 0)
			r = errno == EINTR ? -ETIMEDOUT : -errno;
	});
	return r;
}

#endif
