/* -p "FSTYPE [MKFS OPTIONS]": make a file system on a new disk. */
#ifndef IMDISK_CLI_FORMAT_H
#define IMDISK_CLI_FORMAT_H

#include <stdbool.h>

/* Run mkfs.FSTYPE OPTIONS... DEVICE (options split at blanks, no shell).  Its
 * output is kept back and only its last line shown when it fails.  `zeroed` says
 * every byte of DEVICE reads zero (a RAM disk just made, not preloaded): ext2/3/4
 * then skip the discard and the zeroing of inode tables and journal, unless
 * OPTIONS give their own -E.  Returns 0, or negative errno with the failure
 * recorded (STEP_FORMAT). */
int format_device(const char *device, const char *spec, bool zeroed);

#endif
