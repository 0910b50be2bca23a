/* The request handlers: decode one FUSE request, do it against the namespace
 * and its disks, build the answer, and give it to the exchange's channel.
 * They know nothing of the channel a request came on (fuse_channel.h), so a
 * test or a fuzzer can drive them with a channel of its own. */
#ifndef IMDISK_TRANSPORT_FUSE_HANDLERS_H
#define IMDISK_TRANSPORT_FUSE_HANDLERS_H

#include <stddef.h>
#include <stdint.h>

#include "transport/fuse_channel.h"
#include "transport/fuse_files.h"

/* Size of the fixed argument in front of a request's payload (fuse_read_in for
 * READ...); 0 for none, or one the handlers do not look at. */
size_t fuse_request_op_size(uint32_t opcode);

/* One request, whichever way it came: `op` is the opcode's fixed argument,
 * at least fuse_request_op_size() bytes; `payload` what follows it (WRITE
 * data, a LOOKUP name, the BATCH_FORGET list).  Sets exchange->answered when
 * it answered (or deferred) the request. */
void fuse_handle_request(struct fuse_files *files, struct fuse_exchange *exchange, const struct fuse_in_header *in,
			 const void *op, const void *payload, size_t payload_len);

/* A request laid out as /dev/fuse delivers it (fuse_in_header, fixed argument,
 * payload), `len` bytes.  -EPROTO, with nothing answered, when it is shorter
 * than a header; a fixed argument cut short is answered EINVAL. */
int fuse_handle_message(struct fuse_files *files, struct fuse_exchange *exchange, const void *message, size_t len);

#endif
