/* The shared-memory connection of a proxy disk (devio shm:NAME; the layout is in
 * docs/imdproxy-shm.md): a section the server created, owns and may change at
 * any moment, so nothing here trusts it.
 *
 * The section is never mapped: headers, the control block and data are copied
 * with pread/pwrite on its descriptor, so a section the server shrinks gives a
 * short read (-EBADMSG: the disk's request fails with EIO) instead of a SIGBUS
 * in the daemon.  Its size and link count are looked at (fstat) before every
 * exchange: a section smaller than at attach is corrupt, an unlinked one is a
 * server gone away (the name is attached again, if its owner still matches).
 * The semaphores must be mapped (a futex is a word in memory): they are used
 * only through proxy_shm_sem.c, whose fault guard turns a vanished page into
 * an error too.
 *
 * Reattaching by name reaches whoever created a section of that name since:
 * the section and both semaphores must belong to the owner (uid) the first
 * attach found, on the same file system; inode numbers are not compared, since
 * every server restart creates its semaphores anew. */
#include "backend/proxy_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/deadline.h"
#include "common/endian.h"
#include "common/fdio.h"
#include "common/trace.h"

/* How often a client waiting on a shared-memory server checks that it lives. */
#define PROXY_SHM_CHECK_MS 50u

static void sleep_ms(unsigned int ms)
{
	struct timespec t = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&t, &t) < 0 && errno == EINTR)
		;
}

/* "NAME" or "/NAME" (devio's shm:NAME) to the POSIX names of the section and its
 * two semaphores. */
int proxy_shm_names(struct proxy_link *link, const char *name)
{
	size_t len;

	if (name[0] == '/')
		name++;
	len = strlen(name);
	if (len == 0 || len > PROXY_SHM_NAME_MAX || strchr(name, '/'))
		return -EINVAL;
	snprintf(link->shm_name, sizeof(link->shm_name), "/%s", name);
	snprintf(link->shm_request_name, sizeof(link->shm_request_name), "/%s%s", name,
		 IMDPROXY_SHM_REQUEST_SUFFIX);
	snprintf(link->shm_response_name, sizeof(link->shm_response_name), "/%s%s", name,
		 IMDPROXY_SHM_RESPONSE_SUFFIX);
	return 0;
}

/* A short read means the server shrank the section: corrupt. */
static int section_read(const struct proxy_conn *conn, void *buf, size_t len, off_t offset)
{
	int r = pread_full(conn->fd, buf, len, offset);

	return r == -EPIPE ? -EBADMSG : r;
}

static int section_read_le64(const struct proxy_conn *conn, off_t offset, uint64_t *value)
{
	uint8_t bytes[8] = { 0 };
	int r = section_read(conn, bytes, sizeof(bytes), offset);

	if (r == 0)
		*value = get_le64(bytes);
	return r;
}

/* Before an exchange: the section is still linked and as large as at attach. */
static int section_check(const struct proxy_conn *conn)
{
	struct stat st;

	if (fstat(conn->fd, &st) < 0)
		return -errno;
	if (st.st_nlink == 0) {
		trace(TRACE_PROXY, "shm: the server unlinked its section");
		return -EPIPE;
	}
	if ((uint64_t)st.st_size < conn->section_size) {
		trace(TRACE_PROXY, "shm: the section shrank to %lld bytes (%zu needed)", (long long)st.st_size,
		      conn->section_size);
		return -EBADMSG;
	}
	return 0;
}

static bool shm_byte_locked(int fd, off_t byte)
{
	struct flock lock = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1 };

	if (fcntl(fd, F_OFD_GETLK, &lock) < 0)
		return false;
	return lock.l_type != F_UNLCK;
}

/* The server that answered INFO is still there: its lock is held and no other
 * server has set the section up again since. */
static bool shm_server_alive(const struct proxy_conn *conn)
{
	uint64_t pid;

	return shm_byte_locked(conn->fd, IMDPROXY_SHM_SERVER_LOCK_BYTE) &&
	       section_read_le64(conn, IMDPROXY_SHM_SERVER_PID_OFFSET, &pid) == 0 && pid == conn->server_pid;
}

static void shm_close(struct proxy_conn *conn)
{
	proxy_shm_sem_close(&conn->request_sem);
	proxy_shm_sem_close(&conn->response_sem);
	/* Closing the object drops the client lock with it. */
	if (conn->fd >= 0)
		close(conn->fd);
	conn->fd = -1;
}

