/* A stream session: IMDPROXY requests read off one connected stream (a socket, a
 * pipe pair, a serial line), each answered by request_handler.c, until the peer
 * ends it, breaks the protocol or stays silent too long, or devio stops.
 *
 * The stream never desynchronises: the size of every request header follows from
 * its code and the size of the data after it is in the header, so a request that
 * is refused (unknown, out of range, read-only) is still read to its end.  Only
 * a request larger than the buffer drops the connection, as the reference does.
 *
 * Reading and writing are src/common/stream_io.h's (a stream_reader holds the
 * bytes read ahead; stream_write_all sends a reply).  What this file adds is how
 * long a read may wait: a socket's read SESSION_STOP_CHECK_MS at a time, another
 * stream's in a poll with the stop event, so that a session sees devio stop (and
 * a socket's idle deadline pass) even in the middle of a request. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
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
#include "common/trace.h"
#include "devio/devio.h"

/* Bytes read ahead from a stream: a header and small data come in one read. */
#define SESSION_READ_AHEAD (64 * 1024)
/* A socket session blocks in read() (one system call per request, where a poll
 * on the stop event first would be two) and looks at the stop flag this often. */
#define SESSION_STOP_CHECK_MS 100
/* A whole largest reply fits in the socket buffer. */
#define SESSION_SOCKET_BUFFER (4 << 20)
/* The request data buffer grows in steps of this much, up to the buffer size. */
#define DATA_BUFFER_STEP (1024 * 1024)

struct session {
	struct devio_server *server;
	const char *peer;
	int in_fd;
	int out_fd;
	bool is_socket; /* one socket both ways: blocking, with a receive timeout */
	bool idle_limited; /* the next request is due by idle_deadline */
	struct timespec idle_deadline;
	uint8_t *data;   /* request data, and a READ's reply data */
	size_t data_cap;
	struct stream_reader reader; /* over ahead */
	uint8_t ahead[SESSION_READ_AHEAD];
};

/* Until in_fd is readable (a stream that is not a socket, polled with the stop
 * event): 0, -ECANCELED when devio stops, or -errno. */
static int session_wait_readable(struct session *s)
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

/* Make at least want bytes buffered in reader (the session's read-ahead, or a
 * reader over request data), one read at a time: 1; 0 when the stream ended with
 * nothing buffered; -EPIPE when it ended after some bytes; -ECANCELED once devio
 * stops; -ETIMEDOUT past the idle deadline; another -errno. */
static int session_fill(struct session *s, struct stream_reader *reader, size_t want)
{
	while (stream_reader_buffered(reader) < want) {
		struct timespec slice;
		int r;

		if (atomic_load(&s->server->stopping))
			return -ECANCELED;
		if (!s->is_socket && (r = session_wait_readable(s)) < 0)
			return r;
		/* One read: a socket's waits there for its receive timeout at most, the
		 * poll after an EAGAIN only for what is left of the slice. */
		slice = deadline_after_ms(SESSION_STOP_CHECK_MS);
		r = stream_reader_fill(reader, stream_reader_buffered(reader) + 1, &slice);
		if (r == -ETIMEDOUT) {
			if (s->idle_limited && deadline_passed(&s->idle_deadline))
				return -ETIMEDOUT;
			continue;
		}
		/* A tty whose other side hung up says EIO: that is an end of stream. */
		if (r == -EIO && isatty(reader->fd))
			return stream_reader_buffered(reader) == 0 ? 0 : -EPIPE;
		if (r <= 0)
			return r;
	}
	return 1;
}

/* Read the next request header: 1, 0 at a clean end of stream, or negative. */
static int session_read_request(struct session *s, struct imdproxy_request *req, uint64_t *payload)
{
	struct stream_reader *reader = &s->reader;
	size_t header_size;
	int r;

	s->idle_limited = s->is_socket && s->server->idle_timeout_ms > 0;
	if (s->idle_limited)
		s->idle_deadline = deadline_after_ms(s->server->idle_timeout_ms);
	r = session_fill(s, reader, IMDPROXY_CODE_SIZE);
	if (r <= 0)
		return r;
	header_size = imdproxy_request_header_size(get_le64(reader->buf + reader->start));
	r = session_fill(s, reader, header_size);
	if (r <= 0)
		return r < 0 ? r : -EPIPE;
	r = imdproxy_decode_request(reader->buf + reader->start, stream_reader_buffered(reader), req,
				    payload);
	if (r < 0) {
		trace(TRACE_DEVIO, "%s: undecodable request header (code %" PRIu64 "): %d", s->peer,
		      get_le64(reader->buf + reader->start), r);
		return r;
	}
	reader->start += (size_t)r; /* the header is decoded in place: taken */
	return 1;
}

