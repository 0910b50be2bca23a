/* devio: serve a disk image, a block device or a RAM disk over IMDPROXY, or
 * (--nbd) over NBD.
 *
 *   devio [-r] tcp-port|-|shm:NAME|/dev/ttyX[:settings] diskdev [blocks|partition]
 *         [offset] [alignment] [buffersize]
 *   devio --nbd [--listen ADDR] tcp-port|--unix PATH diskdev ...
 *
 * A VHD image (dynamic or fixed) is served as the virtual disk it holds, as the
 * reference server serves dynamic ones; --raw serves any file's bytes as they are.
 *
 * The positional form and its number rules are the reference server's; long
 * options say the same things by name.  Exit status: 0 normal end, 1 runtime
 * error, 2 usage error. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/serial_port.h"
#include "common/size.h"
#include "common/trace.h"
#include "devio/devio.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define SHUTDOWN_GRACE_MS 2000

static const char synopsis[] =
	"devio [-r] PORT|-|shm:NAME|TTY[:SETTINGS] DISKDEV [BLOCKS|PARTITION] [OFFSET] "
	"[ALIGNMENT] [BUFFERSIZE]";

enum transport_kind { TRANSPORT_TCP, TRANSPORT_UNIX, TRANSPORT_STDIO, TRANSPORT_SERIAL, TRANSPORT_SHM };

struct config {
	enum transport_kind transport;
	uint16_t port;
	const char *listen_address;
	const char *unix_path;
	mode_t socket_mode;
	unsigned int max_connections;
	unsigned int idle_timeout_s;
	uint64_t max_buffer_memory; /* 0: the default */
	const char *port_file;
	const char *shm_name;
	char *serial_device;        /* allocated */
	const char *serial_settings; /* inside serial_device's allocation, or NULL */
	struct devio_disk_spec disk;
	uint64_t alignment;
	uint64_t buffer_size;
	bool writeback;
	bool cache_given;  /* --cache said which */
	bool idle_timeout_given;
	bool nbd;          /* speak NBD instead of IMDPROXY */
	enum log_level log_level;
};

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("devio: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: %s (devio --help for more)\n", synopsis);
	exit(EXIT_USAGE);
}

static void print_help(void)
{
	printf("Usage: %s\n"
	       "       devio [OPTIONS] --unix PATH DISKDEV [BLOCKS|PARTITION] [OFFSET] [ALIGNMENT] "
	       "[BUFFERSIZE]\n"
	       "       devio --nbd [OPTIONS] PORT|--unix PATH DISKDEV [BLOCKS|PARTITION] ...\n"
	       "Serve a disk image, a block device or a RAM disk (memory:SIZE) to ImDisk\n"
	       "proxy clients (IMDPROXY), or to NBD clients (--nbd), until SIGINT or SIGTERM.\n"
	       "\n"
	       "Where to serve (the first argument):\n"
	       "  PORT                TCP port (0: any free one); loopback only unless --listen\n"
	       "  -                   one session on stdin/stdout (inetd style)\n"
	       "  shm:NAME            POSIX shared memory /NAME (see devio(8))\n"
	       "  TTY[:SETTINGS]      a serial line, e.g. /dev/ttyS0:115200,8,N,1\n"
	       "\n"
	       "What to serve (the arguments after DISKDEV, as the reference devio reads them):\n"
	       "  BLOCKS|PARTITION    below 512: partition number (0: whole image); 512 or more:\n"
	       "                      a count of 512-byte blocks; or a size with a suffix\n"
	       "                      (K M G T: powers of 1024, k m g t: of 1000, B b: bytes).\n"
	       "                      Omitted: the first partition of a table, else all.\n"
	       "  OFFSET              where the disk starts: 512-byte sectors, or suffixed\n"
	       "  ALIGNMENT           the INFO request alignment, 1..512 (default 1)\n"
	       "  BUFFERSIZE          the largest request in bytes (default 64M)\n"
	       "\n"
	       "Options:\n"
	       "      --nbd               speak NBD (fixed newstyle, structured replies,\n"
	       "                          base:allocation) instead of IMDPROXY, on a TCP port\n"
	       "                          or --unix PATH; write-back unless --cache says\n"
	       "  -r, --read-only         refuse writes (errorno 9, EBADF)\n"
	       "      --listen ADDR       listen on ADDR (e.g. 0.0.0.0, ::, a host name)\n"
	       "      --unix PATH         listen on a unix-domain socket instead of a port\n"
	       "      --socket-mode MODE  the socket's permissions, octal (default 0600: only\n"
	       "                          devio's user may connect)\n"
	       "      --max-connections N at most N connections at once (default 64); more are\n"
	       "                          closed at once\n"
	       "      --idle-timeout SECS close a connection that sends no request for SECS\n"
	       "                          seconds (default 300; 0: never)\n"
	       "      --max-buffer-memory BYTES  request buffers of all connections\n"
	       "                          together (default 256M, at least BUFFERSIZE)\n"
	       "      --port-file FILE    write the TCP port bound to FILE once listening\n"
	       "      --partition N       serve partition N (0: the whole image)\n"
	       "      --offset BYTES      where the disk starts, in bytes (suffixes as imdisk -b)\n"
	       "      --size BYTES        serve this many bytes (suffixes as imdisk -s)\n"
	       "      --alignment N       as ALIGNMENT\n"
	       "      --buffer-size BYTES as BUFFERSIZE\n"
	       "      --cache=MODE        writethrough (default: a write is acknowledged once\n"
	       "                          durable) or writeback (flushed at session end)\n"
	       "      --raw               serve the image's bytes as they are (a VHD image is\n"
	       "                          otherwise served as the virtual disk it holds)\n"
	       "  -v, --verbose           log every request\n"
	       "  -q, --quiet             log only warnings and errors\n"
	       "  -D, --debug LIST        trace these areas of the data path (comma-separated:\n"
	       "                          devio, or all; also IMDISK_DEBUG=LIST)\n"
	       "  -h, --help              show this help\n"
	       "  -V, --version           show the version\n"
	       "\n"
	       "Exit status: 0 normal end, 1 runtime error, 2 usage error.\n",
	       synopsis);
}

