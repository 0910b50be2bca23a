/* Sending and receiving whole control messages on a unix socket, with at most one
 * descriptor attached: used by both libimdisk and imdiskd. */
#ifndef IMDISK_PROTOCOL_CONTROL_IO_H
#define IMDISK_PROTOCOL_CONTROL_IO_H

#include "protocol/control.h"

/* Encode and send `m`, attaching fd when fd >= 0. */
int control_send(int sock, const struct control_message *m, int fd);

/* Receive one message into `m`; a descriptor that came with it goes to *fd (else -1;
 * fd may be NULL, then any descriptor is closed).  -EPIPE when the peer closed,
 * -EBADMSG for a malformed message. */
int control_receive(int sock, struct control_message *m, int *fd);

#endif
