#include "common/stream_io.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/deadline.h"

/* Wait for events on fd: 0 when something happened (the next call says what). */
static int wait_for(int fd, short events, const struct timespec *deadline)
{
	struct pollfd pfd = {.fd = fd, .events = events};
	int n = deadline_poll(&pfd, 1, deadline);

	return n < 0 ? n : 0;
}

int stream_write_all(int fd, struct iovec *iov, int iovcnt, const struct timespec *deadline)
{
	bool is_socket = true;

	while (iovcnt > 0 && iov->iov_len == 0) {
		iov++;
		iovcnt--;
	}
	while (iovcnt > 0) {
		ssize_t n;

		if (is_socket) {
			struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};
			n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0 && errno == ENOTSOCK) {
				is_socket = false;
				continue;
			}
		} else {
			n = writev(fd, iov, iovcnt);
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = wait_for(fd, POLLOUT, deadline);
			if (r < 0)
				return r;
			continue;
		}
		if (n < 0)
			return -errno;
		while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

void stream_reader_init(struct stream_reader *reader, int fd, uint8_t *buf, size_t size)
{
	reader->fd = fd;
	reader->buf = buf;
	reader->size = size;
	reader->start = reader->end = 0;
}

/* One read of at most len bytes: the count, 0 at end of stream, or negative. */
static ssize_t read_some(int fd, void *dst, size_t len, const struct timespec *deadline)
{
	for (;;) {
		ssize_t n = read(fd, dst, len);

		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int r = wait_for(fd, POLLIN, deadline);
			if (r < 0)
				return r;
			continue;
		}
		return -errno;
	}
}

int stream_reader_fill(struct stream_reader *reader, size_t want, const struct timespec *deadline)
{
	if (want > reader->size)
		return -EMSGSIZE;
	if (reader->end - reader->start >= want)
		return 1;
	if (reader->size - reader->start < want) {
		memmove(reader->buf, reader->buf + reader->start, reader->end - reader->start);
		reader->end -= reader->start;
		reader->start = 0;
	}
	while (reader->end - reader->start < want) {
		ssize_t n = read_some(reader->fd, reader->buf + reader->end,
				      reader->size - reader->end, deadline);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return reader->end == reader->start ? 0 : -EPIPE;
		reader->end += (size_t)n;
	}
	return 1;
}

int stream_reader_take(struct stream_reader *reader, void *dst, size_t len,
		       const struct timespec *deadline)
{
	uint8_t *p = dst;
	size_t buffered = reader->end - reader->start;
	size_t take = len < buffered ? len : buffered;

	memcpy(p, reader->buf + reader->start, take);
	reader->start += take;
	p += take;
	len -= take;
	/* A rest of half the buffer or more skips the copy through it. */
	while (len >= reader->size / 2 && len > 0) {
		ssize_t n = read_some(reader->fd, p, len, deadline);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	if (len > 0) {
		int r = stream_reader_fill(reader, len, deadline);
		if (r <= 0)
			return r < 0 ? r : -EPIPE;
		memcpy(p, reader->buf + reader->start, len);
		reader->start += len;
	}
	return 0;
}
