/* Opening the byte streams IMDPROXY runs on: a unix socket or TCP.
 * Silent: a negative errno on failure.  Used by imdisk (with the caller's rights)
 * and by imdiskd to reconnect a proxy disk whose server went away. */
#ifndef IMDISK_COMMON_STREAM_CONNECT_H
#define IMDISK_COMMON_STREAM_CONNECT_H

#define STREAM_DEFAULT_TCP_PORT "9000" /* ImDisk's client-side default */

/* A unix-domain stream socket at path. */
int stream_connect_unix(const char *path);

/* "host", "host:port", "[v6]:port" or a bare IPv6 address; TCP_NODELAY set.
 * -EINVAL for a malformed target, -EHOSTUNREACH when the name does not resolve. */
int stream_connect_tcp(const char *target);

#endif
