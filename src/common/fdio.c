#include "common/fdio.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* What to do at end of file before the whole length moved. */
enum short_end { END_IS_ERROR, END_READS_ZEROES, END_STOPS };

/* The one loop behind every whole-buffer transfer: retries EINTR and short
 * transfers; offset < 0 means the descriptor's own position (read/write).
 * Returns the bytes moved (END_STOPS: fewer at end of file) or a negative errno. */
static ssize_t transfer(int fd, void *buf, size_t len, off_t offset, bool writing, enum short_end at_end)
{
	uint8_t *p = buf;
	size_t done = 0;

	while (len) {
		ssize_t n;

		if (writing)
			n = offset < 0 ? write(fd, p, len) : pwrite(fd, p, len, offset);
		else
			n = offset < 0 ? read(fd, p, len) : pread(fd, p, len, offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0 && !writing) {
			if (at_end == END_IS_ERROR)
				return -EPIPE;
			if (at_end == END_STOPS)
				return (ssize_t)done;
			memset(p, 0, len);
			return (ssize_t)(done + len);
		}
		p += n;
		len -= (size_t)n;
		done += (size_t)n;
		if (offset >= 0)
			offset += n;
	}
	return (ssize_t)done;
}

static int transfer_full(int fd, void *buf, size_t len, off_t offset, bool writing, enum short_end at_end)
{
	ssize_t r = transfer(fd, buf, len, offset, writing, at_end);

	return r < 0 ? (int)r : 0;
}

ssize_t read_up_to(int fd, void *buf, size_t len)
{
	return transfer(fd, buf, len, -1, false, END_STOPS);
}

ssize_t pread_up_to(int fd, void *buf, size_t len, off_t offset)
{
	return transfer(fd, buf, len, offset, false, END_STOPS);
}

int read_full(int fd, void *buf, size_t len)
{
	return transfer_full(fd, buf, len, -1, false, END_IS_ERROR);
}

int write_full(int fd, const void *buf, size_t len)
{
	return transfer_full(fd, (void *)buf, len, -1, true, END_IS_ERROR);
}

int pread_full(int fd, void *buf, size_t len, off_t offset)
{
	return transfer_full(fd, buf, len, offset, false, END_IS_ERROR);
}

int pread_zero_filled(int fd, void *buf, size_t len, off_t offset)
{
	return transfer_full(fd, buf, len, offset, false, END_READS_ZEROES);
}

int pwrite_full(int fd, const void *buf, size_t len, off_t offset)
{
	return transfer_full(fd, (void *)buf, len, offset, true, END_IS_ERROR);
}

int send_with_fd(int sock, const void *buf, size_t len, int fd)
{
	union {
		struct cmsghdr header;
		char space[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	const uint8_t *p = buf;

	if (fd >= 0) {
		memset(&control, 0, sizeof(control));
		msg.msg_control = control.space;
		msg.msg_controllen = sizeof(control.space);
		struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	}
	while (len) {
		ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
		iov.iov_base = (void *)p;
		iov.iov_len = len;
		msg.msg_control = NULL; /* the descriptor went with the first bytes */
		msg.msg_controllen = 0;
	}
	return 0;
}

int recv_with_fd(int sock, void *buf, size_t len, int *fd)
{
	uint8_t *p = buf;

	*fd = -1;
	while (len) {
		union {
			struct cmsghdr header;
			char space[CMSG_SPACE(sizeof(int) * 4)];
		} control;
		struct iovec iov = {.iov_base = p, .iov_len = len};
		struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = control.space, .msg_controllen = sizeof(control.space)};
		ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = -errno;
			if (*fd >= 0)
				close(*fd);
			*fd = -1;
			return err;
		}
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < count; i++) {
				int received;
				memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (*fd < 0)
					*fd = received;
				else
					close(received); /* only one is ever expected */
			}
		}
		if (n == 0) {
			if (*fd >= 0)
				close(*fd);
			*fd = -1;
			return -EPIPE;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void socket_enlarge_buffers(int sock, int bytes)
{
	if (setsockopt(sock, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof(bytes)) < 0)
		setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
	if (setsockopt(sock, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) < 0)
		setsockopt(sock, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
}
