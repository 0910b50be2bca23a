/* The user-facing reason of a failed control call, recorded once where it is
 * first known: shared by every file that works on a disk, so none of them has to
 * call back into another for it. */
#include <stdarg.h>
#include <stdio.h>

#include "daemon/daemon.h"

int disk_fail(char *why, int error, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, DAEMON_WHY_MAX, fmt, ap);
	va_end(ap);
	return error;
}
