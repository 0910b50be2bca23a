/* The disk a command names: -u UNIT, or -m DIR (the disk mounted there). */
#ifndef IMDISK_CLI_LOOKUP_H
#define IMDISK_CLI_LOOKUP_H

#include "cli/options.h"
#include "imdisk.h"

/* Fill `device` with the disk -u or -m names.  Returns 0, or negative errno with
 * the failure recorded (STEP_FIND: exit 1 when there is no such disk). */
int lookup_disk(struct imdisk_client *client, const struct cli_options *o,
		struct imdisk_device *device);

/* The unit numbers of every disk (ascending); *units is malloc'ed. */
int lookup_units(struct imdisk_client *client, uint32_t **units, size_t *count);

#endif
