/* The one failure of a run: which step failed, its errno and what it was about.
 *
 * Functions return negative errno as everywhere in the project; where a failure
 * happens they also record it here (the first one recorded wins, so clean-up
 * after a failure cannot hide its cause).  main() prints it once and turns
 * (step, errno) into ImDisk's exit code in failure_exit_code().
 */
#ifndef IMDISK_CLI_FAILURE_H
#define IMDISK_CLI_FAILURE_H

#include <stdbool.h>

struct imdisk_client;

/* What was being done; together with the errno it selects the exit code. */
enum cli_step {
	STEP_USAGE,        /* switches that make no sense */
	STEP_SIZE,         /* a size or offset that does not parse */
	STEP_UNSUPPORTED,  /* a valid switch this implementation cannot do yet */
	STEP_CONNECT,      /* reaching imdiskd (starting it if needed) */
	STEP_IMAGE,        /* opening, creating or sizing the image */
	STEP_PARTITION,    /* finding -v N in the image */
	STEP_MEMORY,       /* a RAM disk larger than free memory */
	STEP_PROXY,        /* connecting to a proxy server */
	STEP_CREATE,       /* the daemon's create */
	STEP_FIND,         /* finding the disk -u N or -m DIR names */
	STEP_MOUNT_POINT,  /* creating the mount point and mounting */
	STEP_FORMAT,       /* mkfs */
	STEP_UNMOUNT,
	STEP_REMOVE,
	STEP_EDIT,         /* set flags, grow */
	STEP_QUERY,        /* list, query */
	STEP_PERSIST,      /* saving, deleting or restoring -P entries */
};

/* Record a failure; the message gets ": strerror(-err)" appended.  Returns err. */
int fail(enum cli_step step, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Record a failure whose message says it all (no strerror).  Returns err. */
int fail_plain(enum cli_step step, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Record a failure the daemon answered: its own explanation when it gave one,
 * else strerror(-err).  Returns err. */
int fail_daemon(const struct imdisk_client *client, enum cli_step step, int err, const char *fmt,
		...) __attribute__((format(printf, 4, 5)));

/* Whether a failure is recorded already. */
bool failure_recorded(void);

/* Print the recorded failure (or a generic line for `err` when none was recorded)
 * and return the exit code for it. */
int failure_report(int err);

#endif
