#include "cli/failure.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/exit_codes.h"
#include "common/log.h"
#include "imdisk.h"

static struct {
	bool recorded;
	enum cli_step step;
	int err;
	char message[1536];
} failure;

static int record(enum cli_step step, int err, const char *suffix, const char *fmt, va_list ap)
{
	size_t used;

	if (failure.recorded)
		return err;
	failure.recorded = true;
	failure.step = step;
	failure.err = err;
	vsnprintf(failure.message, sizeof(failure.message), fmt, ap);
	used = strlen(failure.message);
	if (suffix && *suffix)
		snprintf(failure.message + used, sizeof(failure.message) - used, ": %s", suffix);
	return err;
}

int fail(enum cli_step step, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	record(step, err, err ? strerror(-err) : NULL, fmt, ap);
	va_end(ap);
	return err;
}

int fail_plain(enum cli_step step, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	record(step, err, NULL, fmt, ap);
	va_end(ap);
	return err;
}

int fail_daemon(const struct imdisk_client *client, enum cli_step step, int err, const char *fmt,
		...)
{
	const char *detail = client ? imdisk_error_message(client) : "";
	va_list ap;

	va_start(ap, fmt);
	record(step, err, detail && *detail ? detail : strerror(-err), fmt, ap);
	va_end(ap);
	return err;
}

/* What imdiskd's answer means, whatever was asked: the daemon went away, speaks
 * another protocol, or refuses this caller.  0 when the errno is the request's own. */
static int daemon_exit_code(int e)
{
	switch (e) {
	case EPROTO:
	case EPROTONOSUPPORT:
		return CLI_EXIT_DAEMON_VERSION;
	case EACCES:
	case EPERM:
		return CLI_EXIT_DAEMON_PERMISSION;
	case ECONNRESET:
	case ECONNREFUSED:
	case EPIPE:
	case ENOTCONN:
		return CLI_EXIT_DAEMON_NOT_AVAILABLE;
	default:
		return 0;
	}
}

/* The one place where (step, errno) becomes ImDisk's exit code. */
static int failure_exit_code(enum cli_step step, int err)
{
	int e = err < 0 ? -err : err;
	int code;

	switch (step) {
	case STEP_USAGE:
		return CLI_EXIT_USAGE;
	case STEP_SIZE:
		return CLI_EXIT_BAD_SIZE;
	case STEP_UNSUPPORTED:
	case STEP_PERSIST:
		return CLI_EXIT_CREATE_FAILED;
	case STEP_CONNECT:
		code = daemon_exit_code(e);
		return code ? code : CLI_EXIT_DAEMON_NOT_AVAILABLE;
	case STEP_IMAGE:
		return e == ENOMEM ? CLI_EXIT_NO_MEMORY : CLI_EXIT_CREATE_FAILED;
	case STEP_PARTITION:
		return e == ENOENT || e == EBADMSG ? CLI_EXIT_PARTITION_NOT_FOUND
						    : CLI_EXIT_CREATE_FAILED;
	case STEP_MEMORY:
		return CLI_EXIT_NO_MEMORY;
	case STEP_PROXY:
		return CLI_EXIT_SERVICE_INACCESSIBLE;
	case STEP_MOUNT_POINT:
		return CLI_EXIT_BAD_MOUNT_POINT;
	case STEP_FORMAT:
		return CLI_EXIT_FORMAT_FAILED;
	case STEP_UNMOUNT:
		return CLI_EXIT_DEVICE_BUSY;
	case STEP_CREATE:
		if (e == EDQUOT)
			return CLI_EXIT_OVER_LIMIT;
		if ((code = daemon_exit_code(e)))
			return code;
		if (e == ENOMEM)
			return CLI_EXIT_NO_MEMORY;
		/* imdiskd's answer when no unit number or loop device is free. */
		if (e == ENOSPC)
			return CLI_EXIT_NO_FREE_UNIT;
		return CLI_EXIT_CREATE_FAILED;
	case STEP_FIND:
	case STEP_QUERY:
	case STEP_REMOVE:
	case STEP_EDIT:
		/* The disk is there and another user's: not the socket's permission (6). */
		if (e == EPERM && step != STEP_FIND && step != STEP_QUERY)
			return CLI_EXIT_NOT_OWNER;
		if (e == EDQUOT)
			return CLI_EXIT_OVER_LIMIT;
		if ((code = daemon_exit_code(e)))
			return code;
		if (e == ENOENT || e == ENODEV || e == ENXIO)
			return CLI_EXIT_DEVICE_NOT_FOUND;
		if (e == ENOMEM)
			return CLI_EXIT_NO_MEMORY;
		if (step == STEP_FIND)
			return CLI_EXIT_DEVICE_NOT_FOUND;
		if (step == STEP_QUERY)
			return CLI_EXIT_DAEMON_NOT_AVAILABLE;
		return CLI_EXIT_DEVICE_BUSY;
	}
	return CLI_EXIT_CREATE_FAILED;
}

bool failure_recorded(void)
{
	return failure.recorded;
}

int failure_report(int err)
{
	if (!failure.recorded) {
		/* A path that forgot to say what failed: still one line, still an error. */
		log_error("%s", strerror(err < 0 ? -err : err));
		return CLI_EXIT_CREATE_FAILED;
	}
	log_error("%s", failure.message);
	return failure_exit_code(failure.step, failure.err);
}