/* The owner the first attach found; every later one must match it. */
static int owner_check(struct proxy_link *link, const struct stat *st, const char *what)
{
	if (!link->shm_owner_known)
		return 0;
	if (st->st_uid == link->shm_owner_uid && st->st_dev == link->shm_owner_dev)
		return 0;
	trace(TRACE_PROXY, "shm: %s belongs to uid %u, the disk's server to uid %u: not attached", what,
	      (unsigned)st->st_uid, (unsigned)link->shm_owner_uid);
	return -EACCES;
}

static int shm_attach(struct proxy_link *link, struct proxy_conn *conn)
{
	struct flock client_lock = {
		.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = IMDPROXY_SHM_CLIENT_LOCK_BYTE, .l_len = 1,
	};
	uint8_t control[IMDPROXY_SHM_HEADER_AREA];
	struct stat st, request_st, response_st;
	uint64_t data_size;
	int r;

	conn->request_sem.page = NULL;
	conn->response_sem.page = NULL;
	conn->fd = shm_open(link->shm_name, O_RDWR | O_CLOEXEC, 0);
	if (conn->fd < 0)
		return errno == ENOENT ? -ECONNREFUSED : -errno;
	if (fstat(conn->fd, &st) < 0) {
		r = -errno;
		goto fail;
	}
	r = -EBADMSG;
	if (!S_ISREG(st.st_mode))
		goto fail;
	r = owner_check(link, &st, "the section");
	if (r < 0)
		goto fail;
	if (fcntl(conn->fd, F_OFD_SETLK, &client_lock) < 0) {
		r = errno == EAGAIN || errno == EACCES ? -EBUSY : -errno;
		goto fail;
	}
	/* A section without its server (it died, or is still setting up). */
	r = -ECONNREFUSED;
	if (!shm_byte_locked(conn->fd, IMDPROXY_SHM_SERVER_LOCK_BYTE))
		goto fail;
	/* Too small for the control block: not set up (yet). */
	if (pread(conn->fd, control, sizeof(control), 0) != (ssize_t)sizeof(control))
		goto fail;
	if (memcmp(control + IMDPROXY_SHM_MAGIC_OFFSET, IMDPROXY_SHM_MAGIC, 8) != 0)
		goto fail;
	data_size = get_le64(control + IMDPROXY_SHM_DATA_SIZE_OFFSET);
	r = -EBADMSG;
	if (data_size < 512 || data_size > SIZE_MAX - IMDPROXY_SHM_HEADER_AREA ||
	    (uint64_t)st.st_size < data_size + IMDPROXY_SHM_HEADER_AREA)
		goto fail;
	conn->ops = &proxy_shm_ops;
	conn->max_transfer = (size_t)data_size;
	conn->section_size = conn->max_transfer + IMDPROXY_SHM_HEADER_AREA;
	r = proxy_shm_sem_open(link->shm_request_name, &conn->request_sem, &request_st);
	if (r == 0)
		r = proxy_shm_sem_open(link->shm_response_name, &conn->response_sem, &response_st);
	if (r < 0)
		goto fail;
	/* Semaphores of somebody else beside the section: not the server's. */
	r = -EACCES;
	if (request_st.st_uid != st.st_uid || response_st.st_uid != st.st_uid || request_st.st_dev != st.st_dev ||
	    response_st.st_dev != st.st_dev) {
		trace(TRACE_PROXY, "shm: the semaphores of %s do not belong to the section's owner", link->shm_name);
		goto fail;
	}
	conn->seq = get_le64(control + IMDPROXY_SHM_REQUEST_SEQ_OFFSET);
	conn->server_pid = get_le64(control + IMDPROXY_SHM_SERVER_PID_OFFSET);
	if (!link->shm_owner_known) {
		link->shm_owner_known = true;
		link->shm_owner_uid = st.st_uid;
		link->shm_owner_dev = st.st_dev;
	}
	return 0;

fail:
	shm_close(conn);
	return r;
}

struct attach_job {
	struct proxy_link *link;
	struct proxy_conn *conn;
};

static int attach_job_run(void *arg)
{
	struct attach_job *job = arg;

	return shm_attach(job->link, job->conn);
}

/* The section is opened by name, so by whoever runs a server under that name
 * now: with the creator's identity, a server restarted by somebody else is
 * reached only if the creator may use it (and then only if its owner is the
 * first server's). */
