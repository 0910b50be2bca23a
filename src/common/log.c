#include "common/log.h"

#include <stdbool.h>
#include <stdio.h>
#include <syslog.h>

static const char *log_program = "imdisk";
static enum log_level log_threshold = LOG_LEVEL_INFO;
static bool log_to_syslog;

void log_init(const char *program, enum log_level level)
{
	log_program = program;
	log_threshold = level;
}

void log_set_level(enum log_level level)
{
	log_threshold = level;
}

void log_use_syslog(void)
{
	openlog(log_program, LOG_PID, LOG_DAEMON);
	log_to_syslog = true;
}

void log_message(enum log_level level, const char *fmt, ...)
{
	static const char *const prefixes[] = {"error: ", "warning: ", "", "debug: "};
	char line[1024];
	va_list ap;

	if (level > log_threshold)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_to_syslog) {
		static const int priorities[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
		syslog(priorities[level], "%s%s", prefixes[level], line);
		return;
	}
	/* One fprintf per message so lines from threads never interleave. */
	fprintf(stderr, "%s: %s%s\n", log_program, prefixes[level], line);
}
