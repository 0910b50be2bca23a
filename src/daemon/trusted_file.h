/* Files imdiskd writes and reads back as root (its pid file, the disk state): only
 * in a directory nobody else can change, and never through a symbolic link, so that
 * no other user can point the daemon at a file of their choosing or forge one. */
#ifndef IMDISK_DAEMON_TRUSTED_FILE_H
#define IMDISK_DAEMON_TRUSTED_FILE_H

#include <stddef.h>
#include <sys/types.h>

#define TRUSTED_WHY_MAX 256

/* Open directory path (not through a link at its last component) and check that
 * it is ours: owned by root or our effective uid, and writable by nobody else (no
 * group or other write bit).  Returns the descriptor (O_CLOEXEC), or a negative
 * errno with why[TRUSTED_WHY_MAX] saying what is wrong: -ELOOP a link, -ENOTDIR
 * not a directory, -EPERM someone else's or writable by others. */
int trusted_directory_open(const char *path, char *why);

/* Open name in the trusted directory dir_fd with O_NOFOLLOW | O_CLOEXEC added to
 * flags, and check that it is a regular file of ours writable by nobody else.
 * Returns the descriptor or a negative errno with why filled as above. */
int trusted_file_open(int dir_fd, const char *name, int flags, mode_t mode, char *why);

#endif