static bool all_digits(const char *text)
{
	if (!*text)
		return false;
	for (; *text; text++)
		if (*text < '0' || *text > '9')
			return false;
	return true;
}

static int parse_u64(const char *text, uint64_t *value)
{
	char *end;

	if (!all_digits(text))
		return -EINVAL;
	errno = 0;
	*value = strtoull(text, &end, 10);
	return errno ? -ERANGE : 0;
}

/* The reference server's sizes: a plain number counts `unit` bytes; K M G T are
 * powers of 1024, k m g t powers of 1000, B and b after a digit mean bytes (the
 * reference server's meaning, kept so its command lines work; imdisk's b counts
 * 512-byte blocks).  util-linux's KiB..TiB and KB..TB are size_parse()'s. */
static int parse_reference_size(const char *text, uint64_t unit, uint64_t *bytes)
{
	size_t len = strlen(text);
	struct size_request request;
	uint64_t value;
	int r;

	if (all_digits(text)) {
		r = parse_u64(text, &value);
		if (r < 0 || value > UINT64_MAX / unit)
			return -ERANGE;
		*bytes = value * unit;
		return 0;
	}
	if (len > 1 && (text[len - 1] == 'B' || text[len - 1] == 'b') &&
	    text[len - 2] >= '0' && text[len - 2] <= '9') {
		char digits[32];
		if (len - 1 >= sizeof(digits))
			return -EINVAL;
		memcpy(digits, text, len - 1);
		digits[len - 1] = '\0';
		return parse_u64(digits, bytes);
	}
	if (text[0] == '-')
		return -EINVAL;
	r = size_parse(text, &request);
	if (r < 0)
		return r;
	if (request.kind != SIZE_BYTES)
		return -EINVAL;
	*bytes = request.value;
	return 0;
}

static void parse_transport(const char *text, struct config *config)
{
	uint64_t port;
	int r;

	if (!strcmp(text, "-")) {
		config->transport = TRANSPORT_STDIO;
	} else if (!strncmp(text, "shm:", 4)) {
		config->transport = TRANSPORT_SHM;
		config->shm_name = text + 4;
		if (!devio_shm_name_valid(config->shm_name))
			usage_error("bad shared memory name '%s' (1..200 characters, no '/')",
				    config->shm_name);
	} else if (all_digits(text)) {
		if (parse_u64(text, &port) < 0 || port > 65535)
			usage_error("bad TCP port '%s'", text);
		config->transport = TRANSPORT_TCP;
		config->port = (uint16_t)port;
	} else {
		/* A serial line: "device[:settings]", split as imdisk -o comm splits it. */
		config->transport = TRANSPORT_SERIAL;
		config->serial_device = malloc(PATH_MAX);
		if (!config->serial_device) {
			log_error("out of memory");
			exit(EXIT_RUNTIME);
		}
		r = serial_target_split(text, config->serial_device, PATH_MAX, &config->serial_settings);
		if (r == -EINVAL)
			usage_error("no serial device in '%s'", text);
		if (r < 0)
			usage_error("serial device name too long in '%s'", text);
		if (config->serial_settings && devio_serial_settings_valid(config->serial_settings) < 0)
			usage_error("bad serial settings '%s' (e.g. 115200,8,N,1)", config->serial_settings);
	}
}

