#include "cli/daemon_start.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/failure.h"
#include "imdisk.h"

#define START_TIMEOUT_MS 5000
#define RETRY_INTERVAL_MS 50

static bool nobody_listens(int err)
{
	return err == -ENOENT || err == -ECONNREFUSED;
}

/* The imdiskd installed with this imdisk (same folder), else "imdiskd" for PATH. */
static void daemon_program(char *buf, size_t size)
{
	char self[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (len > 0) {
		self[len] = '\0';
		snprintf(buf, size, "%s/imdiskd", dirname(self));
		if (access(buf, X_OK) == 0)
			return;
	}
	snprintf(buf, size, "imdiskd");
}

/* The last line imdiskd wrote before giving up: why it could not start. */
static void last_words(int pipe_fd, char *line, size_t size)
{
	char buf[4096];
	ssize_t n;
	char *end, *start;

	line[0] = '\0';
	fcntl(pipe_fd, F_SETFL, O_NONBLOCK);
	n = read(pipe_fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return;
	buf[n] = '\0';
	end = buf + n;
	while (end > buf && (end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	start = strrchr(buf, '\n');
	start = start ? start + 1 : buf;
	if (strlen(start) >= size)
		start[size - 1] = '\0';
	memcpy(line, start, strlen(start) + 1);
}

/* Run imdiskd --socket PATH; it detaches itself once its socket exists, so the
 * child we wait for is the one that returns when the daemon is ready.  Its
 * stderr is a pipe read only for a failure's reason: a daemon started by a
 * command must not write into that command's terminal later on. */
static int start_daemon(const char *socket_path, char *why, size_t why_size)
{
	char program[PATH_MAX];
	char reason[512];
	int status, messages[2];
	pid_t pid;

	daemon_program(program, sizeof(program));
	if (pipe2(messages, O_CLOEXEC) < 0) {
		snprintf(why, why_size, "pipe: %s", strerror(errno));
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(why, why_size, "fork: %s", strerror(errno));
		close(messages[0]);
		close(messages[1]);
		return -errno;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		/* Our stdout may be a pipe a script reads (-n): keep the daemon off it. */
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
		}
		dup2(messages[1], STDERR_FILENO);
		if (strchr(program, '/'))
			execl(program, "imdiskd", "--socket", socket_path, (char *)NULL);
		else
			execlp(program, "imdiskd", "--socket", socket_path, (char *)NULL);
		dprintf(STDERR_FILENO, "cannot run %s: %s\n", program, strerror(errno));
		_exit(127);
	}
	close(messages[1]);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			snprintf(why, why_size, "waitpid: %s", strerror(errno));
			close(messages[0]);
			return -errno;
		}
	}
	last_words(messages[0], reason, sizeof(reason));
	close(messages[0]);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (*reason)
		snprintf(why, why_size, "%s", reason);
	else if (WIFEXITED(status))
		snprintf(why, why_size, "%s exited with status %d", program, WEXITSTATUS(status));
	else
		snprintf(why, why_size, "%s was killed by signal %d", program, WTERMSIG(status));
	return -ECHILD;
}

static int connect_failed(const char *socket_path, int err)
{
	if (err == -EACCES || err == -EPERM)
		return fail(STEP_CONNECT, err, "cannot use imdiskd's socket %s", socket_path);
	if (err == -EPROTO || err == -EPROTONOSUPPORT)
		return fail_plain(STEP_CONNECT, err,
				  "imdiskd at %s speaks another protocol version than this imdisk "
				  "(%u.%u): install matching versions",
				  socket_path, IMDISK_API_VERSION >> 8, IMDISK_API_VERSION & 0xff);
	return fail(STEP_CONNECT, err, "cannot connect to imdiskd at %s", socket_path);
}

int daemon_connect(const char *socket_option, struct imdisk_client **out)
{
	const char *socket_path = imdisk_socket_path(socket_option);
	struct timespec pause = {0, RETRY_INTERVAL_MS * 1000000L};
	char why[PATH_MAX + 64];
	int err;

	err = imdisk_connect(socket_path, out);
	if (err == 0 || !nobody_listens(err))
		return err == 0 ? 0 : connect_failed(socket_path, err);

	if (geteuid() != 0)
		return fail_plain(STEP_CONNECT, err,
				  "imdiskd is not running (socket %s) and could not be started: "
				  "only root may start it",
				  socket_path);
	if (start_daemon(socket_path, why, sizeof(why)) < 0)
		return fail_plain(STEP_CONNECT, err,
				  "imdiskd is not running (socket %s) and could not be started: %s",
				  socket_path, why);
	for (int waited = 0; waited < START_TIMEOUT_MS; waited += RETRY_INTERVAL_MS) {
		err = imdisk_connect(socket_path, out);
		if (err == 0)
			return 0;
		if (!nobody_listens(err))
			return connect_failed(socket_path, err);
		nanosleep(&pause, NULL);
	}
	return fail(STEP_CONNECT, err,
		    "imdiskd is not running (socket %s) and could not be started: it did not "
		    "answer within %d s",
		    socket_path, START_TIMEOUT_MS / 1000);
}
