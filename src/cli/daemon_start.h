/* Reaching imdiskd, starting it first when nothing answers and we may. */
#ifndef IMDISK_CLI_DAEMON_START_H
#define IMDISK_CLI_DAEMON_START_H

struct imdisk_client;

/* Connect to the socket --socket names (NULL: $IMDISK_SOCKET, else the default).
 * When nothing listens there and we run as root, start the imdiskd installed
 * beside this program (else the one on PATH) and wait up to 5 s for it.
 * Returns 0 or negative errno (failure recorded as STEP_CONNECT). */
int daemon_connect(const char *socket_option, struct imdisk_client **out);

#endif
