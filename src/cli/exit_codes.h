/* imdisk's exit status: ImDisk's own table, so scripts written for imdisk.exe
 * read the same numbers here, and two of ours after it.  Documented in imdisk(8) and `imdisk --help`. */
#ifndef IMDISK_CLI_EXIT_CODES_H
#define IMDISK_CLI_EXIT_CODES_H

enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_DEVICE_NOT_FOUND = 1,     /* no such unit, or no disk mounted there */
	CLI_EXIT_DEVICE_BUSY = 2,          /* device inaccessible: in use, cannot change */
	CLI_EXIT_CREATE_FAILED = 3,        /* image unusable, daemon refused, not supported */
	CLI_EXIT_DAEMON_NOT_AVAILABLE = 4, /* ImDisk: driver not installed */
	CLI_EXIT_DAEMON_VERSION = 5,       /* ImDisk: wrong driver version */
	CLI_EXIT_DAEMON_PERMISSION = 6,    /* ImDisk: driver inaccessible */
	CLI_EXIT_SERVICE_INACCESSIBLE = 7, /* proxy server unreachable (ImDisk: ImDskSvc) */
	CLI_EXIT_FORMAT_FAILED = 8,
	CLI_EXIT_BAD_MOUNT_POINT = 9,
	CLI_EXIT_BAD_SIZE = 10,            /* a size or offset that does not parse */
	CLI_EXIT_NO_MEMORY = 11,
	CLI_EXIT_PARTITION_NOT_FOUND = 12,
	CLI_EXIT_USAGE = 13,               /* wrong syntax: usage shown */
	CLI_EXIT_NO_FREE_UNIT = 14,        /* ImDisk: no free drive letter */
	/* Ours (ImDisk's table ends at 14): a daemon shared by several users. */
	CLI_EXIT_NOT_OWNER = 15,           /* the disk is another user's: only it or root may change it */
	CLI_EXIT_OVER_LIMIT = 16,          /* a per-user limit of imdiskd (disks, RAM, RLIMIT_MEMLOCK) */
};

#endif