/* Read exactly len bytes of request data into dst: the buffered ones first, a
 * large rest straight into dst (a reader over dst itself), a small one through
 * the read-ahead.  0, or negative (-EPIPE when the stream ends first). */
static int session_read_data(struct session *s, uint8_t *dst, size_t len)
{
	size_t buffered = stream_reader_buffered(&s->reader);
	size_t take = len < buffered ? len : buffered;
	int r = 1;

	stream_reader_take(&s->reader, dst, take, NULL); /* all buffered: no read */
	dst += take;
	len -= take;
	if (len >= s->reader.size / 2) {
		struct stream_reader direct;

		stream_reader_init(&direct, s->in_fd, dst, len);
		r = session_fill(s, &direct, len);
	} else if (len > 0) {
		r = session_fill(s, &s->reader, len);
		if (r > 0)
			stream_reader_take(&s->reader, dst, len, NULL);
	}
	return r > 0 ? 0 : r == 0 ? -EPIPE : r;
}

/* Send a reply header and its data with as few calls as the kernel allows. */
static int session_reply(struct session *s, const uint8_t *header, size_t header_size,
			 const uint8_t *data, size_t data_size)
{
	struct iovec iov[2] = {
		{.iov_base = (void *)header, .iov_len = header_size},
		{.iov_base = (void *)data, .iov_len = data_size},
	};

	return stream_write_all(s->out_fd, iov, 2, NULL);
}

/* A READ reply whose data is the disk's own bytes (a view): one send that does
 * not wait puts out as much as the socket takes, the rest is copied out so that
 * the disk is not held while a slow client reads, then sent by session_reply. */
static int session_reply_view(struct session *s, const uint8_t *header, size_t header_size,
			      const uint8_t *view, size_t data_size)
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
	memcpy(s->data + sent_data, view + sent_data, data_size - sent_data);
	devio_view_end(s->server);
	if (header_size == 0 && sent_data == data_size)
		return 0;
	return session_reply(s, header, header_size, s->data + sent_data, data_size - sent_data);
}

