/* inetd style: one session on stdin/stdout, whatever they are (a socket from
 * inetd or systemd, a pipe from ssh).  stdout carries protocol bytes only: every
 * message goes to stderr. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "devio/devio.h"

int devio_serve_stdio(struct devio_server *server)
{
	int one = 1;

	/* Harmless when stdout is not a TCP socket. */
	setsockopt(STDOUT_FILENO, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return devio_serve_stream(server, STDIN_FILENO, STDOUT_FILENO, "stdio", false);
}
