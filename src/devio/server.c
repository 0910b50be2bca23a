/* The IMDPROXY server's lifecycle: the state every transport shares (the disk,
 * the limits, the stop event), stopping, and the end (wait for sessions, make
 * the disk durable, close it).  Stream sessions are session.c, accepted
 * connections accept.c, one request request_handler.c. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common/deadline.h"
#include "common/log.h"
#include "common/trace.h"
#include "devio/devio.h"

int devio_server_init(struct devio_server *server, struct vdisk *disk, uint64_t alignment,
		      size_t buffer_size, bool writeback)
{
	pthread_condattr_t cond_attr;

	memset(server, 0, sizeof(*server));
	server->disk = disk;
	server->alignment = alignment;
	server->buffer_size = buffer_size;
	server->writeback = writeback;
	server->max_connections = DEVIO_DEFAULT_CONNECTIONS;
	server->idle_timeout_ms = DEVIO_DEFAULT_IDLE_TIMEOUT_S * 1000u;
	server->max_buffer_memory = buffer_size > DEVIO_DEFAULT_BUFFER_MEMORY
					    ? buffer_size : DEVIO_DEFAULT_BUFFER_MEMORY;
	atomic_init(&server->buffer_memory, 0);
	atomic_init(&server->stopping, false);
	server->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (server->stop_fd < 0)
		return -errno;
	pthread_rwlock_init(&server->disk_use, NULL);
	pthread_mutex_init(&server->sessions_lock, NULL);
	pthread_mutex_init(&server->stop_lock, NULL);
	/* Its waits end at a deadline_after_ms() deadline: on the monotonic clock. */
	pthread_condattr_init(&cond_attr);
	pthread_condattr_setclock(&cond_attr, CLOCK_MONOTONIC);
	pthread_cond_init(&server->sessions_done, &cond_attr);
	pthread_condattr_destroy(&cond_attr);
	return 0;
}

void devio_server_stop(struct devio_server *server)
{
	uint64_t one = 1;

	if (atomic_exchange(&server->stopping, true))
		return;
	/* An eventfd never stays readable by accident: it is never read back. */
	if (write(server->stop_fd, &one, sizeof(one)) < 0)
		trace_dropped(TRACE_DEVIO, "the stop event", -errno);
	pthread_mutex_lock(&server->stop_lock);
	if (server->stop_hook)
		server->stop_hook(server->stop_hook_arg);
	pthread_mutex_unlock(&server->stop_lock);
}

void devio_server_set_stop_hook(struct devio_server *server, void (*hook)(void *arg), void *arg)
{
	pthread_mutex_lock(&server->stop_lock);
	server->stop_hook = hook;
	server->stop_hook_arg = arg;
	pthread_mutex_unlock(&server->stop_lock);
}

int devio_server_finish(struct devio_server *server, unsigned int grace_ms)
{
	struct timespec deadline;
	bool idle;
	int r;

	devio_server_stop(server);
	deadline = deadline_after_ms(grace_ms);
	pthread_mutex_lock(&server->sessions_lock);
	while (server->sessions > 0) {
		if (pthread_cond_timedwait(&server->sessions_done, &server->sessions_lock, &deadline) ==
		    ETIMEDOUT)
			break;
	}
	idle = server->sessions == 0;
	if (!idle)
		log_warning("%u connection(s) did not end in time; leaving them", server->sessions);
	pthread_mutex_unlock(&server->sessions_lock);

	/* No disk call is in progress once this is held, and none starts after it. */
	pthread_rwlock_wrlock(&server->disk_use);
	r = vdisk_flush(server->disk);
	if (idle) {
		vdisk_close(server->disk);
		server->disk = NULL;
	}
	pthread_rwlock_unlock(&server->disk_use);
	return r;
}
