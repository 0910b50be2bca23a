/* The shared-memory transport on Linux: ImDisk's section and named objects mapped
 * to POSIX ones (docs/imdproxy-shm.md):
 *   section "NAME"         POSIX shared memory /NAME, buffer size + 4096 bytes
 *   event NAME_Request     named semaphore /NAME_Request (posted by the client)
 *   event NAME_Response    named semaphore /NAME_Response (posted by the server)
 *   mutex NAME_Server      an OFD write lock on byte 0 of /NAME, held by the
 *                          server while it lives: the kernel drops it when the
 *                          server dies, so F_OFD_GETLK tells a client at once
 * One request at a time: the header at 0, its data at 4096; the reply header
 * overwrites the request's, READ data lands at 4096. */
#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/endian.h"
#include "common/log.h"
#include "common/trace.h"
#include "devio/devio.h"

/* Leaves room for "/", the suffixes and the "sem." prefix within NAME_MAX. */
#define SHM_NAME_MAX 200

struct shm_transport {
	char name[SHM_NAME_MAX + 2];
	char request_name[SHM_NAME_MAX + 16];
	char response_name[SHM_NAME_MAX + 16];
	int fd;
	uint8_t *map;
	size_t map_size;
	sem_t *request;
	sem_t *response;
};

bool devio_shm_name_valid(const char *name)
{
	size_t len = strlen(name);

	return len > 0 && len <= SHM_NAME_MAX && !strchr(name, '/') && strcmp(name, ".") &&
	       strcmp(name, "..");
}

static int lock_byte(int fd, off_t byte, bool wait)
{
	struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1};

	return fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &lock) < 0 ? -errno : 0;
}

static void wake_server(void *arg)
{
	struct shm_transport *t = arg;

	sem_post(t->request);
}

static void shm_close(struct shm_transport *t, bool remove)
{
	if (remove) {
		/* Unlinked while the server lock is still held: no second server can have
		 * taken the names over yet. */
		shm_unlink(t->name);
		sem_unlink(t->request_name);
		sem_unlink(t->response_name);
	}
	if (t->request && t->request != SEM_FAILED)
		sem_close(t->request);
	if (t->response && t->response != SEM_FAILED)
		sem_close(t->response);
	if (t->map)
		munmap(t->map, t->map_size);
	if (t->fd >= 0)
		close(t->fd);
}

