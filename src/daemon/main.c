/* imdiskd: owns every disk.  Listens on a unix control socket (root only, or the
 * group --group names: never one implied by a name that happens to resolve), serves
 * each connection in its own thread, keeps disk state beside the socket, and
 * re-adopts its disks when started again. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <libgen.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/size.h"
#include "daemon/connections.h"
#include "common/trace.h"
#include "daemon/daemon.h"
#include "daemon/trusted_file.h"

/* Out of descriptors, the accept loop pauses this long before it tries again. */
#define ACCEPT_BACKOFF_MS 100
/* At a stop, connection threads get this long to finish what they are doing. */
#define STOP_CONNECTIONS_TIMEOUT_MS 5000

static volatile sig_atomic_t stop_requested;

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: imdiskd [options]\n"
		"The imdisk daemon: owns every virtual disk and answers imdisk(8) on a control socket.\n\n"
		"  -s, --socket PATH     control socket (default: $IMDISK_SOCKET, else /run/imdisk/control)\n"
		"  -d, --state-dir DIR   where disk state is kept for re-adoption (default: the socket's\n"
		"                        folder + /state)\n"
		"  -f, --foreground      stay in the foreground (default: detach once the socket is ready)\n"
		"  -u, --fuse-io-uring   serve user-space disks with FUSE over io_uring (the default\n"
		"                        where the kernel has it, 6.14+; turns the machine-wide\n"
		"                        fuse enable_uring switch on only while the mount is made);\n"
		"                        with -u, a kernel without it is warned about\n"
		"      --no-fuse-io-uring  serve them through /dev/fuse, and leave the switch alone\n"
		"  -w, --fuse-workers N  threads serving user-space disks (1-64, default 2: one per\n"
		"                        core of a small machine; more help disks that wait on a\n"
		"                        server, not on the CPU)\n"
		"  -t, --proxy-timeout SECONDS\n"
		"                        a proxy server silent this long fails I/O with EIO, and\n"
		"                        reconnecting may take as long again (default 10)\n"
		"  -g, --group NAME      the control socket is mode 0660 for group NAME, whose members\n"
		"                        may then create disks and change their own (default: 0600,\n"
		"                        root only)\n"
		"      --max-disks-per-user N\n"
		"                        disks a caller other than root may hold (default 16;\n"
		"                        'unlimited')\n"
		"      --max-ram-per-user SIZE\n"
		"                        RAM-disk bytes a caller other than root may hold in all\n"
		"                        (default 4G; 'unlimited'); -o awe also stays within the\n"
		"                        caller's own RLIMIT_MEMLOCK\n"
		"  -c, --max-connections-per-user N\n"
		"                        control connections one user may have open at once\n"
		"                        (1-65536, default 64); one more is closed at once\n"
		"  -v, --verbose         log every request\n"
		"  -D, --debug LIST      trace the data path's decisions and every dropped result\n"
		"                        for the areas in LIST (fuse, proxy, control, disk, loop,\n"
		"                        all); also IMDISK_DEBUG=LIST in the environment\n"
		"  -h, --help            this help\n"
		"  -V, --version         version\n\n"
		"Exit status: 0 stopped by SIGTERM/SIGINT; 1 could not start (the reason is printed).\n");
}

static void on_stop_signal(int signal_number)
{
	(void)signal_number;
	stop_requested = 1;
}

