/* Opening the byte streams IMDPROXY runs on: a unix socket or TCP.
 * Silent: a negative errno on failure.  Used by imdisk (with the caller's rights)
 * and by imdiskd to reconnect a proxy disk whose server went away.
 *
 * Every step is bounded by one deadline: name resolution (getaddrinfo in a
 * thread of its own, waited for until the deadline; a numeric address is
 * resolved at once), and each connect (non-blocking, then poll; a unix socket
 * whose listener's backlog is full waits for room at most until the deadline).
 * A silent host or a server that stopped accepting costs at most the timeout:
 * -ETIMEDOUT. */
#ifndef IMDISK_COMMON_STREAM_CONNECT_H
#define IMDISK_COMMON_STREAM_CONNECT_H

#include <sys/socket.h>

#define STREAM_DEFAULT_TCP_PORT "9000" /* ImDisk's client-side default */
/* What imdisk waits for a proxy server to answer a connect (resolution included). */
#define STREAM_CONNECT_DEFAULT_TIMEOUT_MS 30000

/* Where a reconnect must arrive (the peer of the creator's connection): a
 * connection whose getpeername() differs is closed and not returned.  len 0:
 * anywhere. */
struct stream_peer {
	struct sockaddr_storage address;
	socklen_t len;
};

/* The peer of the connected socket fd. */
int stream_peer_of(int fd, struct stream_peer *peer);

/* A unix-domain stream socket at path, within timeout_ms; -EADDRNOTAVAIL when
 * pinned (non-NULL, len > 0) and the peer is another. */
int stream_connect_unix_within(const char *path, int timeout_ms, const struct stream_peer *pinned);

/* "host", "host:port", "[v6]:port" or a bare IPv6 address, within timeout_ms
 * (resolution and connects together); TCP_NODELAY set.  -EINVAL for a malformed
 * target, -EHOSTUNREACH when the name does not resolve, -ETIMEDOUT when the time
 * ran out, -EADDRNOTAVAIL when pinned and no resolved address is the pinned one. */
int stream_connect_tcp_within(const char *target, int timeout_ms, const struct stream_peer *pinned);

/* The same with STREAM_CONNECT_DEFAULT_TIMEOUT_MS and no pinning (imdisk). */
int stream_connect_unix(const char *path);
int stream_connect_tcp(const char *target);

#endif