static void parse_window_argument(const char *text, struct config *config)
{
	uint64_t value;

	if (all_digits(text)) {
		if (parse_u64(text, &value) < 0)
			usage_error("bad size or partition '%s'", text);
		if (value < 512) {
			config->disk.window = DEVIO_WINDOW_PARTITION;
			config->disk.partition = (uint32_t)value;
			return;
		}
		if (value > UINT64_MAX / 512)
			usage_error("size '%s' is too large", text);
		config->disk.window = DEVIO_WINDOW_SIZE;
		config->disk.size = value * 512;
		return;
	}
	if (parse_reference_size(text, 1, &value) < 0 || value == 0)
		usage_error("bad size or partition '%s'", text);
	config->disk.window = DEVIO_WINDOW_SIZE;
	config->disk.size = value;
}

enum {
	OPT_LISTEN = 256,
	OPT_UNIX,
	OPT_PORT_FILE,
	OPT_PARTITION,
	OPT_OFFSET,
	OPT_SIZE,
	OPT_ALIGNMENT,
	OPT_BUFFER_SIZE,
	OPT_CACHE,
	OPT_RAW,
	OPT_SOCKET_MODE,
	OPT_MAX_CONNECTIONS,
	OPT_IDLE_TIMEOUT,
	OPT_MAX_BUFFER_MEMORY,
	OPT_NBD,
};

