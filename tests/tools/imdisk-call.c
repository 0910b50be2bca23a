/* One libimdisk call from the command line, past every check imdisk(8) makes of its
 * own: the tests use it to see what imdiskd itself answers a caller.
 *   imdisk-call remove UNIT MODE
 *   imdisk-call set-flags UNIT MASK VALUES
 *   imdisk-call grow UNIT BYTES [IMAGE]    (IMAGE: opened read-write and passed)
 *   imdisk-call owner UNIT                 (prints "uid gid")
 * Prints "ERRNO-NAME message" on failure (e.g. "EPERM unit 0 belongs to ..."),
 * "OK" on success; exits 0 unless the call could not be made. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imdisk.h"

static const char *errno_name(int e)
{
	switch (e) {
	case EPERM: return "EPERM";
	case EDQUOT: return "EDQUOT";
	case EINVAL: return "EINVAL";
	case ENOENT: return "ENOENT";
	case EBADF: return "EBADF";
	case ENOSPC: return "ENOSPC";
	case EROFS: return "EROFS";
	default: return "OTHER";
	}
}

int main(int argc, char **argv)
{
	struct imdisk_client *client;
	int r, fd = -1;

	if (argc < 3)
		return 2;
	if ((r = imdisk_connect(NULL, &client)) < 0) {
		fprintf(stderr, "imdisk-call: cannot connect: %s\n", strerror(-r));
		return 1;
	}
	uint32_t unit = (uint32_t)strtoul(argv[2], NULL, 0);
	if (strcmp(argv[1], "remove") == 0 && argc == 4) {
		r = imdisk_remove(client, unit, (enum imdisk_remove_mode)atoi(argv[3]));
	} else if (strcmp(argv[1], "set-flags") == 0 && argc == 5) {
		r = imdisk_set_flags(client, unit, (uint32_t)strtoul(argv[3], NULL, 0),
				     (uint32_t)strtoul(argv[4], NULL, 0), NULL);
	} else if (strcmp(argv[1], "grow") == 0 && (argc == 4 || argc == 5)) {
		if (argc == 5 && (fd = open(argv[4], O_RDWR | O_CLOEXEC)) < 0) {
			perror(argv[4]);
			return 1;
		}
		r = imdisk_grow(client, unit, strtoull(argv[3], NULL, 0), fd);
		if (fd >= 0)
			close(fd);
	} else if (strcmp(argv[1], "owner") == 0 && argc == 3) {
		struct imdisk_owner owner;
		r = imdisk_query_owner(client, unit, NULL, &owner);
		if (r == 0) {
			printf("%u %u\n", owner.uid, owner.gid);
			imdisk_disconnect(client);
			return 0;
		}
	} else {
		fprintf(stderr, "imdisk-call: bad arguments\n");
		return 2;
	}
	if (r < 0)
		printf("%s %s\n", errno_name(-r), imdisk_error_message(client));
	else
		printf("OK\n");
	imdisk_disconnect(client);
	return 0;
}
