/* NBD disks: imdisk parses the URI and opens the connection to the NBD server
 * with the caller's rights, as for IMDPROXY (cli/proxy.h); imdiskd runs the
 * handshake on the descriptor it is handed (and opens more connections to a
 * multi-conn server only with the caller's rights, to the same peer). */
#ifndef IMDISK_CLI_NBD_H
#define IMDISK_CLI_NBD_H

#include <stdint.h>

/* uri is nbd://HOST[:PORT]/EXPORT or nbd+unix:///EXPORT?socket=PATH
 * (common/nbd_uri.h).  Sets *proxy_kind to IMDISK_PROXY_TYPE_TCP or _DIRECT and
 * returns the connected descriptor, or a negative errno with the failure
 * recorded: a malformed URI is STEP_USAGE (exit 13), TLS STEP_UNSUPPORTED
 * (exit 3), a server not reached STEP_PROXY (exit 7). */
int nbd_connect_uri(const char *uri, uint32_t *proxy_kind);

#endif
