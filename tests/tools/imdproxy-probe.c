/* imdproxy-probe: a scripted IMDPROXY client for the tests.  It connects once and
 * runs its commands in order, printing one line per reply:
 *
 *   imdproxy-probe [--timeout SECONDS] --tcp HOST:PORT|--unix PATH|--serial TTY|--shm NAME|
 *                  --exec SHELL-COMMAND  COMMAND...
 *
 * --exec runs a server (devio - ...) on a socket pair as its stdin and stdout.
 *
 *   info                      "info size=N alignment=N flags=0xN"
 *   read OFFSET LENGTH FILE   "read errorno=N length=N"; the data goes to FILE (- : none)
 *   write OFFSET FILE         "write errorno=N length=N"; FILE's bytes are the data
 *   unmap RANGES, zero RANGES "unmap errorno=N"; RANGES is OFF:LEN[,OFF:LEN...] or -
 *   ranges CODE BYTES         a range request with BYTES zero bytes of array
 *   request CODE              a bare 8-byte request: "request errorno=N"
 *   connect FLAGS TEXT        "connect error=N object=N"
 *   scsi LENGTH               "scsi errorno=N length=N" (LENGTH zero bytes sent)
 *   close                     CLOSE (no reply): "close"
 *   rawq N,N,...              send these u64 values, nothing read (streams only)
 *   raw HEX                   send these bytes, nothing read (streams only)
 *   expect-eof                "eof" once the server closes, "data" if it sends instead
 *   alive                     shm only: "alive" or "dead" (the server lock)
 *   sleep MS
 *   wait-exit                 --exec: "exit N" once the server ended
 *
 * Numbers take 0x.  Exit status: 0 all ran, 1 error, 2 usage, 3 the server closed
 * the connection (or died) when a reply was due ("eof" printed), 4 timeout. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common/endian.h"
#include "protocol/imdproxy.h"

#define EXIT_ERROR 1
#define EXIT_USAGE 2
#define EXIT_EOF 3
#define EXIT_TIMEOUT 4

static int timeout_ms = 10000;

/* A stream (fd) or a shared-memory section. */
static int stream_fd = -1;
static struct {
	int fd;
	uint8_t *map;
	size_t size;
	sem_t *request;
	sem_t *response;
	uint64_t sequence;
} shm = {.fd = -1};

static void die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

static void die(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("imdproxy-probe: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

static uint64_t number(const char *text)
{
	char *end;
	uint64_t value;

	errno = 0;
	value = strtoull(text, &end, 0);
	if (errno || end == text || *end)
		die(EXIT_USAGE, "bad number '%s'", text);
	return value;
}

/* Stream I/O with the probe's timeout. */
static void stream_send(const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(stream_fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (errno == EPIPE || errno == ECONNRESET) {
				printf("eof\n");
				exit(EXIT_EOF);
			}
			die(EXIT_ERROR, "send: %s", strerror(errno));
		}
		p += n;
		len -= (size_t)n;
	}
}

/* 1 when data is there, 0 at timeout. */
static int stream_wait(int ms)
{
	struct pollfd pfd = {.fd = stream_fd, .events = POLLIN};
	int r;

	do
		r = poll(&pfd, 1, ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		die(EXIT_ERROR, "poll: %s", strerror(errno));
	return r;
}

static void stream_receive(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n;

		if (!stream_wait(timeout_ms)) {
			printf("timeout\n");
			exit(EXIT_TIMEOUT);
		}
		n = read(stream_fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EIO))) {
			printf("eof\n");
			exit(EXIT_EOF);
		}
		if (n < 0)
			die(EXIT_ERROR, "receive: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

static bool shm_server_alive(void)
{
	struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET,
			     .l_start = IMDPROXY_SHM_SERVER_LOCK_BYTE, .l_len = 1};

	if (fcntl(shm.fd, F_OFD_GETLK, &lock) < 0)
		die(EXIT_ERROR, "F_OFD_GETLK: %s", strerror(errno));
	return lock.l_type != F_UNLCK;
}

/* One request/reply over shared memory: header at 0, data at 4096. */
static void shm_exchange(const uint8_t *header, size_t header_size, const void *data, size_t len,
			 bool want_reply)
{
	struct timespec start;

	if (len > shm.size - IMDPROXY_SHM_HEADER_AREA)
		die(EXIT_ERROR, "%zu bytes do not fit in the section", len);
	memcpy(shm.map, header, header_size);
	if (len)
		memcpy(shm.map + IMDPROXY_SHM_HEADER_AREA, data, len);
	put_le64(shm.map + IMDPROXY_SHM_REQUEST_SEQ_OFFSET, ++shm.sequence);
	if (sem_post(shm.request) < 0)
		die(EXIT_ERROR, "sem_post: %s", strerror(errno));
	if (!want_reply)
		return;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct timespec now, deadline;

		/* Wait in slices of at most a second, checking that the server lives. */
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += 1;
		if (sem_timedwait(shm.response, &deadline) == 0) {
			if (get_le64(shm.map + IMDPROXY_SHM_REPLY_SEQ_OFFSET) == shm.sequence)
				return;
			continue; /* a late answer to a client that went away */
		}
		if (errno != ETIMEDOUT && errno != EINTR)
			die(EXIT_ERROR, "sem_timedwait: %s", strerror(errno));
		if (!shm_server_alive()) {
			printf("eof\n");
			exit(EXIT_EOF);
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >
		    timeout_ms) {
			printf("timeout\n");
			exit(EXIT_TIMEOUT);
		}
	}
}

