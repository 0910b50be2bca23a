/* -t proxy: imdisk opens the connection to the IMDPROXY server with the caller's
 * rights (what ImDisk's proxy service did) and hands the descriptor to imdiskd. */
#ifndef IMDISK_CLI_PROXY_H
#define IMDISK_CLI_PROXY_H

#include <stdint.h>

/* `kind` is IMDISK_PROXY_TYPE_DIRECT (a unix socket path), _TCP ("host[:port]",
 * default port 9000, "[v6addr]:port") or _COMM ("device[:baud[,data,parity,stop]]",
 * src/common/serial_port.h).  Returns a connected descriptor, or negative errno
 * with the failure recorded (STEP_PROXY: exit 7). */
int proxy_connect(const char *target, uint32_t kind);

#endif