/* Sockets block in read with a timeout (see SESSION_STOP_CHECK_MS); big buffers. */
static void session_setup_socket(struct session *s)
{
	struct timeval tv = {.tv_sec = 0, .tv_usec = SESSION_STOP_CHECK_MS * 1000};
	struct stat st;
	int flags;

	s->is_socket = false;
	if (s->in_fd != s->out_fd || fstat(s->in_fd, &st) < 0 || !S_ISSOCK(st.st_mode))
		return;
	flags = fcntl(s->in_fd, F_GETFL);
	if (flags < 0 || fcntl(s->in_fd, F_SETFL, flags & ~O_NONBLOCK) < 0 ||
	    setsockopt(s->in_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		/* Served as a plain stream instead: polled with the stop event. */
		trace_dropped(TRACE_DEVIO, "the socket set-up", -errno);
		return;
	}
	socket_enlarge_buffers(s->in_fd, SESSION_SOCKET_BUFFER);
	s->is_socket = true;
}

/* Room for a request's data, grown on demand: most clients never send 64 MiB.
 * Every connection's buffer counts against the server's max_buffer_memory, so
 * that headers claiming large requests on many connections cannot make devio
 * commit more than that: -ENOMEM past it. */
static int session_reserve_data(struct session *s, uint64_t need)
{
	struct devio_server *server = s->server;
	size_t size, held;

	if (need <= s->data_cap && s->data)
		return 0;
	size = (size_t)((need + DATA_BUFFER_STEP - 1) / DATA_BUFFER_STEP * DATA_BUFFER_STEP);
	if (size == 0)
		size = DATA_BUFFER_STEP;
	held = atomic_fetch_add(&server->buffer_memory, size - s->data_cap) + (size - s->data_cap);
	free(s->data);
	s->data = NULL;
	if (held > server->max_buffer_memory) {
		atomic_fetch_sub(&server->buffer_memory, size);
		s->data_cap = 0;
		return -ENOMEM;
	}
	s->data = malloc(size);
	if (!s->data) {
		atomic_fetch_sub(&server->buffer_memory, size);
		s->data_cap = 0;
		return -ENOMEM;
	}
	s->data_cap = size;
	return 0;
}

/* Write-back: a session's writes are made durable once it ends. */
static void session_end_flush(struct session *s)
{
	int r;

	if (!s->server->writeback)
		return;
	r = devio_server_flush(s->server);
	if (r < 0)
		log_warning("%s: flush at the end of the session: %s", s->peer, strerror(-r));
}

/* One request, read and answered: 1 to go on, 0 when the stream's sessions are
 * over, or negative. */
static int session_serve_one(struct session *s, bool sessions_per_stream)
{
	struct devio_server *server = s->server;
	struct imdproxy_request req;
	uint8_t reply[IMDPROXY_MAX_REPLY_HEADER];
	const void *view;
	size_t reply_size, reply_data;
	uint64_t payload, need;
	enum devio_action action;
	int r;

	r = session_read_request(s, &req, &payload);
	if (r <= 0)
		return r;
	need = payload;
	if (req.code == IMDPROXY_REQ_READ && req.length > need)
		need = req.length;
	if (need > server->buffer_size) {
		/* Reading it all to stay in sync could take forever: drop instead. */
		log_warning("%s: %s of %" PRIu64 " bytes exceeds the buffer size %zu: "
			    "dropping the connection", s->peer, imdproxy_code_name(req.code),
			    need, server->buffer_size);
		return -EMSGSIZE;
	}
	r = session_reserve_data(s, need);
	if (r < 0) {
		log_warning("%s: %s of %" PRIu64 " bytes: request buffers are at their "
			    "limit (%zu bytes): dropping the connection", s->peer,
			    imdproxy_code_name(req.code), need, server->max_buffer_memory);
		return r;
	}
	r = session_read_data(s, s->data, (size_t)payload);
	if (r < 0)
		return r;
	log_debug("%s: %s offset %" PRIu64 " length %" PRIu64, s->peer,
		  imdproxy_code_name(req.code), req.offset, req.length);
	action = devio_handle_request(server, &req, s->data, payload, s->data_cap, reply,
				      &reply_size, &reply_data, s->is_socket ? &view : NULL);
	switch (action) {
	case DEVIO_DROP:
		trace(TRACE_DEVIO, "%s: %s dropped unanswered: devio is stopping", s->peer,
		      imdproxy_code_name(req.code));
		return 0;
	case DEVIO_CLOSE:
		trace(TRACE_DEVIO, "%s: session closed by the client", s->peer);
		if (!sessions_per_stream)
			return 0;
		/* The line stays open: this session's writes are made durable now. */
		session_end_flush(s);
		return 1;
	case DEVIO_REPLY:
		break;
	}
	if (s->is_socket && view)
		r = session_reply_view(s, reply, reply_size, view, reply_data);
	else
		r = session_reply(s, reply, reply_size, s->data, reply_data);
	return r < 0 ? r : 1;
}

int devio_serve_stream(struct devio_server *server, int in_fd, int out_fd, const char *peer,
		       bool sessions_per_stream)
{
	struct session *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	s->server = server;
	s->peer = peer;
	s->in_fd = in_fd;
	s->out_fd = out_fd;
	stream_reader_init(&s->reader, in_fd, s->ahead, sizeof(s->ahead));
	session_setup_socket(s);
	trace(TRACE_DEVIO, "%s: session open (%s)", peer, s->is_socket ? "socket" : "stream");

	do
		r = atomic_load(&server->stopping) ? 0 : session_serve_one(s, sessions_per_stream);
	while (r > 0);
	session_end_flush(s);
	if (r == -ECANCELED)
		r = 0; /* devio is stopping */
	trace(TRACE_DEVIO, "%s: session over: %s", peer, r == 0 ? "ended" : strerror(-r));
	free(s->data);
	atomic_fetch_sub(&server->buffer_memory, s->data_cap);
	free(s);
	return r;
}