static const struct option long_options[] = {
	{"read-only", no_argument, NULL, 'r'},
	{"nbd", no_argument, NULL, OPT_NBD},
	{"listen", required_argument, NULL, OPT_LISTEN},
	{"unix", required_argument, NULL, OPT_UNIX},
	{"port-file", required_argument, NULL, OPT_PORT_FILE},
	{"partition", required_argument, NULL, OPT_PARTITION},
	{"offset", required_argument, NULL, OPT_OFFSET},
	{"size", required_argument, NULL, OPT_SIZE},
	{"alignment", required_argument, NULL, OPT_ALIGNMENT},
	{"buffer-size", required_argument, NULL, OPT_BUFFER_SIZE},
	{"cache", required_argument, NULL, OPT_CACHE},
	{"raw", no_argument, NULL, OPT_RAW},
	{"socket-mode", required_argument, NULL, OPT_SOCKET_MODE},
	{"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
	{"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
	{"max-buffer-memory", required_argument, NULL, OPT_MAX_BUFFER_MEMORY},
	{"verbose", no_argument, NULL, 'v'},
	{"debug", required_argument, NULL, 'D'},
	{"quiet", no_argument, NULL, 'q'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

static void parse_alignment(const char *text, struct config *config)
{
	if (parse_u64(text, &config->alignment) < 0 || config->alignment < 1 ||
	    config->alignment > IMDPROXY_MAX_ALIGNMENT)
		usage_error("bad alignment '%s' (1..512)", text);
}

static void parse_buffer_size(const char *text, struct config *config)
{
	if (parse_reference_size(text, 1, &config->buffer_size) < 0 ||
	    config->buffer_size < DEVIO_MIN_BUFFER_SIZE || config->buffer_size > DEVIO_MAX_BUFFER_SIZE)
		usage_error("bad buffer size '%s' (512 bytes to 1G)", text);
}

/* Octal permission bits, as chmod takes them: who else may connect. */
static void parse_socket_mode(const char *text, struct config *config)
{
	char *end;
	unsigned long mode;

	errno = 0;
	mode = strtoul(text, &end, 8);
	if (!*text || *end || errno || mode > 0777 || text[0] == '-' || text[0] == '+')
		usage_error("bad socket mode '%s' (octal permission bits, e.g. 0660)", text);
	config->socket_mode = (mode_t)mode;
}

static void parse_command_line(int argc, char **argv, struct config *config)
{
	bool have_window = false, have_offset = false, have_alignment = false, have_buffer = false;
	bool have_socket_mode = false;
	struct size_request request;
	char **args;
	int count, opt;
	uint64_t value;

	memset(config, 0, sizeof(*config));
	config->disk.window = DEVIO_WINDOW_AUTO;
	config->alignment = 1;
	config->buffer_size = DEVIO_DEFAULT_BUFFER_SIZE;
	config->log_level = LOG_LEVEL_INFO;
	config->socket_mode = DEVIO_DEFAULT_SOCKET_MODE;
	config->max_connections = DEVIO_DEFAULT_CONNECTIONS;
	config->idle_timeout_s = DEVIO_DEFAULT_IDLE_TIMEOUT_S;

	while ((opt = getopt_long(argc, argv, "rvqD:hV", long_options, NULL)) != -1) {
		switch (opt) {
		case 'r':
			config->disk.read_only = true;
			break;
		case OPT_NBD:
			config->nbd = true;
			break;
		case OPT_LISTEN:
			config->listen_address = optarg;
			break;
		case OPT_UNIX:
			config->unix_path = optarg;
			if (!*optarg)
				usage_error("--unix needs a path");
			break;
		case OPT_PORT_FILE:
			config->port_file = optarg;
			break;
		case OPT_PARTITION:
			if (have_window)
				usage_error("give one of --partition, --size");
			if (parse_u64(optarg, &value) < 0 || value > UINT32_MAX)
				usage_error("bad partition number '%s'", optarg);
			config->disk.window = DEVIO_WINDOW_PARTITION;
			config->disk.partition = (uint32_t)value;
			have_window = true;
			break;
		case OPT_SIZE:
			if (have_window)
				usage_error("give one of --partition, --size");
			if (size_parse(optarg, &request) < 0 || request.kind != SIZE_BYTES ||
			    request.value == 0)
				usage_error("bad size '%s'", optarg);
			config->disk.window = DEVIO_WINDOW_SIZE;
			config->disk.size = request.value;
			have_window = true;
			break;
		case OPT_OFFSET:
			if (size_parse_offset(optarg, &config->disk.offset) < 0)
				usage_error("bad offset '%s'", optarg);
			have_offset = true;
			break;
		case OPT_ALIGNMENT:
			parse_alignment(optarg, config);
			have_alignment = true;
			break;
		case OPT_BUFFER_SIZE:
			parse_buffer_size(optarg, config);
			have_buffer = true;
			break;
		case OPT_CACHE:
			if (!strcmp(optarg, "writeback"))
				config->writeback = true;
			else if (!strcmp(optarg, "writethrough"))
				config->writeback = false;
			else
				usage_error("bad cache mode '%s' (writeback or writethrough)", optarg);
			config->cache_given = true;
			break;
		case OPT_RAW:
			config->disk.raw = true;
			break;
		case OPT_MAX_CONNECTIONS:
			if (parse_u64(optarg, &value) < 0 || value < 1 || value > DEVIO_MAX_CONNECTIONS)
				usage_error("bad connection count '%s' (1..%d)", optarg,
					    DEVIO_MAX_CONNECTIONS);
			config->max_connections = (unsigned int)value;
			break;
		case OPT_IDLE_TIMEOUT:
			/* Kept below UINT_MAX milliseconds. */
			if (parse_u64(optarg, &value) < 0 || value > 4000000)
				usage_error("bad idle timeout '%s' (seconds, 0: none)", optarg);
			config->idle_timeout_s = (unsigned int)value;
			config->idle_timeout_given = true;
			break;
		case OPT_MAX_BUFFER_MEMORY:
			if (size_parse(optarg, &request) < 0 || request.kind != SIZE_BYTES ||
			    request.value == 0 || request.value > SIZE_MAX / 2)
				usage_error("bad buffer memory '%s'", optarg);
			config->max_buffer_memory = request.value;
			break;
		case OPT_SOCKET_MODE:
			parse_socket_mode(optarg, config);
			have_socket_mode = true;
			break;
		case 'v':
			config->log_level = LOG_LEVEL_DEBUG;
			break;
		case 'q':
			config->log_level = LOG_LEVEL_WARNING;
			break;
		case 'D':
			if (trace_enable_list(optarg) < 0)
				usage_error("bad trace list '%s' (known: %s)", optarg, trace_area_names());
			break;
		case 'h':
			print_help();
			exit(0);
		case 'V':
			printf("devio (imdisk) %s\n", IMDISK_VERSION);
			exit(0);
		default:
			fprintf(stderr, "usage: %s (devio --help for more)\n", synopsis);
			exit(EXIT_USAGE);
		}
	}

	args = argv + optind;
	count = argc - optind;
	if (config->unix_path) {
		config->transport = TRANSPORT_UNIX;
	} else {
		if (count < 1)
			usage_error("where to serve is missing (a port, -, shm:NAME or a serial line)");
		parse_transport(args[0], config);
		args++;
		count--;
	}
	if (count < 1)
		usage_error("the disk to serve is missing");
	if (count > 5)
		usage_error("too many arguments ('%s')", args[5]);
	config->disk.path = args[0];
	if (!strncmp(args[0], "memory:", 7) && config->disk.read_only)
		log_warning("a read-only RAM disk reads as zeroes");
	if (count > 1) {
		if (have_window)
			usage_error("give the size or partition once");
		parse_window_argument(args[1], config);
	}
	if (count > 2) {
		if (have_offset)
			usage_error("give the offset once");
		if (parse_reference_size(args[2], 512, &config->disk.offset) < 0)
			usage_error("bad offset '%s'", args[2]);
	}
	if (count > 3) {
		if (have_alignment)
			usage_error("give the alignment once");
		parse_alignment(args[3], config);
	}
	if (count > 4) {
		if (have_buffer)
			usage_error("give the buffer size once");
		parse_buffer_size(args[4], config);
	}
	if (config->listen_address && config->transport != TRANSPORT_TCP)
		usage_error("--listen goes with a TCP port");
	if (config->port_file && config->transport != TRANSPORT_TCP)
		usage_error("--port-file goes with a TCP port");
	if (config->max_buffer_memory && config->max_buffer_memory < config->buffer_size)
		usage_error("--max-buffer-memory is below the buffer size (%" PRIu64 " bytes)",
			    config->buffer_size);
	if (have_socket_mode && config->transport != TRANSPORT_UNIX)
		usage_error("--socket-mode goes with --unix");
	if (config->nbd && config->transport != TRANSPORT_TCP &&
	    config->transport != TRANSPORT_UNIX)
		usage_error("--nbd goes with a TCP port or --unix");
	/* NBD has FLUSH (and FUA): a client asks for durability where it needs it. */
	if (config->nbd && !config->cache_given)
		config->writeback = true;
}

static struct devio_server server;

/* SIGINT, SIGTERM and SIGHUP are blocked in every thread and taken here: the first
 * stops devio cleanly, a second one ends it at once. */
static void *signal_thread(void *arg)
{
	sigset_t *signals = arg;
	int sig;

	if (sigwait(signals, &sig) != 0)
		return NULL;
	log_info("stopping (%s)", strsignal(sig));
	devio_server_stop(&server);
	if (sigwait(signals, &sig) != 0)
		return NULL;
	log_warning("stopping at once (%s)", strsignal(sig));
	_exit(EXIT_RUNTIME);
}

static int write_port_file(const char *path, uint16_t port)
{
	char temporary[PATH_MAX];
	FILE *f;

	if (snprintf(temporary, sizeof(temporary), "%s.tmp%d", path, (int)getpid()) >=
	    (int)sizeof(temporary))
		return -ENAMETOOLONG;
	f = fopen(temporary, "w");
	if (!f)
		return -errno;
	fprintf(f, "%u\n", port);
	if (fclose(f) != 0 || rename(temporary, path) < 0) {
		int r = -errno;
		unlink(temporary);
		return r;
	}
	return 0;
}

static int serve_tcp(const struct config *config)
{
	int fds[DEVIO_MAX_LISTENERS];
	size_t count;
	uint16_t port = 0;
	const char *what;
	int r;

	r = devio_listen_tcp(config->listen_address, config->port, fds, DEVIO_MAX_LISTENERS,
			     &count, &port, &what);
	if (r < 0) {
		log_error("cannot listen on %s port %u: %s: %s",
			  config->listen_address ? config->listen_address : "loopback",
			  config->port, what, strerror(-r));
		return r;
	}
	log_info("listening on %s port %u", config->listen_address ? config->listen_address
								     : "127.0.0.1 and ::1",
		 port);
	if (config->port_file) {
		r = write_port_file(config->port_file, port);
		if (r < 0) {
			log_error("cannot write %s: %s", config->port_file, strerror(-r));
			goto out;
		}
	}
	r = devio_accept_loop(&server, fds, count);
	if (r < 0)
		log_error("accept: %s", strerror(-r));
out:
	for (size_t i = 0; i < count; i++)
		close(fds[i]);
	return r;
}

static int serve_unix(const struct config *config)
{
	struct devio_unix_listener listener;
	int r = devio_listen_unix(config->unix_path, config->socket_mode, &listener);

	if (r < 0) {
		log_error("cannot listen on %s: %s", config->unix_path,
			  r == -EEXIST ? "a file that is not a socket is there" : strerror(-r));
		return r;
	}
	log_info("listening on %s", config->unix_path);
	r = devio_accept_loop(&server, &listener.fd, 1);
	if (r < 0)
		log_error("accept: %s", strerror(-r));
	devio_unlisten_unix(config->unix_path, &listener);
	return r;
}

static int serve(const struct config *config)
{
	const char *what = "";
	int r;

	switch (config->transport) {
	case TRANSPORT_TCP:
		return serve_tcp(config);
	case TRANSPORT_UNIX:
		return serve_unix(config);
	case TRANSPORT_STDIO:
		r = devio_serve_stdio(&server);
		if (r == -EPIPE)
			log_error("stdin ended in the middle of a request");
		else if (r < 0 && r != -EMSGSIZE)
			log_error("stdio: %s", strerror(-r));
		return r;
	case TRANSPORT_SERIAL:
		r = devio_serve_serial(&server, config->serial_device, config->serial_settings, &what);
		if (r < 0 && r != -EMSGSIZE && !strcmp(what, "serve"))
			log_error("%s: %s", config->serial_device, strerror(-r));
		else if (r < 0 && r != -EMSGSIZE)
			log_error("cannot %s %s: %s", what, config->serial_device, strerror(-r));
		return r;
	case TRANSPORT_SHM:
		r = devio_serve_shm(&server, config->shm_name, &what);
		if (r == -EADDRINUSE)
			log_error("shm:%s is %s", config->shm_name, what);
		else if (r < 0)
			log_error("shm:%s: %s: %s", config->shm_name, what, strerror(-r));
		return r;
	}
	return -EINVAL;
}

int main(int argc, char **argv)
{
	struct config config;
	struct vdisk *disk;
	sigset_t signals;
	pthread_t thread;
	int r, status;

	log_init("devio", LOG_LEVEL_INFO);
	trace_enable_from_environment();
	parse_command_line(argc, argv, &config);
	/* Trace lines are debug messages: asking for them means seeing them. */
	log_set_level(trace_mask ? LOG_LEVEL_DEBUG : config.log_level);

	/* Before any thread exists, so that every thread inherits the mask. */
	sigemptyset(&signals);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &signals, NULL);
	signal(SIGPIPE, SIG_IGN); /* a client that went away is an EPIPE, not a death */

	r = devio_disk_open(&config.disk, &disk);
	if (r < 0)
		return EXIT_RUNTIME;
	r = devio_server_init(&server, disk, config.alignment, (size_t)config.buffer_size,
			      config.writeback);
	if (r < 0) {
		log_error("cannot start: %s", strerror(-r));
		vdisk_close(disk);
		return EXIT_RUNTIME;
	}
	server.nbd = config.nbd;
	server.nbd_idle_between_requests = config.idle_timeout_given;
	server.max_connections = config.max_connections;
	server.idle_timeout_ms = config.idle_timeout_s * 1000u;
	if (config.max_buffer_memory)
		server.max_buffer_memory = (size_t)config.max_buffer_memory;
	r = pthread_create(&thread, NULL, signal_thread, &signals);
	if (r != 0) {
		log_error("cannot start: %s", strerror(r));
		vdisk_close(disk);
		return EXIT_RUNTIME;
	}
	pthread_detach(thread);

	status = serve(&config) < 0 ? EXIT_RUNTIME : 0;
	r = devio_server_finish(&server, SHUTDOWN_GRACE_MS);
	if (r < 0) {
		log_error("cannot flush %s: %s", config.disk.path, strerror(-r));
		status = EXIT_RUNTIME;
	}
	free(config.serial_device);
	return status;
}
