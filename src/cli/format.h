/* -p "FSTYPE [MKFS OPTIONS]": make a file system on a new disk. */
#ifndef IMDISK_CLI_FORMAT_H
#define IMDISK_CLI_FORMAT_H

/* Run mkfs.FSTYPE OPTIONS... DEVICE (options split at blanks, no shell).  Its
 * output is kept back and only its last line shown when it fails.  Returns 0,
 * or negative errno with the failure recorded (STEP_FORMAT). */
int format_device(const char *device, const char *spec);

#endif
