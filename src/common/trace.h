/* Tracing of the data path's decisions, off by default and free when off:
 * the check is one load of a global mask, so a disabled trace point costs a
 * predictable branch and never formats its message.
 *
 * Turned on per area by a program's -D option ("-D fuse,proxy") or, before
 * options are read, by the IMDISK_DEBUG environment variable (the same list;
 * "all" enables every area), as util-linux's LOOPDEV_DEBUG does.  Lines go
 * through log.c at the debug level, prefixed with the area name.
 *
 * Every result the code chooses to drop (a reply the kernel refused, a flush
 * that failed at detach) is reported with trace_dropped(), so that with
 * tracing on nothing fails unseen. */
#ifndef IMDISK_COMMON_TRACE_H
#define IMDISK_COMMON_TRACE_H

#include <stdbool.h>

enum trace_area {
	TRACE_FUSE = 1u << 0,    /* FUSE transport: requests, replies, ring */
	TRACE_PROXY = 1u << 1,   /* IMDPROXY client: connects, exchanges, give-up */
	TRACE_CONTROL = 1u << 2, /* imdiskd control socket: requests and answers */
	TRACE_DISK = 1u << 3,    /* disk lifecycle: create, stack, publish, release */
	TRACE_DEVIO = 1u << 4,   /* devio: sessions and requests */
	TRACE_LOOP = 1u << 5,    /* loop transport: attach, configure, detach */
};

extern unsigned trace_mask;

/* Parses a comma-separated list of area names ("fuse,proxy", "all") into the
 * mask; returns -EINVAL on an unknown name and leaves the mask as it was. */
int trace_enable_list(const char *list);
/* Reads IMDISK_DEBUG, if set; an unknown name there is ignored with a warning. */
void trace_enable_from_environment(void);
/* The names accepted, for --help texts: "fuse, proxy, control, ...". */
const char *trace_area_names(void);

void trace_message(enum trace_area area, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define trace_on(area) (__builtin_expect((trace_mask & (area)) != 0, 0))
#define trace(area, ...)                                                         \
	do {                                                                         \
		if (trace_on(area))                                                      \
			trace_message((area), __VA_ARGS__);                                  \
	} while (0)
/* A result the code goes on without: what was attempted and the negative errno. */
#define trace_dropped(area, what, result)                                        \
	do {                                                                         \
		if (trace_on(area))                                                      \
			trace_message((area), "dropped result of %s: %d", (what), (int)(result)); \
	} while (0)

#endif
