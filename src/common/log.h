/* One place where messages leave a program.  Libraries return negative errno and
 * never print; the program's edge (main, the daemon's request handler) logs once. */
#ifndef IMDISK_COMMON_LOG_H
#define IMDISK_COMMON_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARNING, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* Program name used as the message prefix ("imdisk: ..."). */
void log_init(const char *program, enum log_level level);
void log_set_level(enum log_level level);
/* Send messages to syslog (the journal) instead of stderr: for a detached daemon. */
void log_use_syslog(void);
void log_message(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_message(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warning(...) log_message(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_info(...) log_message(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_message(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