static int make_directory(const char *path, mode_t mode)
{
	char copy[PATH_MAX];

	snprintf(copy, sizeof(copy), "%s", path);
	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(copy, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(copy, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* One imdiskd per socket: an exclusive lock on the pid file beside it, opened
 * only in a folder that is ours and never through a link (trusted_file.h). */
static int lock_pid_file(const char *socket_path, int *lock_fd)
{
	char path[PATH_MAX + 8], folder[PATH_MAX + 8], why[TRUSTED_WHY_MAX];
	int dir_fd, fd;

	snprintf(path, sizeof(path), "%s.pid", socket_path);
	snprintf(folder, sizeof(folder), "%s", path);
	dir_fd = trusted_directory_open(dirname(folder), why);
	if (dir_fd < 0) {
		log_error("%s: refusing to keep the pid file there", why);
		return dir_fd;
	}
	snprintf(folder, sizeof(folder), "%s", path);
	fd = trusted_file_open(dir_fd, basename(folder), O_RDWR | O_CREAT, 0644, why);
	close(dir_fd);
	if (fd < 0) {
		log_error("%s: refusing it as the pid file", why);
		return fd;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		log_error("another imdiskd already serves %s", socket_path);
		return -EADDRINUSE;
	}
	*lock_fd = fd;
	return 0;
}

static void write_pid(int fd)
{
	char text[32];
	int n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());

	if (ftruncate(fd, 0) == 0)
		(void)!pwrite(fd, text, (size_t)n, 0);
}

/* The socket is root's (0600) unless --group names a group: then 0660 for it. */
static int open_control_socket(const char *path, const gid_t *group)
{
	struct sockaddr_un address = {.sun_family = AF_UNIX};
	mode_t old_mask;
	int sock, r;

	if (strlen(path) >= sizeof(address.sun_path))
		return -ENAMETOOLONG;
	strcpy(address.sun_path, path);
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return -errno;
	unlink(path); /* stale: the pid file lock says nobody else serves it */
	old_mask = umask(0177); /* never a moment with a socket others may use */
	r = bind(sock, (struct sockaddr *)&address, sizeof(address));
	umask(old_mask);
	if (r == 0 && group && (chown(path, 0, *group) < 0 || chmod(path, 0660) < 0))
		r = -1;
	if (r < 0 || listen(sock, 64) < 0) {
		r = -errno;
		close(sock);
		return r;
	}
	return sock;
}

/* A listening socket handed over by systemd (socket activation), or -1. */
static int inherited_socket(void)
{
	const char *pid = getenv("LISTEN_PID"), *count = getenv("LISTEN_FDS");

	if (!pid || !count || strtol(pid, NULL, 10) != (long)getpid() || strtol(count, NULL, 10) != 1)
		return -1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	fcntl(3, F_SETFD, FD_CLOEXEC);
	return 3;
}

/* Accept control connections until a stop is asked for.  Out of descriptors
 * (EMFILE, ENFILE) the pending connection stays queued: pause a little rather than
 * poll the still-readable socket in a loop, and say so once per shortage. */
static void serve(struct daemon *daemon, struct connections *connections, int listen_sock)
{
	bool short_of_descriptors = false;

	while (!stop_requested) {
		struct pollfd pfd = {.fd = listen_sock, .events = POLLIN};
		int sock;

		if (poll(&pfd, 1, 500) <= 0)
			continue;
		sock = accept4(listen_sock, NULL, NULL, SOCK_CLOEXEC);
		if (sock < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				if (!short_of_descriptors)
					log_warning("cannot accept a control connection: %s; waiting for some to close",
						    strerror(errno));
				short_of_descriptors = true;
				poll(NULL, 0, ACCEPT_BACKOFF_MS);
			}
			continue;
		}
		short_of_descriptors = false;
		connections_serve(connections, daemon, sock);
	}
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{"socket", required_argument, NULL, 's'}, {"state-dir", required_argument, NULL, 'd'},
		{"foreground", no_argument, NULL, 'f'},   {"verbose", no_argument, NULL, 'v'},
		{"debug", required_argument, NULL, 'D'},
		{"proxy-timeout", required_argument, NULL, 't'},
		{"fuse-io-uring", no_argument, NULL, 'u'},
		{"no-fuse-io-uring", no_argument, NULL, 'U'},
		{"fuse-workers", required_argument, NULL, 'w'},
		{"group", required_argument, NULL, 'g'},
		{"max-disks-per-user", required_argument, NULL, 'M'},
		{"max-ram-per-user", required_argument, NULL, 'R'},
		{"max-connections-per-user", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},         {"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	static struct daemon daemon;
	static struct connections connections;
	unsigned max_connections_per_user = CONNECTIONS_PER_USER_DEFAULT;
	unsigned still_running;
	const char *socket_path = NULL, *state_dir = NULL, *group_name = NULL;
	gid_t group_gid = 0;
	bool foreground = false, own_socket;
	int ready_pipe[2] = {-1, -1};
	int option, listen_sock, lock_fd = -1, r;
	struct sigaction action = {.sa_handler = on_stop_signal};
	char directory[PATH_MAX];

	log_init("imdiskd", LOG_LEVEL_WARNING);
	trace_enable_from_environment(); /* IMDISK_DEBUG=fuse,...; after log_init, which sets the level */
	daemon.proxy_timeout_ms = 10000;
	daemon.fuse_workers = DAEMON_FUSE_WORKERS;
	daemon.max_disks_per_user = DAEMON_MAX_DISKS_PER_USER;
	daemon.max_ram_per_user = DAEMON_MAX_RAM_PER_USER;
	while ((option = getopt_long(argc, argv, "s:d:ft:uw:g:c:vD:hV", options, NULL)) != -1) {
		switch (option) {
		case 's': socket_path = optarg; break;
		case 'd': state_dir = optarg; break;
		case 'f': foreground = true; break;
		case 'u': daemon.fuse_channel = DAEMON_FUSE_IO_URING; break;
		case 'U': daemon.fuse_channel = DAEMON_FUSE_DEVICE; break;
		case 't': {
			char *end;
			double seconds = strtod(optarg, &end);
			if (end == optarg || *end || !(seconds >= 0.1 && seconds <= 3600)) {
				log_error("--proxy-timeout takes seconds from 0.1 to 3600, not '%s'", optarg);
				return 1;
			}
			daemon.proxy_timeout_ms = (unsigned)(seconds * 1000);
			break;
		}
		case 'w': {
			char *end;
			long workers = strtol(optarg, &end, 10);
			if (end == optarg || *end || workers < 1 || workers > 64) {
				log_error("--fuse-workers takes a number from 1 to 64, not '%s'", optarg);
				return 1;
			}
			daemon.fuse_workers = (unsigned)workers;
			break;
		}
		case 'g': group_name = optarg; break;
		case 'M': {
			char *end;
			unsigned long count = strtoul(optarg, &end, 10);
			if (strcmp(optarg, "unlimited") == 0) {
				daemon.max_disks_per_user = UINT32_MAX;
			} else if (end == optarg || *end || *optarg == '-' || count > DISK_TABLE_MAX_UNITS) {
				log_error("--max-disks-per-user takes a number from 0 to %d or 'unlimited', not '%s'",
					  DISK_TABLE_MAX_UNITS, optarg);
				return 1;
			} else {
				daemon.max_disks_per_user = (uint32_t)count;
			}
			break;
		}
		case 'R':
			if (strcmp(optarg, "unlimited") == 0) {
				daemon.max_ram_per_user = UINT64_MAX;
			} else if (size_parse_offset(optarg, &daemon.max_ram_per_user) < 0) {
				log_error("--max-ram-per-user takes a size (4G, 512M...) or 'unlimited', not '%s'",
					  optarg);
				return 1;
			}
			break;
		case 'c': {
			char *end;
			long count = strtol(optarg, &end, 10);
			if (end == optarg || *end || count < 1 || count > 65536) {
				log_error("--max-connections-per-user takes a number from 1 to 65536, not '%s'", optarg);
				return 1;
			}
			max_connections_per_user = (unsigned)count;
			break;
		}
		case 'v': log_set_level(LOG_LEVEL_INFO); break;
		case 'D':
			if (trace_enable_list(optarg) < 0) {
				log_error("--debug takes a list of %s, not '%s'", trace_area_names(), optarg);
				return 1;
			}
			break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("imdiskd %s\n", IMDISK_VERSION); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		usage(stderr);
		return 1;
	}
	if (group_name) {
		struct group *group = getgrnam(group_name);
		if (!group) {
			log_error("--group %s: no such group", group_name);
			return 1;
		}
		group_gid = group->gr_gid;
	}
	if (!socket_path)
		socket_path = getenv("IMDISK_SOCKET");
	if (!socket_path || !*socket_path)
		socket_path = "/run/imdisk/control";
	snprintf(daemon.socket_path, sizeof(daemon.socket_path), "%s", socket_path);
	snprintf(directory, sizeof(directory), "%s", socket_path);
	if (state_dir)
		snprintf(daemon.state_dir, sizeof(daemon.state_dir), "%s", state_dir);
	else
		snprintf(daemon.state_dir, sizeof(daemon.state_dir), "%s/state", dirname(directory));
	snprintf(directory, sizeof(directory), "%s", socket_path);

	r = make_directory(dirname(directory), 0755);
	if (r == 0)
		r = make_directory(daemon.state_dir, 0700);
	if (r < 0) {
		log_error("cannot create %s or %s: %s", directory, daemon.state_dir, strerror(-r));
		return 1;
	}
	if (lock_pid_file(socket_path, &lock_fd) < 0)
		return 1;

	if (!foreground) {
		pid_t child;
		char ready;

		if (pipe2(ready_pipe, O_CLOEXEC) < 0 || (child = fork()) < 0) {
			log_error("cannot detach: %s", strerror(errno));
			return 1;
		}
		if (child > 0) {
			/* The parent returns once the socket answers (or the child failed). */
			close(ready_pipe[1]);
			return read(ready_pipe[0], &ready, 1) == 1 ? 0 : 1;
		}
		close(ready_pipe[0]);
		setsid();
		/* The lock belongs to the open file description, shared with the parent: it
		 * stays held by us after the parent exits. */
	}
	write_pid(lock_fd);

	sigaction(SIGTERM, &action, NULL);
	sigaction(SIGINT, &action, NULL);
	signal(SIGPIPE, SIG_IGN);

	disk_table_init(&daemon.table);
	pthread_mutex_init(&daemon.watchers_lock, NULL);
	pthread_mutex_init(&daemon.fuse_lock, NULL);
	fuse_mount_clean_stale(&daemon);
	state_open_directory(&daemon);
	state_adopt_all(&daemon);

	listen_sock = inherited_socket();
	own_socket = listen_sock < 0;
	if (own_socket)
		listen_sock = open_control_socket(socket_path, group_name ? &group_gid : NULL);
	if (listen_sock < 0) {
		log_error("cannot listen on %s: %s", socket_path, strerror(-listen_sock));
		return 1;
	}
	log_info("listening on %s (state in %s)", socket_path, daemon.state_dir);
	if (ready_pipe[1] >= 0) {
		int null_fd = open("/dev/null", O_RDWR);
		if (null_fd >= 0) {
			dup2(null_fd, STDIN_FILENO);
			dup2(null_fd, STDOUT_FILENO);
			dup2(null_fd, STDERR_FILENO);
			close(null_fd);
		}
		log_use_syslog(); /* detached: nobody reads the stderr we were given */
		(void)!write(ready_pipe[1], "1", 1);
		close(ready_pipe[1]);
	}

	connections_init(&connections, max_connections_per_user);
	serve(&daemon, &connections, listen_sock);

	close(listen_sock);
	if (own_socket)
		unlink(socket_path); /* systemd's socket stays systemd's */
	/* No disk is released while a connection thread may still use it: the threads
	 * are woken and waited for first (connections.h). */
	still_running = connections_stop(&connections, STOP_CONNECTIONS_TIMEOUT_MS);
	if (still_running)
		log_warning("%u control connections still busy after %d s; their disks are left to them", still_running,
			    STOP_CONNECTIONS_TIMEOUT_MS / 1000);
	disk_release_all(&daemon);
	pthread_mutex_lock(&daemon.watchers_lock);
	for (unsigned i = 0; i < daemon.watcher_count; i++)
		close(daemon.watchers[i]);
	daemon.watcher_count = 0;
	pthread_mutex_unlock(&daemon.watchers_lock);
	log_info("stopped; disks stay attached and are re-adopted at the next start");
	close(lock_fd);
	return 0;
}
