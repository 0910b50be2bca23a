/* The IMDPROXY server: its lifecycle, stream sessions and accepted connections.
 * Each request is answered by request_handler.c (shared with shm.c).
 *
 * The stream never desynchronises: the size of every request header follows from
 * its code and the size of the data after it is in the header, so a request that
 * is refused (unknown, out of range, read-only) is still read to its end.  Only
 * a request larger than the buffer drops the connection, as the reference does. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/deadline.h"
#include "common/endian.h"
#include "common/fdio.h"
#include "common/log.h"
#include "common/stream_io.h"
#include "devio/devio.h"

/* Bytes read ahead from a stream: a header and small data come in one read. */
#define STREAM_READ_AHEAD (64 * 1024)
/* A socket session blocks in read() (one system call per request, where a poll
 * on the stop event first would be two) and looks at the stop flag this often. */
#define STREAM_STOP_CHECK_MS 100
/* A whole largest reply fits in the socket buffer. */
#define STREAM_SOCKET_BUFFER (4 << 20)
/* The request data buffer grows in steps of this much, up to the buffer size. */
#define DATA_BUFFER_STEP (1024 * 1024)

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
	server->serialize = !(disk->flags & VDISK_PARALLEL);
	atomic_init(&server->stopping, false);
	server->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (server->stop_fd < 0)
		return -errno;
	pthread_rwlock_init(&server->disk_use, NULL);
	pthread_mutex_init(&server->disk_serial, NULL);
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
		log_debug("stop event: %s", strerror(errno));
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

/* A connected stream with read-ahead, whose waits end when devio stops. */
struct stream {
	struct devio_server *server;
	int in_fd;
	int out_fd;
	bool is_socket; /* one socket both ways: blocking, with a receive timeout */
	bool idle_limited; /* the next request is due by idle_deadline */
	struct timespec idle_deadline;
	size_t start, end; /* buffered bytes are ahead[start, end) */
	uint8_t ahead[STREAM_READ_AHEAD];
};

/* Wait until in_fd is readable: 0, -ECANCELED when devio stops, or -errno. */
static int stream_wait(struct stream *s)
{
	struct pollfd fds[2] = {
		{.fd = s->in_fd, .events = POLLIN},
		{.fd = s->server->stop_fd, .events = POLLIN},
	};

	for (;;) {
		int n = deadline_poll(fds, 2, s->idle_limited ? &s->idle_deadline : NULL);

		if (n < 0)
			return n;
		if (fds[1].revents)
			return -ECANCELED;
		if (fds[0].revents)
			return 0;
	}
}

/* Read what is there into dst (at most len bytes): the count, 0 at end of stream. */
static ssize_t stream_read_some(struct stream *s, void *dst, size_t len)
{
	for (;;) {
		ssize_t n;

		if (s->is_socket) {
			if (atomic_load(&s->server->stopping))
				return -ECANCELED;
		} else {
			int r = stream_wait(s);
			if (r < 0)
				return r;
		}
		n = read(s->in_fd, dst, len);
		if (n >= 0)
			return n;
		/* EAGAIN on a socket: STREAM_STOP_CHECK_MS went by in silence. */
		if (errno == EAGAIN && s->idle_limited && deadline_passed(&s->idle_deadline))
			return -ETIMEDOUT;
		if (errno == EINTR || errno == EAGAIN)
			continue;
		/* A tty whose other side hung up says EIO: that is an end of stream. */
		if (errno == EIO && isatty(s->in_fd))
			return 0;
		return -errno;
	}
}

/* Make at least `want` bytes buffered: 1, 0 at end of stream before any byte
 * came (when nothing was buffered), -EPIPE at end of stream after some. */
static int stream_fill(struct stream *s, size_t want)
{
	if (s->end - s->start >= want)
		return 1;
	if (s->start > 0) {
		memmove(s->ahead, s->ahead + s->start, s->end - s->start);
		s->end -= s->start;
		s->start = 0;
	}
	while (s->end < want) {
		ssize_t n = stream_read_some(s, s->ahead + s->end, sizeof(s->ahead) - s->end);

		if (n < 0)
			return (int)n;
		if (n == 0)
			return s->end == 0 ? 0 : -EPIPE;
		s->end += (size_t)n;
	}
	return 1;
}

