/* -P: disks that come back at boot.
 *
 * ImDisk keeps such disks in the registry and its driver creates them again at
 * start.  Here each one is the imdisk command line that made it, kept in a file
 * of its own, PERSIST_DIR/unitN (root's, mode 0600): the folder the command ran
 * in, then its arguments, each ending in a NUL.  `imdisk --restore` (which
 * imdisk-restore.service runs at boot) runs every saved command again from its
 * folder, with -u N added so the disk gets its unit back.  Saved is the
 * configuration, as in ImDisk: a RAM disk comes back empty (formatted again when
 * it was made with -p), an image disk on the same image.
 */
#include "cli/persist.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/exit_codes.h"
#include "cli/failure.h"
#include "common/fdio.h"

#define PERSIST_DIR_DEFAULT "/etc/imdisk/persistent"
/* A saved command line larger than this is not ours. */
#define PERSIST_MAX_FILE (64 * 1024)
#define PERSIST_MAX_ARGS 128

const char *persist_dir(void)
{
	const char *dir = getenv("IMDISK_PERSIST_DIR");

	return dir && *dir ? dir : PERSIST_DIR_DEFAULT;
}

static void entry_path(uint32_t unit, char *buf, size_t size)
{
	snprintf(buf, size, "%s/unit%" PRIu32, persist_dir(), unit);
}