static int shm_open_transport(struct shm_transport *t, const char *name, size_t data_size,
			      const char **what)
{
	uint8_t *control;
	int r;

	memset(t, 0, sizeof(*t));
	t->fd = -1;
	snprintf(t->name, sizeof(t->name), "/%s", name);
	snprintf(t->request_name, sizeof(t->request_name), "/%s%s", name,
		 IMDPROXY_SHM_REQUEST_SUFFIX);
	snprintf(t->response_name, sizeof(t->response_name), "/%s%s", name,
		 IMDPROXY_SHM_RESPONSE_SUFFIX);
	t->map_size = data_size + IMDPROXY_SHM_HEADER_AREA;

	*what = "shm_open";
	t->fd = shm_open(t->name, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (t->fd < 0)
		return -errno;
	/* The server lock first: whoever holds it owns every name below. */
	*what = "lock";
	r = lock_byte(t->fd, IMDPROXY_SHM_SERVER_LOCK_BYTE, false);
	if (r == -EAGAIN || r == -EACCES) {
		close(t->fd);
		t->fd = -1;
		*what = "already served by another devio";
		return -EADDRINUSE;
	}
	if (r < 0)
		goto fail;
	/* Whatever a dead server left is replaced, contents and events alike. */
	*what = "ftruncate";
	if (ftruncate(t->fd, 0) < 0 || ftruncate(t->fd, (off_t)t->map_size) < 0)
		goto fail_errno;
	*what = "mmap";
	t->map = mmap(NULL, t->map_size, PROT_READ | PROT_WRITE, MAP_SHARED, t->fd, 0);
	if (t->map == MAP_FAILED) {
		t->map = NULL;
		goto fail_errno;
	}
	*what = "sem_open";
	sem_unlink(t->request_name);
	sem_unlink(t->response_name);
	t->request = sem_open(t->request_name, O_CREAT | O_EXCL, 0600, 0);
	if (t->request == SEM_FAILED)
		goto fail_errno;
	t->response = sem_open(t->response_name, O_CREAT | O_EXCL, 0600, 0);
	if (t->response == SEM_FAILED)
		goto fail_errno;

	control = t->map;
	put_le64(control + IMDPROXY_SHM_DATA_SIZE_OFFSET, data_size);
	put_le64(control + IMDPROXY_SHM_SERVER_PID_OFFSET, (uint64_t)getpid());
	put_le64(control + IMDPROXY_SHM_REQUEST_SEQ_OFFSET, 0);
	put_le64(control + IMDPROXY_SHM_REPLY_SEQ_OFFSET, 0);
	/* Last: a client that sees the magic sees the rest. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(control + IMDPROXY_SHM_MAGIC_OFFSET, IMDPROXY_SHM_MAGIC, 8);
	return 0;

fail_errno:
	r = -errno;
fail:
	shm_close(t, true);
	return r;
}

int devio_serve_shm(struct devio_server *server, const char *name, const char **what)
{
	struct shm_transport t;
	size_t data_size = server->buffer_size;
	uint8_t *data;
	int r;

	r = shm_open_transport(&t, name, data_size, what);
	if (r < 0)
		return r;
	data = t.map + IMDPROXY_SHM_HEADER_AREA;
	devio_server_set_stop_hook(server, wake_server, &t);
	log_info("serving on shared memory %s (%zu bytes per request)", t.name, data_size);

	*what = "serve";
	r = 0;
	for (;;) {
		struct imdproxy_request req;
		uint8_t reply[IMDPROXY_MAX_REPLY_HEADER];
		size_t reply_size, reply_data;
		uint64_t payload, sequence;
		enum devio_action action;

		if (sem_wait(t.request) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (atomic_load(&server->stopping))
			break;
		sequence = get_le64(t.map + IMDPROXY_SHM_REQUEST_SEQ_OFFSET);
		/* 4096 bytes always hold a header; the data is where the layout says,
		 * and a READ's data goes back to the same place. */
		r = imdproxy_decode_request(t.map, IMDPROXY_SHM_HEADER_AREA, &req, &payload);
		if (r < 0) {
			/* Not answered: the client's wait for the response ends in its timeout. */
			trace(TRACE_DEVIO, "shm: undecodable request header (code %llu) dropped: %d",
			      (unsigned long long)get_le64(t.map), r);
			r = 0;
			continue;
		}
		log_debug("shm: %s offset %llu length %llu", imdproxy_code_name(req.code),
			  (unsigned long long)req.offset, (unsigned long long)req.length);
		action = devio_handle_request(server, &req, data, payload, data_size, reply,
					      &reply_size, &reply_data, NULL);
		if (action == DEVIO_DROP) {
			trace(TRACE_DEVIO, "shm: %s dropped unanswered: devio is stopping",
			      imdproxy_code_name(req.code));
			break;
		}
		put_le64(t.map + IMDPROXY_SHM_REPLY_SEQ_OFFSET, sequence);
		if (action == DEVIO_CLOSE) {
			if (server->writeback && (r = devio_server_flush(server)) < 0)
				log_warning("shm: flush at the end of the session: %s", strerror(-r));
			r = 0;
			trace(TRACE_DEVIO, "shm: session closed by the client");
			continue;
		}
		memcpy(t.map, reply, reply_size);
		sem_post(t.response);
	}

	devio_server_set_stop_hook(server, NULL, NULL);
	shm_close(&t, true);
	return r;
}
