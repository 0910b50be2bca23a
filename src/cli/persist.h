/* -P: saving a disk's command line so that `imdisk --restore` makes it again at
 * boot (ImDisk's registry entries).  Functions return 0 or a negative errno with
 * the failure recorded (STEP_PERSIST). */
#ifndef IMDISK_CLI_PERSIST_H
#define IMDISK_CLI_PERSIST_H

#include <stdint.h>

#include "cli/options.h"

/* $IMDISK_PERSIST_DIR, else /etc/imdisk/persistent. */
const char *persist_dir(void);
/* Save o's command line (without -P) as unit's entry, replacing an older one. */
int persist_save(const struct cli_options *o, uint32_t unit);
/* Delete unit's entry (none: fine). */
int persist_forget(uint32_t unit);
/* --restore: run every saved command again, in unit order; -EIO when any failed
 * (each failure is printed on its own). */
int persist_restore(const struct cli_options *o);

#endif
