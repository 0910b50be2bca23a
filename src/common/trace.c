#include "common/trace.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

unsigned trace_mask;

static const struct {
	const char *name;
	enum trace_area area;
} trace_areas[] = {
	{"fuse", TRACE_FUSE},       {"proxy", TRACE_PROXY}, {"control", TRACE_CONTROL},
	{"disk", TRACE_DISK},       {"devio", TRACE_DEVIO}, {"loop", TRACE_LOOP},
};

static const char *trace_area_name(enum trace_area area)
{
	for (size_t i = 0; i < sizeof(trace_areas) / sizeof(trace_areas[0]); i++)
		if (trace_areas[i].area == area)
			return trace_areas[i].name;
	return "trace";
}

int trace_enable_list(const char *list)
{
	unsigned mask = 0;
	const char *p = list;

	while (*p) {
		size_t length = strcspn(p, ",");
		bool known = false;

		if (length == 3 && strncmp(p, "all", 3) == 0) {
			mask = ~0u;
			known = true;
		}
		for (size_t i = 0; !known && i < sizeof(trace_areas) / sizeof(trace_areas[0]); i++) {
			if (strlen(trace_areas[i].name) == length && strncmp(p, trace_areas[i].name, length) == 0) {
				mask |= trace_areas[i].area;
				known = true;
			}
		}
		if (!known && length > 0)
			return -EINVAL;
		p += length;
		if (*p == ',')
			p++;
	}
	trace_mask |= mask;
	/* A trace line is a debug message; asking for one means wanting to see it. */
	if (trace_mask)
		log_set_level(LOG_LEVEL_DEBUG);
	return 0;
}

void trace_enable_from_environment(void)
{
	const char *list = getenv("IMDISK_DEBUG");

	if (list && *list && trace_enable_list(list) < 0)
		log_warning("IMDISK_DEBUG=%s: unknown area (known: %s); ignored", list, trace_area_names());
}

const char *trace_area_names(void)
{
	return "fuse, proxy, control, disk, devio, loop, all";
}

void trace_message(enum trace_area area, const char *fmt, ...)
{
	char line[900];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_message(LOG_LEVEL_DEBUG, "%s: %s", trace_area_name(area), line);
}