/* The folder and its parents, root's alone where we make them. */
static int make_dirs(const char *path)
{
	char copy[PATH_MAX];

	if (snprintf(copy, sizeof(copy), "%s", path) >= (int)sizeof(copy))
		return -ENAMETOOLONG;
	for (char *p = copy + 1;; p++) {
		if (*p != '/' && *p)
			continue;
		char end = *p;
		*p = 0;
		if (mkdir(copy, end ? 0755 : 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = end;
		if (!end)
			return 0;
	}
}

static bool is_persist_switch(const char *arg)
{
	return strcmp(arg, "-P") == 0 || strcmp(arg, "--persist") == 0;
}

int persist_save(const struct cli_options *o, uint32_t unit)
{
	char path[PATH_MAX], temp[PATH_MAX + 8], cwd[PATH_MAX];
	size_t used = 0;
	char *content;
	int fd, r;

	if (!getcwd(cwd, sizeof(cwd)))
		return fail(STEP_PERSIST, -errno, "cannot save the disk for the next boot: no current folder");
	content = malloc(PERSIST_MAX_FILE);
	if (!content)
		return fail(STEP_PERSIST, -ENOMEM, "cannot save the disk for the next boot");
	for (int i = 0; i < o->argc; i++) {
		/* The folder first, then the arguments after the program's name. */
		const char *text = i == 0 ? cwd : o->argv[i];
		size_t len;

		if (i > 0 && is_persist_switch(text))
			continue;
		len = strlen(text) + 1;
		if (len > PERSIST_MAX_FILE - used) {
			free(content);
			return fail_plain(STEP_PERSIST, -E2BIG, "the command line is too long to be saved for the next boot");
		}
		memcpy(content + used, text, len);
		used += len;
	}
	entry_path(unit, path, sizeof(path));
	snprintf(temp, sizeof(temp), "%s.new", path);
	r = make_dirs(persist_dir());
	if (r == 0) {
		fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		r = fd < 0 ? -errno : write_full(fd, content, used);
		if (fd >= 0 && r == 0 && fsync(fd) < 0)
			r = -errno;
		if (fd >= 0)
			close(fd);
		/* Whole or not at all: a reboot never finds half a command. */
		if (r == 0 && rename(temp, path) < 0)
			r = -errno;
		if (r < 0)
			unlink(temp);
	}
	free(content);
	if (r < 0)
		return fail(STEP_PERSIST, r, "the disk was made but cannot be saved for the next boot in %s",
			    persist_dir());
	return 0;
}

int persist_forget(uint32_t unit)
{
	char path[PATH_MAX];

	entry_path(unit, path, sizeof(path));
	if (unlink(path) < 0 && errno != ENOENT)
		return fail(STEP_PERSIST, -errno, "the disk was removed but %s cannot be deleted", path);
	return 0;
}

/* Splits a saved file into the folder and the arguments; -EINVAL when it is not
 * one of ours. */
static int parse_entry(char *content, size_t len, char **dir, char **args, int *count)
{
	size_t pos = 0;

	*count = 0;
	if (len == 0 || content[len - 1] != '\0')
		return -EINVAL;
	*dir = content;
	pos = strlen(content) + 1;
	while (pos < len) {
		if (*count == PERSIST_MAX_ARGS)
			return -E2BIG;
		args[(*count)++] = content + pos;
		pos += strlen(content + pos) + 1;
	}
	return **dir == '/' && *count > 0 ? 0 : -EINVAL;
}

/* Runs one saved command; its exit status (it prints its own messages). */
static int restore_one(const char *path, uint32_t unit)
{
	char *content = malloc(PERSIST_MAX_FILE + 1);
	char *args[PERSIST_MAX_ARGS], *argv[PERSIST_MAX_ARGS + 5];
	char unit_text[16], *dir;
	int fd, count = 0, status, n = 0, r;
	bool has_unit = false;
	ssize_t len;
	pid_t pid;

	if (!content)
		return CLI_EXIT_NO_MEMORY;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	len = fd < 0 ? -1 : read(fd, content, PERSIST_MAX_FILE + 1);
	if (fd >= 0)
		close(fd);
	r = len < 0 || len > PERSIST_MAX_FILE ? -EINVAL : parse_entry(content, (size_t)len, &dir, args, &count);
	if (r < 0) {
		fprintf(stderr, "imdisk: %s is not a saved imdisk command: skipped\n", path);
		free(content);
		return CLI_EXIT_CREATE_FAILED;
	}
	argv[n++] = "imdisk";
	for (int i = 0; i < count; i++) {
		has_unit |= strcmp(args[i], "-u") == 0 || strcmp(args[i], "--unit") == 0 ||
			    strncmp(args[i], "--unit=", 7) == 0;
		argv[n++] = args[i];
	}
	if (!has_unit) {
		snprintf(unit_text, sizeof(unit_text), "%" PRIu32, unit);
		argv[n++] = "-u";
		argv[n++] = unit_text;
	}
	argv[n] = NULL;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		if (chdir(dir) < 0) {
			fprintf(stderr, "imdisk: unit %" PRIu32 ": cannot enter %s: %s\n", unit, dir, strerror(errno));
			_exit(CLI_EXIT_CREATE_FAILED);
		}
		execv("/proc/self/exe", argv);
		_exit(CLI_EXIT_CREATE_FAILED);
	}
	free(content);
	if (pid < 0)
		return CLI_EXIT_CREATE_FAILED;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return CLI_EXIT_CREATE_FAILED;
	return WIFEXITED(status) ? WEXITSTATUS(status) : CLI_EXIT_CREATE_FAILED;
}

static int unit_of_entry(const char *name, uint32_t *unit)
{
	char *end;
	unsigned long value;

	if (strncmp(name, "unit", 4) != 0 || name[4] < '0' || name[4] > '9')
		return -EINVAL;
	value = strtoul(name + 4, &end, 10);
	if (*end || value > UINT32_MAX)
		return -EINVAL;
	*unit = (uint32_t)value;
	return 0;
}

static int compare_units(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int persist_restore(const struct cli_options *o)
{
	uint32_t units[1024];
	size_t count = 0, failed = 0;
	struct dirent *entry;
	DIR *dir;

	(void)o;
	dir = opendir(persist_dir());
	if (!dir) {
		if (errno == ENOENT)
			return 0; /* nothing was ever saved */
		return fail(STEP_PERSIST, -errno, "cannot read %s", persist_dir());
	}
	while ((entry = readdir(dir)) && count < sizeof(units) / sizeof(units[0]))
		if (unit_of_entry(entry->d_name, &units[count]) == 0)
			count++;
	closedir(dir);
	/* In unit order, so that what was made first comes back first. */
	qsort(units, count, sizeof(units[0]), compare_units);
	for (size_t i = 0; i < count; i++) {
		char path[PATH_MAX];
		int code;

		entry_path(units[i], path, sizeof(path));
		code = restore_one(path, units[i]);
		if (code != CLI_EXIT_OK) {
			fprintf(stderr, "imdisk: unit %" PRIu32 " saved in %s did not come back (exit %d)\n", units[i],
				path, code);
			failed++;
		}
	}
	if (failed)
		return fail_plain(STEP_PERSIST, -EIO, "%zu of %zu saved disks did not come back", failed, count);
	return 0;
}
