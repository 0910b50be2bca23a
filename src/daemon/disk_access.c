/* Who may do what to a disk, and what a caller other than root may hold.
 *
 * Root may do anything.  Anyone else who reaches the socket may list and query
 * every disk, but change, grow or remove only the disks it created; and it holds
 * at most --max-disks-per-user disks and --max-ram-per-user bytes of RAM disks,
 * of which it may lock (-o awe) only as much as its own RLIMIT_MEMLOCK allows:
 * imdiskd locks memory as root, so without this check any caller could pin the
 * machine's memory. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "common/ownership.h"
#include "common/size.h"
#include "daemon/daemon.h"

int disk_access_check_owner(const struct disk *disk, const struct caller_identity *caller, uid_t *owner)
{
	*owner = disk->owner_uid;
	return caller->uid == 0 || caller->uid == disk->owner_uid ? 0 : -EPERM;
}

int disk_access_owner_refusal(uint32_t unit, uid_t owner, char *why)
{
	ownership_refusal(why, DAEMON_WHY_MAX, unit, owner);
	return -EPERM;
}

/* Max locked memory from /proc/PID/limits (readable by all): where imdiskd lacks
 * CAP_SYS_RESOURCE (a container), prlimit() on another uid's process is refused. */
static int memlock_from_proc(pid_t pid, uint64_t *limit)
{
	char path[64], line[256];
	FILE *f;
	int r = -ENOENT;

	snprintf(path, sizeof(path), "/proc/%ld/limits", (long)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char soft[64];

		if (strncmp(line, "Max locked memory", 17) != 0 || sscanf(line + 17, " %63s", soft) != 1)
			continue;
		if (strcmp(soft, "unlimited") == 0) {
			*limit = UINT64_MAX;
			r = 0;
		} else {
			char *end;
			unsigned long long value = strtoull(soft, &end, 10);
			r = end != soft && *end == 0 ? 0 : -EINVAL;
			*limit = value;
		}
		break;
	}
	fclose(f);
	return r;
}

uint64_t disk_access_memlock_limit(const struct caller_identity *caller)
{
	struct rlimit limit;
	uint64_t value;

	if (caller->uid == 0)
		return UINT64_MAX;
	/* The caller's own soft limit, as mlock(2) would apply it to the caller.  The
	 * caller is the process at the other end of the connection, which waits for
	 * our answer.  One we cannot read allows nothing. */
	if (caller->pid <= 0)
		return 0;
	if (prlimit(caller->pid, RLIMIT_MEMLOCK, NULL, &limit) == 0)
		return limit.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)limit.rlim_cur;
	return memlock_from_proc(caller->pid, &value) == 0 ? value : 0;
}

int disk_access_check_memory(const struct daemon *daemon, const struct caller_identity *caller, uint64_t more, bool locked,
			     uint64_t memlock_limit, char *why)
{
	struct disk_holdings held;
	char limit_text[32], held_text[32], more_text[32];

	/* Under the table lock: no user-name lookup here (a directory service may be
	 * slow), the uid says who. */
	if (caller->uid == 0)
		return 0;
	disk_table_holdings(&daemon->table, caller->uid, &held);
	size_format(more, more_text, sizeof(more_text));
	if (daemon->max_ram_per_user != UINT64_MAX &&
	    (more > daemon->max_ram_per_user || held.ram_bytes > daemon->max_ram_per_user - more)) {
		size_format(daemon->max_ram_per_user, limit_text, sizeof(limit_text));
		size_format(held.ram_bytes, held_text, sizeof(held_text));
		return disk_fail(why, -EDQUOT,
				 "uid %u may hold %s of RAM disks (imdiskd --max-ram-per-user): it holds %s, "
				 "%s more asked", (unsigned)caller->uid, limit_text, held_text, more_text);
	}
	if (locked && memlock_limit != UINT64_MAX &&
	    (more > memlock_limit || held.locked_bytes > memlock_limit - more)) {
		size_format(memlock_limit, limit_text, sizeof(limit_text));
		size_format(held.locked_bytes, held_text, sizeof(held_text));
		return disk_fail(why, -EDQUOT,
				 "uid %u may lock %s of memory (its RLIMIT_MEMLOCK, ulimit -l): it has %s "
				 "locked in awe disks, %s more asked", (unsigned)caller->uid, limit_text,
				 held_text, more_text);
	}
	return 0;
}

int disk_access_count_refusal(const struct daemon *daemon, const struct caller_identity *caller, char *why)
{
	return disk_fail(why, -EDQUOT, "uid %u has %" PRIu32 " disks already: the most imdiskd allows a user "
			 "(imdiskd --max-disks-per-user)", (unsigned)caller->uid, daemon->max_disks_per_user);
}
