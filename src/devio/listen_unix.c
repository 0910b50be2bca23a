/* A unix-domain stream listener: the natural local transport on Linux (ImDisk's
 * "direct" proxy over a pipe). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "devio/devio.h"

static int fill_address(const char *path, struct sockaddr_un *addr)
{
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(addr->sun_path))
		return -ENAMETOOLONG;
	strcpy(addr->sun_path, path);
	return 0;
}

/* A socket file nobody listens on is left over from a server that died. */
static int remove_if_stale(const char *path)
{
	struct sockaddr_un addr;
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	r = fill_address(path, &addr);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
	close(fd);
	if (r == 0)
		return -EADDRINUSE;
	if (errno != ECONNREFUSED)
		return -errno;
	return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

int devio_listen_unix(const char *path, mode_t mode, struct devio_unix_listener *out)
{
	mode_t old_umask;
	struct stat st;
	struct sockaddr_un addr;
	char temporary[sizeof(addr.sun_path)];
	int fd, r;

	r = fill_address(path, &addr);
	if (r < 0)
		return r;
	/* Bound under a temporary name and renamed once listening, so that a client
	 * that sees the path can connect at once. */
	if (snprintf(temporary, sizeof(temporary), "%s.%d", path, (int)getpid()) >=
	    (int)sizeof(temporary))
		return -ENAMETOOLONG;
	r = remove_if_stale(path);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	strcpy(addr.sun_path, temporary);
	unlink(temporary);
	/* Bound 0600 whatever the caller's umask, then widened to the mode asked for
	 * before the path appears: IMDPROXY has no authentication, so the file's
	 * mode is the only gate.  Nothing else in devio creates files meanwhile. */
	old_umask = umask(077);
	r = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old_umask);
	if (r < 0 || chmod(temporary, mode) < 0 || listen(fd, SOMAXCONN) < 0) {
		r = -errno;
		unlink(temporary);
		close(fd);
		return r;
	}
	if (rename(temporary, path) < 0) {
		r = -errno;
		unlink(temporary);
		close(fd);
		return r;
	}
	/* Remembered so that only this socket file is removed at exit. */
	if (stat(path, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	out->fd = fd;
	out->dev = st.st_dev;
	out->ino = st.st_ino;
	return 0;
}

void devio_unlisten_unix(const char *path, const struct devio_unix_listener *listener)
{
	struct stat st;

	/* Remove the path only while it is still our socket, not a newer server's. */
	if (stat(path, &st) == 0 && st.st_dev == listener->dev && st.st_ino == listener->ino)
		unlink(path);
	close(listener->fd);
}