/* Read exactly len bytes: buffered ones first, large rests straight into dst. */
static int stream_read(struct stream *s, uint8_t *dst, uint64_t len)
{
	size_t buffered = s->end - s->start;
	size_t take = len < buffered ? (size_t)len : buffered;

	memcpy(dst, s->ahead + s->start, take);
	s->start += take;
	dst += take;
	len -= take;
	while (len >= sizeof(s->ahead) / 2) {
		ssize_t n = stream_read_some(s, dst, (size_t)len);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return -EPIPE;
		dst += n;
		len -= (uint64_t)n;
	}
	if (len > 0) {
		int r = stream_fill(s, (size_t)len);
		if (r <= 0)
			return r < 0 ? r : -EPIPE;
		memcpy(dst, s->ahead + s->start, (size_t)len);
		s->start += (size_t)len;
	}
	return 0;
}

/* Send a reply header and its data with as few calls as the kernel allows. */
static int stream_write(struct stream *s, const uint8_t *header, size_t header_size,
			const uint8_t *data, size_t data_size)
{
	struct iovec iov[2] = {
		{.iov_base = (void *)header, .iov_len = header_size},
		{.iov_base = (void *)data, .iov_len = data_size},
	};

	return stream_write_all(s->out_fd, iov, 2, NULL);
}

/* A READ reply whose data is the disk's own bytes (a view): sent without waiting
 * as far as the socket takes it, the rest copied out so that the disk is not
 * held while a slow client reads. */
static int stream_write_view(struct stream *s, const uint8_t *header, size_t header_size,
			     const uint8_t *view, size_t data_size, uint8_t *data)
{
	struct iovec iov[2] = {
		{.iov_base = (void *)header, .iov_len = header_size},
		{.iov_base = (void *)view, .iov_len = data_size},
	};
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
	size_t sent_data = 0;
	ssize_t n;

	do
		n = sendmsg(s->out_fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno != EAGAIN) {
		devio_view_end(s->server);
		return -errno;
	}
	if (n < 0)
		n = 0;
	if ((size_t)n >= header_size) {
		sent_data = (size_t)n - header_size;
		header += header_size;
		header_size = 0;
	} else {
		header += n;
		header_size -= (size_t)n;
	}
	memcpy(data + sent_data, view + sent_data, data_size - sent_data);
	devio_view_end(s->server);
	if (header_size == 0 && sent_data == data_size)
		return 0;
	return stream_write(s, header, header_size, data + sent_data, data_size - sent_data);
}

