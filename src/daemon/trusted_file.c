/* Opening the daemon's own files safely: see trusted_file.h. */
#include "daemon/trusted_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Ours: root's or our own, and nobody else may write to it. */
static int check_ours(const struct stat *st, const char *what, const char *name, char *why)
{
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		snprintf(why, TRUSTED_WHY_MAX, "%s %s belongs to uid %u, not to root or us", what, name,
			 (unsigned)st->st_uid);
		return -EPERM;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(why, TRUSTED_WHY_MAX, "%s %s is writable by its %s (mode %04o)", what, name,
			 st->st_mode & S_IWGRP ? "group" : "other users", (unsigned)(st->st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

static int open_failed(int error, const char *what, const char *name, char *why)
{
	if (error == ELOOP)
		snprintf(why, TRUSTED_WHY_MAX, "%s %s is a symbolic link", what, name);
	else
		snprintf(why, TRUSTED_WHY_MAX, "cannot open %s %s: %s", what, name, strerror(error));
	return -error;
}

int trusted_directory_open(const char *path, char *why)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int r;

	if (fd < 0)
		return open_failed(errno, "directory", path, why);
	if (fstat(fd, &st) < 0) {
		r = open_failed(errno, "directory", path, why);
		close(fd);
		return r;
	}
	r = check_ours(&st, "directory", path, why);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

int trusted_file_open(int dir_fd, const char *name, int flags, mode_t mode, char *why)
{
	struct stat st;
	/* O_NONBLOCK: a FIFO planted in place of the file must not hang the open. */
	int fd = openat(dir_fd, name, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, mode);
	int r;

	if (fd < 0)
		return open_failed(errno, "file", name, why);
	if (fstat(fd, &st) < 0) {
		r = open_failed(errno, "file", name, why);
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, TRUSTED_WHY_MAX, "file %s is not a regular file", name);
		close(fd);
		return -EINVAL;
	}
	r = check_ours(&st, "file", name, why);
	if (r < 0) {
		close(fd);
		return r;
	}
	/* Regular files ignore O_NONBLOCK; clear it all the same for plain semantics. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}