static int shm_open_conn(struct proxy_link *link, struct proxy_conn *conn, int timeout_ms)
{
	struct attach_job job = { .link = link, .conn = conn };

	(void)timeout_ms; /* an attach does not wait */
	conn->fd = -1;
	return caller_identity_run(proxy_link_identity(link), attach_job_run, &job);
}

/* Waits for the server's reply to request number seq (earlier posts, for requests
 * given up on, are skipped by their number). */
static int shm_wait_reply(struct proxy_conn *conn, bool by_semaphore, int timeout_ms)
{
	struct timespec deadline = deadline_after_ms((unsigned int)(timeout_ms > 0 ? timeout_ms : 0));

	for (;;) {
		int left = deadline_remaining_ms(&deadline);
		int slice = left < (int)PROXY_SHM_CHECK_MS ? left : (int)PROXY_SHM_CHECK_MS;
		uint64_t reply_seq = 0;
		int r;

		if (by_semaphore) {
			r = proxy_shm_sem_wait(&conn->response_sem, slice < 1 ? 1 : slice);
			if (r == -EIO)
				return -EBADMSG; /* the server broke its semaphore */
			if (r < 0 && r != -ETIMEDOUT)
				return r;
		} else {
			sleep_ms(slice < 1 ? 1 : (unsigned int)(slice < 5 ? slice : 5));
		}
		r = section_read_le64(conn, IMDPROXY_SHM_REPLY_SEQ_OFFSET, &reply_seq);
		if (r < 0)
			return r;
		if (reply_seq == conn->seq)
			return 0;
		if (!shm_server_alive(conn))
			return -EPIPE;
		if (left == 0)
			return -ETIMEDOUT;
	}
}

static int shm_send(struct proxy_conn *conn, const void *header, size_t header_len, const void *data,
		   size_t data_len, int timeout_ms)
{
	uint8_t seq[8];
	uint64_t reply_seq = 0;
	int r;

	if (header_len > IMDPROXY_SHM_MAGIC_OFFSET || data_len > conn->max_transfer)
		return -EMSGSIZE;
	r = section_check(conn);
	if (r == 0)
		r = section_read_le64(conn, IMDPROXY_SHM_REPLY_SEQ_OFFSET, &reply_seq);
	if (r < 0)
		return r;
	/* The server must be done with the section (a request given up on may
	 * still be running) before it is written again. */
	if (reply_seq != conn->seq) {
		r = shm_wait_reply(conn, false, timeout_ms);
		if (r < 0)
			return r;
	}
	if (!shm_server_alive(conn))
		return -EPIPE;
	r = pwrite_full(conn->fd, header, header_len, 0);
	if (r == 0 && data_len)
		r = pwrite_full(conn->fd, data, data_len, IMDPROXY_SHM_HEADER_AREA);
	if (r < 0)
		return r;
	conn->seq++;
	put_le64(seq, conn->seq);
	r = pwrite_full(conn->fd, seq, sizeof(seq), IMDPROXY_SHM_REQUEST_SEQ_OFFSET);
	if (r < 0)
		return r;
	/* What pwrite stored is seen before the post that tells the server. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	r = proxy_shm_sem_post(&conn->request_sem);
	return r == -EIO ? -EBADMSG : r;
}

/* "Receive" is a copy out of the section; a reply's data never comes with its header. */
static int shm_recv_reply(struct proxy_conn *conn, void *buf, size_t len, void *data, size_t cap, size_t *data_got,
			  int timeout_ms)
{
	int r = shm_wait_reply(conn, true, timeout_ms);

	(void)data;
	(void)cap;
	*data_got = 0;
	if (r == 0)
		r = section_read(conn, buf, len, 0);
	return r;
}

/* Reply data: len was checked against the request, which fit the section. */
static int shm_recv_data(struct proxy_conn *conn, void *buf, size_t len, int timeout_ms)
{
	(void)timeout_ms;
	return section_read(conn, buf, len, IMDPROXY_SHM_HEADER_AREA);
}

/* An idle section whose server went away shows a released server lock. */
static bool shm_looks_dead(const struct proxy_conn *conn)
{
	return !shm_server_alive(conn);
}

const struct proxy_conn_ops proxy_shm_ops = {
	.name = "shm",
	.open = shm_open_conn,
	.send = shm_send,
	.recv_reply = shm_recv_reply,
	.recv_data = shm_recv_data,
	.looks_dead = shm_looks_dead,
	.close = shm_close,
};
