/* NBD URIs (the NBD project's URI spec, the part this client speaks): pure
 * parsing, shared by imdisk (which connects) and imdiskd (which only needs the
 * export name of a connection it was handed).
 *
 *   nbd://[HOST[:PORT]]/[EXPORT]          TCP, port 10809 by default
 *   nbd+unix:///[EXPORT]?socket=PATH      a unix-domain socket
 *
 * EXPORT is percent-decoded.  nbds:// and nbds+unix:// (TLS) are recognised and
 * refused with -EPROTONOSUPPORT.  User names and any other query parameter
 * (tls-*, which could carry secrets) are refused: so the URI as given holds no
 * secret and may be shown as it is. */
#ifndef IMDISK_COMMON_NBD_URI_H
#define IMDISK_COMMON_NBD_URI_H

#include <limits.h>
#include <stdbool.h>

#define NBD_URI_DEFAULT_PORT "10809"
#define NBD_URI_EXPORT_MAX 4096 /* the protocol's limit on a name */

struct nbd_uri {
	bool unix_socket;
	char host[256];          /* TCP: a name, an IPv4 address or a bare IPv6 one */
	char port[16];
	char socket_path[PATH_MAX]; /* unix */
	char export_name[NBD_URI_EXPORT_MAX + 1];
};

/* True when text names one of the schemes above (well-formed or not). */
bool nbd_uri_is_nbd(const char *text);

/* 0, -EPROTONOSUPPORT (TLS), or -EINVAL with *why saying what is wrong (a
 * static string). */
int nbd_uri_parse(const char *text, struct nbd_uri *out, const char **why);

#endif
