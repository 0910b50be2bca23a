/* The disk a command names: -u UNIT, or -m DIR (the disk mounted there). */
#ifndef IMDISK_CLI_LOOKUP_H
#define IMDISK_CLI_LOOKUP_H

#include "cli/failure.h"
#include "cli/options.h"
#include "imdisk.h"

/* Fill `device` with the disk -u or -m names.  Returns 0, or negative errno with
 * the failure recorded (STEP_FIND: exit 1 when there is no such disk). */
int lookup_disk(struct imdisk_client *client, const struct cli_options *o,
		struct imdisk_device *device);

/* lookup_disk for a command that changes the disk (-d -D -R -e): when the disk is
 * another user's and we are not root, refused at once with imdiskd's own wording
 * (-EPERM, recorded under `step`), before anything is unmounted or extended.  The
 * daemon checks again: this only spares the side effects. */
int lookup_disk_to_change(struct imdisk_client *client, const struct cli_options *o,
			  struct imdisk_device *device, enum cli_step step);

/* The daemon refused a change with -EPERM: its one line, as it wrote it. */
int fail_not_owner(const struct imdisk_client *client, enum cli_step step, int err);

/* The unit numbers of every disk (ascending); *units is malloc'ed. */
int lookup_units(struct imdisk_client *client, uint32_t **units, size_t *count);

#endif
