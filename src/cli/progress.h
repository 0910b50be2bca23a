/* A progress bar for long operations (preload, allocation, save): bytes done,
 * rate and time left on one line of a terminal, nothing when not a terminal. */
#ifndef IMDISK_CLI_PROGRESS_H
#define IMDISK_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum progress_mode {
	PROGRESS_AUTO, /* shown when stderr is a terminal (the default) */
	PROGRESS_ON,   /* --progress */
	PROGRESS_OFF,  /* --no-progress */
};

/* Caller-owned; no allocation, so it can live on the stack of the operation. */
struct progress {
	FILE *out;           /* NULL: this bar draws nothing */
	char what[64];       /* "loading unit 3", "saving to disk.img" */
	uint64_t total;      /* 0: unknown, the bar shows bytes and rate only */
	uint64_t done;
	uint64_t started_ns; /* CLOCK_MONOTONIC */
	uint64_t drawn_ns;   /* last redraw, to redraw at most ~10 times a second */
	unsigned width;      /* characters of the last line, to clear it */
};

/* Begin a bar; whether it draws follows `mode` and whether stderr is a tty. */
void progress_start(struct progress *p, enum progress_mode mode, const char *what, uint64_t total);

/* Record `done` bytes (absolute, not a delta) and redraw when due. */
void progress_update(struct progress *p, uint64_t done);

/* Draw the final state and end the line; `ok` false leaves it marked failed. */
void progress_finish(struct progress *p, bool ok);

/* The text of one line, for the bar and for tests: "WHAT: DONE / TOTAL  PCT%
 * RATE/s  M:SS left".  `elapsed_ns` 0 leaves rate and time out.  Always
 * NUL-terminates when size > 0. */
void progress_format(char *buf, unsigned size, const char *what, uint64_t done, uint64_t total,
		     uint64_t elapsed_ns);

#endif