/* Sockets block in read with a timeout (see STREAM_STOP_CHECK_MS); big buffers. */
static void stream_setup_socket(struct stream *s)
{
	struct timeval tv = {.tv_sec = 0, .tv_usec = STREAM_STOP_CHECK_MS * 1000};
	struct stat st;
	int flags;

	s->is_socket = false;
	if (s->in_fd != s->out_fd || fstat(s->in_fd, &st) < 0 || !S_ISSOCK(st.st_mode))
		return;
	flags = fcntl(s->in_fd, F_GETFL);
	if (flags < 0 || fcntl(s->in_fd, F_SETFL, flags & ~O_NONBLOCK) < 0 ||
	    setsockopt(s->in_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return;
	socket_enlarge_buffers(s->in_fd, STREAM_SOCKET_BUFFER);
	s->is_socket = true;
}

/* Read the next request header: 1, 0 at a clean end of stream, or negative. */
static int stream_read_request(struct stream *s, struct imdproxy_request *req, uint64_t *payload)
{
	size_t header_size;
	int r;

	s->idle_limited = s->is_socket && s->server->idle_timeout_ms > 0;
	if (s->idle_limited)
		s->idle_deadline = deadline_after_ms(s->server->idle_timeout_ms);
	r = stream_fill(s, IMDPROXY_CODE_SIZE);

	if (r <= 0)
		return r;
	header_size = imdproxy_request_header_size(get_le64(s->ahead + s->start));
	r = stream_fill(s, header_size);
	if (r <= 0)
		return r < 0 ? r : -EPIPE;
	r = imdproxy_decode_request(s->ahead + s->start, s->end - s->start, req, payload);
	if (r < 0)
		return r;
	s->start += (size_t)r;
	return 1;
}

/* Room for a request's data, grown on demand: most clients never send 64 MiB.
 * Every connection's buffer counts against the server's max_buffer_memory, so
 * that headers claiming large requests on many connections cannot make devio
 * commit more than that: -ENOMEM past it. */
static int data_reserve(struct devio_server *server, uint8_t **data, size_t *cap, uint64_t need)
{
	size_t size, held;

	if (need <= *cap && *data)
		return 0;
	size = (size_t)((need + DATA_BUFFER_STEP - 1) / DATA_BUFFER_STEP * DATA_BUFFER_STEP);
	if (size == 0)
		size = DATA_BUFFER_STEP;
	held = atomic_fetch_add(&server->buffer_memory, size - *cap) + (size - *cap);
	free(*data);
	*data = NULL;
	if (held > server->max_buffer_memory) {
		atomic_fetch_sub(&server->buffer_memory, size);
		*cap = 0;
		return -ENOMEM;
	}
	*data = malloc(size);
	if (!*data) {
		atomic_fetch_sub(&server->buffer_memory, size);
		*cap = 0;
		return -ENOMEM;
	}
	*cap = size;
	return 0;
}

int devio_serve_stream(struct devio_server *server, int in_fd, int out_fd, const char *peer,
		       bool sessions_per_stream)
{
	struct stream *s = malloc(sizeof(*s));
	uint8_t *data = NULL;
	size_t data_cap = 0;
	int r = 0;

	if (!s)
		return -ENOMEM;
	s->server = server;
	s->in_fd = in_fd;
	s->out_fd = out_fd;
	s->start = s->end = 0;
	stream_setup_socket(s);

	while (!atomic_load(&server->stopping)) {
		struct imdproxy_request req;
		uint8_t reply[IMDPROXY_MAX_REPLY_HEADER];
		const void *view;
		size_t reply_size, reply_data;
		uint64_t payload, need;
		enum devio_action action;

		r = stream_read_request(s, &req, &payload);
		if (r <= 0)
			break;
		need = payload;
		if (req.code == IMDPROXY_REQ_READ && req.length > need)
			need = req.length;
		if (need > server->buffer_size) {
			/* Reading it all to stay in sync could take forever: drop instead. */
			log_warning("%s: %s of %" PRIu64 " bytes exceeds the buffer size %zu: "
				    "dropping the connection", peer, imdproxy_code_name(req.code),
				    need, server->buffer_size);
			r = -EMSGSIZE;
			break;
		}
		r = data_reserve(server, &data, &data_cap, need);
		if (r < 0) {
			log_warning("%s: %s of %" PRIu64 " bytes: request buffers are at their "
				    "limit (%zu bytes): dropping the connection", peer,
				    imdproxy_code_name(req.code), need, server->max_buffer_memory);
			break;
		}
		r = stream_read(s, data, payload);
		if (r < 0)
			break;
		log_debug("%s: %s offset %" PRIu64 " length %" PRIu64, peer,
			  imdproxy_code_name(req.code), req.offset, req.length);
		action = devio_handle_request(server, &req, data, payload, data_cap, reply,
					      &reply_size, &reply_data, s->is_socket ? &view : NULL);
		if (action == DEVIO_REPLY && s->is_socket && view) {
			r = stream_write_view(s, reply, reply_size, view, reply_data, data);
			if (r < 0)
				break;
			continue;
		}
		if (action == DEVIO_DROP) {
			r = 0;
			break;
		}
		if (action == DEVIO_CLOSE) {
			if (!sessions_per_stream)
				break;
			/* The line stays open: this session's writes are made durable now. */
			if (server->writeback && (r = devio_server_flush(server)) < 0)
				log_warning("%s: flush at the end of the session: %s", peer,
					    strerror(-r));
			log_debug("%s: session closed", peer);
			continue;
		}
		r = stream_write(s, reply, reply_size, data, reply_data);
		if (r < 0)
			break;
	}
	/* Write-back: a session's writes are durable once it ends. */
	if (server->writeback) {
		int f = devio_server_flush(server);
		if (f < 0)
			log_warning("%s: flush at the end of the session: %s", peer, strerror(-f));
	}
	if (r == -ECANCELED)
		r = 0; /* devio is stopping */
	free(data);
	atomic_fetch_sub(&server->buffer_memory, data_cap);
	free(s);
	return r;
}

struct connection {
	struct devio_server *server;
	int fd;
	char peer[INET6_ADDRSTRLEN + 16];
};

static void *connection_thread(void *arg)
{
	struct connection *c = arg;
	struct devio_server *server = c->server;
	int r;

	log_info("%s: connected", c->peer);
	r = devio_serve_stream(server, c->fd, c->fd, c->peer, false);
	if (r == -EPIPE)
		log_warning("%s: disconnected in the middle of a request", c->peer);
	else if (r == -ETIMEDOUT)
		log_info("%s: no request for %u s: closing", c->peer,
			 server->idle_timeout_ms / 1000);
	else if (r < 0 && r != -EMSGSIZE)
		log_warning("%s: connection dropped: %s", c->peer, strerror(-r));
	else
		log_info("%s: disconnected", c->peer);
	close(c->fd);
	free(c);

	pthread_mutex_lock(&server->sessions_lock);
	server->sessions--;
	pthread_cond_broadcast(&server->sessions_done);
	pthread_mutex_unlock(&server->sessions_lock);
	return NULL;
}

static void describe_peer(const struct sockaddr_storage *addr, socklen_t len, char *buf,
			  size_t size)
{
	char host[INET6_ADDRSTRLEN];

	if (addr->ss_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const void *)addr;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, ntohs(in->sin_port));
	} else if (addr->ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const void *)addr;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, size, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, size, "unix client");
	}
}

