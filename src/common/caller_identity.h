/* Who asked the daemon for something, in full: uid, gid and supplementary
 * groups of the process at the other end of a unix socket (SO_PEERCRED and
 * SO_PEERGROUPS), and a way to do one thing with exactly those rights.
 *
 * Why the whole identity: a file or socket the caller may reach through a
 * supplementary group only must be reached, and one that the daemon reaches only
 * through its own (root's) groups must not be; setfsuid/setfsgid alone keep the
 * daemon's groups.
 *
 * Why a thread: credentials are per thread in the kernel, but glibc's setgroups,
 * setresgid and setresuid change every thread of the process (they broadcast the
 * change).  caller_identity_run() starts a short-lived thread that drops to the
 * identity with the raw system calls, which change that thread alone, runs the
 * function there and ends; no other thread of the daemon changes rights. */
#ifndef IMDISK_COMMON_CALLER_IDENTITY_H
#define IMDISK_COMMON_CALLER_IDENTITY_H

#include <stddef.h>
#include <sys/types.h>

struct caller_identity {
	pid_t pid; /* at the time of connecting; for messages only */
	uid_t uid;
	gid_t gid;
	size_t group_count;
	gid_t *groups; /* group_count supplementary groups (owned; NULL when none) */
};

/* The identity of the peer of the unix socket sock (to be released).  -ENOMEM,
 * or the errno of getsockopt. */
int caller_identity_from_socket(int sock, struct caller_identity *out);
/* A deep copy (to be released). */
int caller_identity_copy(struct caller_identity *out, const struct caller_identity *from);
void caller_identity_release(struct caller_identity *identity);

/* Runs fn(arg) in a new thread with exactly this identity (groups, then gid, then
 * uid, all three ids real, effective and saved) and returns its result; a
 * negative errno when the thread could not drop to it (fn does not run).  A
 * daemon that is not root runs fn as itself when the identity is its own uid,
 * and refuses (-EPERM) any other.  identity NULL: fn runs in the calling thread. */
int caller_identity_run(const struct caller_identity *identity, int (*fn)(void *arg), void *arg);

#endif