/* Send a request (header + data) and read its reply header and data. */
static void exchange(const uint8_t *header, size_t header_size, const void *data, size_t len,
		     struct imdproxy_reply *reply, void *reply_data, size_t reply_cap)
{
	struct imdproxy_request sent;
	uint8_t answer[IMDPROXY_MAX_REPLY_HEADER];
	uint64_t payload, code = get_le64(header);
	size_t answer_size = imdproxy_reply_header_size(code);
	int r;

	imdproxy_decode_request(header, header_size, &sent, &payload);
	if (shm.map) {
		shm_exchange(header, header_size, data, len, answer_size > 0);
		memcpy(answer, shm.map, answer_size);
	} else {
		stream_send(header, header_size);
		if (len)
			stream_send(data, len);
		if (answer_size > 0)
			stream_receive(answer, answer_size);
	}
	if (answer_size == 0)
		return; /* CLOSE */
	r = imdproxy_decode_reply(code, answer, answer_size, &sent, reply, &payload);
	if (r < 0)
		die(EXIT_ERROR, "bad reply to %s: %s", imdproxy_code_name(code), strerror(-r));
	if (payload > reply_cap)
		die(EXIT_ERROR, "reply data of %" PRIu64 " bytes with room for %zu", payload,
		    reply_cap);
	if (payload == 0)
		return;
	if (shm.map)
		memcpy(reply_data, shm.map + IMDPROXY_SHM_HEADER_AREA, (size_t)payload);
	else
		stream_receive(reply_data, (size_t)payload);
}