static void start_connection(struct devio_server *server, int fd,
			     const struct sockaddr_storage *addr, socklen_t len)
{
	struct connection *c;
	pthread_attr_t attr;
	pthread_t thread;
	int one = 1;
	int r;

	if (addr->ss_family == AF_INET || addr->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	pthread_mutex_lock(&server->sessions_lock);
	if (server->sessions >= server->max_connections) {
		pthread_mutex_unlock(&server->sessions_lock);
		log_warning("too many connections (%u): refusing one", server->max_connections);
		close(fd);
		return;
	}
	server->sessions++;
	pthread_mutex_unlock(&server->sessions_lock);

	c = calloc(1, sizeof(*c));
	r = c ? 0 : ENOMEM;
	if (c) {
		c->server = server;
		c->fd = fd;
		describe_peer(addr, len, c->peer, sizeof(c->peer));
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		r = pthread_create(&thread, &attr, connection_thread, c);
		pthread_attr_destroy(&attr);
	}
	if (r != 0) {
		log_warning("cannot serve a connection: %s", strerror(r));
		free(c);
		close(fd);
		pthread_mutex_lock(&server->sessions_lock);
		server->sessions--;
		pthread_cond_broadcast(&server->sessions_done);
		pthread_mutex_unlock(&server->sessions_lock);
	}
}

int devio_accept_loop(struct devio_server *server, const int *fds, size_t count)
{
	struct pollfd polls[DEVIO_MAX_LISTENERS + 1];

	if (count > DEVIO_MAX_LISTENERS)
		return -EINVAL;
	for (size_t i = 0; i < count; i++)
		polls[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
	polls[count] = (struct pollfd){.fd = server->stop_fd, .events = POLLIN};

	while (!atomic_load(&server->stopping)) {
		if (poll(polls, count + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (polls[count].revents)
			break;
		for (size_t i = 0; i < count; i++) {
			struct sockaddr_storage addr;
			socklen_t len = sizeof(addr);
			int fd;

			if (!polls[i].revents)
				continue;
			fd = accept4(fds[i], (struct sockaddr *)&addr, &len, SOCK_CLOEXEC);
			if (fd >= 0) {
				start_connection(server, fd, &addr, len);
				continue;
			}
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* Out of descriptors: wait for connections to end, don't spin. */
				log_warning("accept: %s", strerror(errno));
				poll(&polls[count], 1, 100);
			} else if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
				return -errno;
			}
		}
	}
	return 0;
}
