/* The disk interface: what every frontend (FUSE transport, devio's servers) calls
 * and every backend (memory, file, proxy client) and layer (window, read-only,
 * byte swap) implements.  Byte offsets; a negative errno on failure.
 *
 * Every disk takes callers from several threads at once: each op may run
 * concurrently with any other op on the same disk except close (and resize,
 * which its caller serialises against I/O of the range it changes).  There is
 * no serialised mode: a disk that needs a lock keeps its own. */
#ifndef IMDISK_VDISK_VDISK_H
#define IMDISK_VDISK_VDISK_H

#include <stddef.h>
#include <stdint.h>

#define VDISK_READ_ONLY 0x01u  /* writes, trims and zeroes fail with -EROFS */
#define VDISK_CAN_TRIM 0x02u   /* trim really frees space (else it is a no-op) */
#define VDISK_CAN_ZERO 0x04u   /* zero is done natively (else by writing zeroes) */
#define VDISK_CAN_FLUSH 0x08u  /* flush means something (else vdisk_flush does nothing) */
#define VDISK_TRIM_ZEROES 0x20u /* a trim leaves zeroes behind (it punches holes) */
#define VDISK_ASYNC_READ 0x40u  /* read_async may start reads (it can still say no) */
#define VDISK_ASYNC_WRITE 0x80u /* write_async may start writes (it can still say no) */

struct vdisk;

/* Where an asynchronous read ends: called once, from any thread, with 0 and the
 * bytes (valid only during the call) or a negative errno. */
typedef void (*vdisk_read_done_fn)(void *opaque, int result, const void *data, size_t len);
/* Where an asynchronous write ends: called once, from any thread, with 0 (all
 * of it written) or a negative errno. */
typedef void (*vdisk_write_done_fn)(void *opaque, int result);

struct vdisk_ops {
	const char *name; /* "memory", "file", "proxy", "window", ... */
	int (*read)(struct vdisk *disk, void *buf, size_t len, uint64_t offset);
	int (*write)(struct vdisk *disk, const void *buf, size_t len, uint64_t offset);
	int (*flush)(struct vdisk *disk);
	/* trim and zero may answer -EOPNOTSUPP: the entry points then fall back. */
	int (*trim)(struct vdisk *disk, uint64_t offset, uint64_t len);
	int (*zero)(struct vdisk *disk, uint64_t offset, uint64_t len);
	/* Optional: the bytes [offset, offset + len) where they are kept, for a
	 * caller that only copies them on (into a FUSE answer, onto a socket): that
	 * saves a copy and a system call over read.  NULL when the disk cannot show
	 * this range in place (the caller then reads); otherwise the bytes stay
	 * valid, and the disk's layout fixed, until view_end. */
	const void *(*view)(struct vdisk *disk, size_t len, uint64_t offset);
	void (*view_end)(struct vdisk *disk);
	/* Optional: start a read and return at once; `done` gets the bytes later,
	 * from another thread.  For a disk whose reads wait on something other than
	 * the CPU (a server), so that one caller keeps many reads in flight.  Any
	 * negative errno means "not started, read instead" (done is not called).
	 * A disk with it sets VDISK_ASYNC_READ, which layers that pass it on keep:
	 * callers look at the flag before preparing an asynchronous read. */
	int (*read_async)(struct vdisk *disk, size_t len, uint64_t offset, vdisk_read_done_fn done, void *opaque);
	/* Optional: start a write and return at once; `done` gets its result later,
	 * from another thread.  The same contract as read_async (any negative
	 * errno: not started, write instead; VDISK_ASYNC_WRITE says the disk has
	 * it), and one more: `buf` stays the caller's, unchanged, until done is
	 * called, because the disk may send it again (after a lost connection). */
	int (*write_async)(struct vdisk *disk, const void *buf, size_t len, uint64_t offset, vdisk_write_done_fn done,
			   void *opaque);
	/* Change the size (grow); NULL when the disk cannot. */
	int (*resize)(struct vdisk *disk, uint64_t new_size);
	/* Free everything, including the lower disk of a layer. */
	void (*close)(struct vdisk *disk);
};

struct vdisk {
	const struct vdisk_ops *ops;
	uint64_t size;     /* bytes */
	uint32_t flags;    /* VDISK_* */
	struct vdisk *lower; /* a layer's disk underneath, else NULL */
};

/* The entry points: range-checked (-EINVAL past the end, -EROFS on a read-only
 * disk), then passed to the ops.  Missing or unsupported ops fall back: flush and
 * trim (advice: the contents no longer matter) succeed doing nothing, zero writes
 * zeroes.  Flush calls the op only on a disk with VDISK_CAN_FLUSH. */
int vdisk_read(struct vdisk *disk, void *buf, size_t len, uint64_t offset);
int vdisk_write(struct vdisk *disk, const void *buf, size_t len, uint64_t offset);
int vdisk_flush(struct vdisk *disk);
int vdisk_trim(struct vdisk *disk, uint64_t offset, uint64_t len);
/* vdisk_trim that says -EOPNOTSUPP where the disk cannot trim (instead of
 * succeeding): what a layer passes a trim on with, so that vdisk_punch on the
 * layer still zeroes where the disk underneath cannot trim. */
int vdisk_try_trim(struct vdisk *disk, uint64_t offset, uint64_t len);
int vdisk_zero(struct vdisk *disk, uint64_t offset, uint64_t len);
/* The range must read back as zeroes, and its space goes back where the disk can:
 * a trim where it leaves zeroes (VDISK_TRIM_ZEROES), else a zero.  What the loop
 * driver's discard and unmapping write-zeroes arrive as (PUNCH_HOLE). */
int vdisk_punch(struct vdisk *disk, uint64_t offset, uint64_t len);
/* The view op behind a range check: NULL means "use vdisk_read" (also for a bad
 * range, which vdisk_read then refuses).  Every non-NULL view is ended with
 * vdisk_view_end before the disk is written, resized or closed by this thread. */
const void *vdisk_view(struct vdisk *disk, size_t len, uint64_t offset);
void vdisk_view_end(struct vdisk *disk);
/* The read_async op behind a range check; -EOPNOTSUPP without one. */
int vdisk_read_async(struct vdisk *disk, size_t len, uint64_t offset, vdisk_read_done_fn done, void *opaque);
/* The write_async op behind a range check (and -EROFS on a read-only disk);
 * -EOPNOTSUPP without one. */
int vdisk_write_async(struct vdisk *disk, const void *buf, size_t len, uint64_t offset, vdisk_write_done_fn done,
		      void *opaque);
int vdisk_resize(struct vdisk *disk, uint64_t new_size);
void vdisk_close(struct vdisk *disk);

#endif
