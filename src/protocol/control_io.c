#include "protocol/control_io.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/fdio.h"

int control_send(int sock, const struct control_message *m, int fd)
{
	uint8_t *buf = malloc(CONTROL_MAX_MESSAGE);
	int size, r;

	if (!buf)
		return -ENOMEM;
	size = control_encode(m, buf, CONTROL_MAX_MESSAGE);
	r = size < 0 ? size : send_with_fd(sock, buf, (size_t)size, fd);
	free(buf);
	return r;
}

int control_receive(int sock, struct control_message *m, int *fd)
{
	uint8_t *buf = malloc(CONTROL_MAX_MESSAGE);
	int received_fd = -1, more_fd = -1;
	int size, r;

	if (!buf)
		return -ENOMEM;
	r = recv_with_fd(sock, buf, CONTROL_HEADER_SIZE, &received_fd);
	if (r < 0)
		goto out;
	size = control_message_size(buf, CONTROL_HEADER_SIZE);
	if (size < 0) {
		r = size;
		goto out;
	}
	if (size > CONTROL_HEADER_SIZE) {
		r = recv_with_fd(sock, buf + CONTROL_HEADER_SIZE, (size_t)size - CONTROL_HEADER_SIZE, &more_fd);
		if (r < 0)
			goto out;
		if (received_fd < 0) {
			received_fd = more_fd;
			more_fd = -1;
		}
	}
	r = control_decode(buf, (size_t)size, m);
out:
	if (more_fd >= 0)
		close(more_fd);
	if (r < 0 || !fd) {
		if (received_fd >= 0)
			close(received_fd);
		received_fd = -1;
	}
	if (fd)
		*fd = received_fd;
	free(buf);
	return r;
}
