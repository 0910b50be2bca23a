#include "cli/format.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/failure.h"

#define FORMAT_MAX_ARGS 64

/* mke2fs's extended options for a device that reads all zeroes.  Writing zeroes
 * over zeroes (inode tables, journal) would only fill a RAM disk's memory, and
 * discarding it does nothing.  assume_storage_prezeroed (e2fsprogs 1.47) also
 * marks the inode tables as zeroed, so that the kernel's lazy init does not
 * write them after the first mount either.  On an image or a proxy disk old
 * bytes may be left: a stale journal block could be replayed, so there mke2fs
 * keeps its defaults. */
static const char zeroed_ext_options[] = "nodiscard,assume_storage_prezeroed=1";

/* mkfs helpers live in sbin, which a user's PATH may lack. */
static const char *const sbin_dirs[] = {"/usr/sbin", "/sbin", "/usr/local/sbin"};

static void run_mkfs(char **argv, int output)
{
	char path[256];
	int null = open("/dev/null", O_RDONLY);

	/* Its output is hidden, so it must not wait for an answer ("Proceed anyway?"). */
	if (null >= 0)
		dup2(null, STDIN_FILENO);
	dup2(output, STDOUT_FILENO);
	dup2(output, STDERR_FILENO);
	execvp(argv[0], argv);
	for (size_t i = 0; i < sizeof(sbin_dirs) / sizeof(sbin_dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", sbin_dirs[i], argv[0]);
		execv(path, argv);
	}
	dprintf(STDERR_FILENO, "%s not found (is its package installed?)\n", argv[0]);
	_exit(127);
}

/* The line of mkfs's output that says what went wrong: the last one, passing over
 * a usage text (indented lines and "Usage:") to the complaint printed before it. */
static void complaint(int output, char *line, size_t size)
{
	char buf[4096];
	off_t end = lseek(output, 0, SEEK_END);
	off_t start = end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1 : 0;
	ssize_t n = pread(output, buf, (size_t)(end - start), start);
	char *last = NULL;

	line[0] = '\0';
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (char *save = NULL, *l = strtok_r(buf, "\r\n", &save); l;
	     l = strtok_r(NULL, "\r\n", &save)) {
		if (*l == ' ' || *l == '\t' || strncasecmp(l, "usage:", 6) == 0)
			continue;
		last = l;
	}
	if (!last)
		return;
	/* Keep the end of an overlong line: that is where mkfs says what went wrong. */
	if (strlen(last) >= size)
		last += strlen(last) - (size - 1);
	memcpy(line, last, strlen(last) + 1);
}

static bool is_ext(const char *fstype)
{
	return !strcmp(fstype, "ext2") || !strcmp(fstype, "ext3") || !strcmp(fstype, "ext4");
}

/* -E in OPTIONS (alone, "-Efoo", or in a group like "-qE"): the user chose the
 * extended options.  An E inside an argument ("-LEXT") counts too: that only
 * keeps mke2fs's defaults, which are always safe. */
static bool has_extended_options(char *const *options, int count)
{
	for (int i = 0; i < count; i++) {
		const char *w = options[i];

		if (w[0] == '-' && w[1] != '-' && strchr(w + 1, 'E'))
			return true;
	}
	return false;
}

int format_device(const char *device, const char *spec, bool zeroed)
{
	char *argv[FORMAT_MAX_ARGS + 4];
	char program[128];
	char line[512];
	char *words, *save = NULL;
	int argc = 0, status, output, err = 0;
	pid_t pid;

	words = strdup(spec);
	if (!words)
		return fail(STEP_FORMAT, -ENOMEM, "cannot format %s", device);
	for (char *w = strtok_r(words, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (argc == FORMAT_MAX_ARGS) {
			free(words);
			return fail_plain(STEP_FORMAT, -E2BIG, "-p: too many mkfs options");
		}
		argv[argc++] = w;
	}
	if (argc == 0) {
		free(words);
		return fail_plain(STEP_FORMAT, -EINVAL, "-p needs a file system type");
	}
	if (zeroed && is_ext(argv[0]) && !has_extended_options(argv + 1, argc - 1)) {
		/* Ahead of the user's options: mke2fs keeps the last -E, and a user's
		 * must win. */
		memmove(argv + 3, argv + 1, (size_t)(argc - 1) * sizeof(argv[0]));
		argv[1] = (char *)"-E";
		argv[2] = (char *)zeroed_ext_options;
		argc += 2;
	}
	snprintf(program, sizeof(program), "mkfs.%s", argv[0]);
	argv[0] = program;
	argv[argc++] = (char *)device;
	argv[argc] = NULL;

	output = memfd_create("mkfs-output", MFD_CLOEXEC);
	if (output < 0) {
		err = fail(STEP_FORMAT, -errno, "cannot format %s", device);
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		err = fail(STEP_FORMAT, -errno, "cannot run %s", program);
		goto out;
	}
	if (pid == 0)
		run_mkfs(argv, output);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			err = fail(STEP_FORMAT, -errno, "cannot wait for %s", program);
			goto out;
		}
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		goto out;
	complaint(output, line, sizeof(line));
	if (WIFEXITED(status))
		err = fail_plain(STEP_FORMAT, -EIO, "%s %s failed (exit %d)%s%s", program, device,
				 WEXITSTATUS(status), *line ? ": " : "", line);
	else
		err = fail_plain(STEP_FORMAT, -EIO, "%s %s was killed by signal %d", program,
				 device, WTERMSIG(status));
out:
	if (output >= 0)
		close(output);
	free(words);
	return err;
}
