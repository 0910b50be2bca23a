/* The kernel side of the FUSE protocol, as this transport speaks it.
 *
 * The stable protocol comes from the kernel's own UAPI header (linux/fuse.h):
 * those layouts are the ABI.  FUSE over io_uring (protocol 7.42, kernel 6.14)
 * is newer than the header of the systems we build on (Debian 12 has 7.38), so
 * its part of the ABI is spelled out here under our own names, and so are the
 * limits we announce at INIT. */
#ifndef IMDISK_TRANSPORT_FUSE_KERNEL_ABI_H
#define IMDISK_TRANSPORT_FUSE_KERNEL_ABI_H

#include <linux/fuse.h>
#include <stdint.h>
#include <sys/stat.h>

/* ---- FUSE over io_uring ---- */

#define FUSE_ABI_OVER_IO_URING (1u << 9)      /* FUSE_OVER_IO_URING, in init flags2 */
#define FUSE_ABI_URING_REGISTER 1u            /* register a buffer, fetch a request */
#define FUSE_ABI_URING_COMMIT_AND_FETCH 2u    /* answer the request, fetch the next */

struct fuse_abi_uring_ent_in_out {
	uint64_t flags;
	uint64_t commit_id; /* to name the request when committing its reply */
	uint32_t payload_sz;
	uint32_t padding;
	uint64_t reserved;
};

/* The first buffer of a ring entry. */
struct fuse_abi_uring_header {
	unsigned char in_out[128]; /* fuse_in_header, then our fuse_out_header */
	unsigned char op_in[128];  /* the opcode's fixed argument (fuse_read_in...) */
	struct fuse_abi_uring_ent_in_out ent_in_out;
};

/* In the 80-byte command area of a 128-byte SQE. */
struct fuse_abi_uring_cmd {
	uint64_t flags;
	uint64_t commit_id;
	uint16_t qid;
	uint8_t padding[6];
};

_Static_assert(sizeof(struct fuse_abi_uring_ent_in_out) == 32, "fuse_uring_ent_in_out is 32 bytes");
_Static_assert(sizeof(struct fuse_abi_uring_cmd) == 24, "fuse_uring_cmd_req is 24 bytes");

/* ---- what we announce and assume ---- */

/* 256 pages (1 MiB on 4 KiB pages) per request: the kernel's default
 * fs.fuse.max_pages_limit, and what lets a 1 MiB loop request travel as one
 * FUSE request. */
#define FUSE_ABI_MAX_PAGES 256u

/* Requests the kernel may keep in flight for asynchronous direct I/O (the loop
 * driver's path).  The kernel default is 12, far below the queue depths a
 * block device sees. */
#define FUSE_ABI_MAX_BACKGROUND 512u

/* Names and sizes only change through add/remove/resized, which invalidate the
 * kernel's caches themselves: long timeouts cost nothing. */
#define FUSE_ABI_TIMEOUT 3600u

/* The oldest protocol we answer: 7.28 brought max_pages. */
#define FUSE_ABI_MIN_MINOR 28u

#define FUSE_ABI_ROOT_MODE (S_IFDIR | 0755)

#endif