static void connect_tcp(const char *target)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *list, *ai;
	char host[256];
	const char *colon = strrchr(target, ':');
	int one = 1;

	if (!colon || (size_t)(colon - target) >= sizeof(host))
		die(EXIT_USAGE, "--tcp wants HOST:PORT");
	memcpy(host, target, (size_t)(colon - target));
	host[colon - target] = '\0';
	/* [::1]:port */
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	if (getaddrinfo(host, colon + 1, &hints, &list) != 0)
		die(EXIT_ERROR, "cannot resolve %s", target);
	for (ai = list; ai; ai = ai->ai_next) {
		stream_fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (stream_fd >= 0 && connect(stream_fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (stream_fd >= 0)
			close(stream_fd);
		stream_fd = -1;
	}
	freeaddrinfo(list);
	if (stream_fd < 0)
		die(EXIT_ERROR, "cannot connect to %s: %s", target, strerror(errno));
	setsockopt(stream_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void connect_unix(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};

	if (strlen(path) >= sizeof(addr.sun_path))
		die(EXIT_USAGE, "path too long");
	strcpy(addr.sun_path, path);
	stream_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (stream_fd < 0 || connect(stream_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		die(EXIT_ERROR, "cannot connect to %s: %s", path, strerror(errno));
}

static void open_serial(const char *path)
{
	struct termios t;

	stream_fd = open(path, O_RDWR | O_NOCTTY);
	if (stream_fd < 0)
		die(EXIT_ERROR, "cannot open %s: %s", path, strerror(errno));
	if (tcgetattr(stream_fd, &t) == 0) {
		cfmakeraw(&t);
		t.c_cflag |= CLOCAL | CREAD;
		t.c_cc[VMIN] = 1;
		t.c_cc[VTIME] = 0;
		tcsetattr(stream_fd, TCSANOW, &t);
	}
}

static void run_server(const char *command)
{
	int pair[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) < 0)
		die(EXIT_ERROR, "socketpair: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		die(EXIT_ERROR, "fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(pair[1], STDIN_FILENO);
		dup2(pair[1], STDOUT_FILENO);
		close(pair[0]);
		close(pair[1]);
		execl("/bin/sh", "sh", "-c", command, (char *)NULL);
		_exit(127);
	}
	close(pair[1]);
	stream_fd = pair[0];
}

static void open_shm(const char *name)
{
	char path[256];
	struct stat st;
	struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET,
			     .l_start = IMDPROXY_SHM_CLIENT_LOCK_BYTE, .l_len = 1};

	snprintf(path, sizeof(path), "/%s", name);
	shm.fd = shm_open(path, O_RDWR, 0);
	if (shm.fd < 0 || fstat(shm.fd, &st) < 0)
		die(EXIT_ERROR, "cannot open shared memory %s: %s", path, strerror(errno));
	if ((size_t)st.st_size <= IMDPROXY_SHM_HEADER_AREA)
		die(EXIT_ERROR, "%s is too small", path);
	shm.size = (size_t)st.st_size;
	shm.map = mmap(NULL, shm.size, PROT_READ | PROT_WRITE, MAP_SHARED, shm.fd, 0);
	if (shm.map == MAP_FAILED)
		die(EXIT_ERROR, "mmap: %s", strerror(errno));
	if (memcmp(shm.map + IMDPROXY_SHM_MAGIC_OFFSET, IMDPROXY_SHM_MAGIC, 8) != 0)
		die(EXIT_ERROR, "%s is not set up by a server", path);
	snprintf(path, sizeof(path), "/%s%s", name, IMDPROXY_SHM_REQUEST_SUFFIX);
	shm.request = sem_open(path, 0);
	snprintf(path, sizeof(path), "/%s%s", name, IMDPROXY_SHM_RESPONSE_SUFFIX);
	shm.response = sem_open(path, 0);
	if (shm.request == SEM_FAILED || shm.response == SEM_FAILED)
		die(EXIT_ERROR, "cannot open the events of %s: %s", name, strerror(errno));
	if (!shm_server_alive())
		die(EXIT_ERROR, "no server on shared memory %s", name);
	/* One client at a time; the lock goes with this process. */
	if (fcntl(shm.fd, F_OFD_SETLKW, &lock) < 0)
		die(EXIT_ERROR, "client lock: %s", strerror(errno));
	/* A client that died may have left a request in progress: let the server finish
	 * it (about a second at most when it was never posted), then drop its answer. */
	for (int i = 0; i < 100; i++) {
		if (get_le64(shm.map + IMDPROXY_SHM_REQUEST_SEQ_OFFSET) ==
		    get_le64(shm.map + IMDPROXY_SHM_REPLY_SEQ_OFFSET))
			break;
		usleep(10000);
	}
	shm.sequence = get_le64(shm.map + IMDPROXY_SHM_REQUEST_SEQ_OFFSET);
	while (sem_trywait(shm.response) == 0)
		;
}

static void *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data;
	long size;

	if (!f)
		die(EXIT_ERROR, "cannot open %s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	data = malloc(size > 0 ? (size_t)size : 1);
	if (!data || fread(data, 1, (size_t)size, f) != (size_t)size)
		die(EXIT_ERROR, "cannot read %s", path);
	fclose(f);
	*len = (size_t)size;
	return data;
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f;

	if (!strcmp(path, "-"))
		return;
	f = fopen(path, "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
		die(EXIT_ERROR, "cannot write %s", path);
}

/* "OFF:LEN,OFF:LEN" as a range array. */
static uint8_t *parse_ranges(const char *text, size_t *bytes)
{
	size_t count = 1, used = 0;
	char *copy, *save = NULL, *item;
	uint8_t *array;

	*bytes = 0;
	if (!strcmp(text, "-"))
		return calloc(1, 1);
	for (const char *p = text; *p; p++)
		count += *p == ',';
	array = malloc(count * IMDPROXY_RANGE_ENTRY_SIZE);
	copy = strdup(text);
	for (item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(item, ':');
		if (!colon)
			die(EXIT_USAGE, "a range is OFFSET:LENGTH, not '%s'", item);
		*colon = '\0';
		used += imdproxy_encode_range(array + used, number(item), number(colon + 1));
	}
	free(copy);
	*bytes = used;
	return array;
}

static void need(int argc, int i, int count, const char *command)
{
	if (i + count >= argc)
		die(EXIT_USAGE, "%s needs %d argument(s)", command, count);
}

static void stream_only(const char *command)
{
	if (shm.map)
		die(EXIT_USAGE, "%s works on streams only", command);
}

int main(int argc, char **argv)
{
	uint8_t header[IMDPROXY_MAX_REQUEST_HEADER];
	struct imdproxy_reply reply;
	int i = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	for (; i < argc && !strncmp(argv[i], "--", 2); i += 2) {
		if (i + 1 >= argc)
			die(EXIT_USAGE, "%s needs a value", argv[i]);
		if (!strcmp(argv[i], "--timeout"))
			timeout_ms = (int)(number(argv[i + 1]) * 1000);
		else if (!strcmp(argv[i], "--tcp"))
			connect_tcp(argv[i + 1]);
		else if (!strcmp(argv[i], "--unix"))
			connect_unix(argv[i + 1]);
		else if (!strcmp(argv[i], "--serial"))
			open_serial(argv[i + 1]);
		else if (!strcmp(argv[i], "--shm"))
			open_shm(argv[i + 1]);
		else if (!strcmp(argv[i], "--exec"))
			run_server(argv[i + 1]);
		else
			die(EXIT_USAGE, "unknown option %s", argv[i]);
	}
	if (stream_fd < 0 && !shm.map)
		die(EXIT_USAGE, "say where: --tcp, --unix, --serial, --shm or --exec");

	for (; i < argc; i++) {
		const char *command = argv[i];

		if (!strcmp(command, "wait-exit")) {
			/* --exec: the server's exit status, once it ended by itself. */
			int status;
			if (wait(&status) < 0)
				die(EXIT_USAGE, "wait-exit goes with --exec");
			printf("exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
			continue;
		}

		if (!strcmp(command, "info")) {
			size_t n = imdproxy_encode_info_request(header);
			exchange(header, n, NULL, 0, &reply, NULL, 0);
			printf("info size=%" PRIu64 " alignment=%" PRIu64 " flags=0x%" PRIx64 "\n",
			       reply.info.file_size, reply.info.req_alignment, reply.info.flags);
		} else if (!strcmp(command, "read")) {
			need(argc, i, 3, command);
			uint64_t length = number(argv[i + 2]);
			uint8_t *data = malloc(length ? length : 1);
			size_t n = imdproxy_encode_read_request(header, number(argv[i + 1]), length);
			if (!data)
				die(EXIT_ERROR, "out of memory");
			exchange(header, n, NULL, 0, &reply, data, length);
			printf("read errorno=%" PRIu64 " length=%" PRIu64 "\n", reply.errorno,
			       reply.length);
			write_file(argv[i + 3], data, (size_t)reply.length);
			free(data);
			i += 3;
		} else if (!strcmp(command, "write")) {
			need(argc, i, 2, command);
			size_t len;
			void *data = read_file(argv[i + 2], &len);
			size_t n = imdproxy_encode_write_request(header, number(argv[i + 1]), len);
			exchange(header, n, data, len, &reply, NULL, 0);
			printf("write errorno=%" PRIu64 " length=%" PRIu64 "\n", reply.errorno,
			       reply.length);
			free(data);
			i += 2;
		} else if (!strcmp(command, "unmap") || !strcmp(command, "zero")) {
			need(argc, i, 1, command);
			uint64_t code = command[0] == 'u' ? IMDPROXY_REQ_UNMAP : IMDPROXY_REQ_ZERO;
			size_t len;
			uint8_t *array = parse_ranges(argv[i + 1], &len);
			size_t n = imdproxy_encode_range_request(header, code, len);
			exchange(header, n, array, len, &reply, NULL, 0);
			printf("%s errorno=%" PRIu64 "\n", command, reply.errorno);
			free(array);
			i += 1;
		} else if (!strcmp(command, "ranges")) {
			need(argc, i, 2, command);
			uint64_t bytes = number(argv[i + 2]);
			uint8_t *array = calloc(1, bytes ? bytes : 1);
			size_t n = imdproxy_encode_range_request(header, number(argv[i + 1]), bytes);
			exchange(header, n, array, bytes, &reply, NULL, 0);
			printf("ranges errorno=%" PRIu64 "\n", reply.errorno);
			free(array);
			i += 2;
		} else if (!strcmp(command, "request")) {
			need(argc, i, 1, command);
			put_le64(header, number(argv[i + 1]));
			exchange(header, 8, NULL, 0, &reply, NULL, 0);
			printf("request errorno=%" PRIu64 "\n", reply.errorno);
			i += 1;
		} else if (!strcmp(command, "connect")) {
			need(argc, i, 2, command);
			uint8_t text[IMDPROXY_CONNECT_MAX_STRING];
			int len = imdproxy_utf8_to_utf16le(argv[i + 2], text, sizeof(text));
			if (len < 0)
				die(EXIT_USAGE, "bad connection string: %s", strerror(-len));
			size_t n = imdproxy_encode_connect_request(header, number(argv[i + 1]),
								   (uint64_t)len);
			exchange(header, n, text, (size_t)len, &reply, NULL, 0);
			printf("connect error=%" PRIu64 " object=%" PRIu64 "\n", reply.errorno,
			       reply.object_ptr);
			i += 2;
		} else if (!strcmp(command, "scsi")) {
			need(argc, i, 1, command);
			static const uint8_t cdb[IMDPROXY_SCSI_CDB_SIZE] = {0x12};
			uint64_t length = number(argv[i + 1]);
			uint8_t *data = calloc(1, length ? length : 1);
			uint8_t answer[256];
			size_t n = imdproxy_encode_scsi_request(header, cdb, length, sizeof(answer));
			exchange(header, n, data, length, &reply, answer, sizeof(answer));
			printf("scsi errorno=%" PRIu64 " length=%" PRIu64 "\n", reply.errorno,
			       reply.length);
			free(data);
			i += 1;
		} else if (!strcmp(command, "close")) {
			size_t n = imdproxy_encode_close_request(header);
			exchange(header, n, NULL, 0, &reply, NULL, 0);
			printf("close\n");
		} else if (!strcmp(command, "rawq")) {
			need(argc, i, 1, command);
			stream_only(command);
			char *copy = strdup(argv[i + 1]), *save = NULL;
			for (char *v = strtok_r(copy, ",", &save); v; v = strtok_r(NULL, ",", &save)) {
				uint8_t q[8];
				put_le64(q, number(v));
				stream_send(q, 8);
			}
			free(copy);
			i += 1;
		} else if (!strcmp(command, "raw")) {
			need(argc, i, 1, command);
			stream_only(command);
			const char *hex = argv[i + 1];
			size_t len = strlen(hex) / 2;
			for (size_t k = 0; k < len; k++) {
				unsigned int byte;
				if (sscanf(hex + 2 * k, "%2x", &byte) != 1)
					die(EXIT_USAGE, "bad hex '%s'", hex);
				uint8_t b = (uint8_t)byte;
				stream_send(&b, 1);
			}
			i += 1;
		} else if (!strcmp(command, "expect-eof")) {
			stream_only(command);
			uint8_t byte;
			ssize_t n;
			if (!stream_wait(timeout_ms)) {
				printf("timeout\n");
				exit(EXIT_TIMEOUT);
			}
			n = read(stream_fd, &byte, 1);
			printf("%s\n", n > 0 ? "data" : "eof");
		} else if (!strcmp(command, "alive")) {
			if (!shm.map)
				die(EXIT_USAGE, "alive works on shared memory only");
			printf("%s\n", shm_server_alive() ? "alive" : "dead");
		} else if (!strcmp(command, "sleep")) {
			need(argc, i, 1, command);
			usleep((useconds_t)(number(argv[i + 1]) * 1000));
			i += 1;
		} else {
			die(EXIT_USAGE, "unknown command '%s'", command);
		}
	}
	return 0;
}
