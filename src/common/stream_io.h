/* Stream transfers with a deadline, shared by the IMDPROXY client and server:
 * write all of an iovec, and a read-ahead reader that takes exact byte counts.
 *
 * The descriptors are non-blocking, or sockets with a receive timeout
 * (SO_RCVTIMEO): a call then waits in poll() until its deadline.  On a plain
 * blocking descriptor the deadline holds only between system calls.
 *
 * Results: 0 (or a count), -ETIMEDOUT when the deadline passed, -EPIPE when the
 * peer closed the stream in the middle of a transfer, -ECONNRESET when it reset
 * the connection, another -errno for other failures. */
#ifndef IMDISK_COMMON_STREAM_IO_H
#define IMDISK_COMMON_STREAM_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <time.h>

/* Write every byte of iov (iovcnt entries), across partial writes and EINTR.
 * The entries are advanced in place.  Sockets are written with MSG_NOSIGNAL; on
 * a pipe the caller ignores SIGPIPE to get -EPIPE. */
int stream_write_all(int fd, struct iovec *iov, int iovcnt, const struct timespec *deadline);

/* Bytes read ahead from fd into the caller's buffer: received ones are
 * buf[start, end). */
struct stream_reader {
	int fd;
	uint8_t *buf;
	size_t size, start, end;
};

void stream_reader_init(struct stream_reader *reader, int fd, uint8_t *buf, size_t size);
/* Bytes buffered and not yet taken, at buf + start. */
static inline size_t stream_reader_buffered(const struct stream_reader *reader)
{
	return reader->end - reader->start;
}
/* Make at least want (<= size) bytes buffered: 1; 0 when the stream ended
 * cleanly with nothing buffered; -EPIPE when it ended after some bytes. */
int stream_reader_fill(struct stream_reader *reader, size_t want, const struct timespec *deadline);
/* Take exactly len bytes into dst: buffered ones first, a large rest read
 * straight into dst.  0, or -EPIPE when the stream ends first. */
int stream_reader_take(struct stream_reader *reader, void *dst, size_t len,
		       const struct timespec *deadline);

#endif
