#include "common/serial_port.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
	unsigned long baud;
	speed_t speed;
} baud_rates[] = {
	{50, B50}, {75, B75}, {110, B110}, {134, B134}, {150, B150}, {200, B200}, {300, B300},
	{600, B600}, {1200, B1200}, {1800, B1800}, {2400, B2400}, {4800, B4800}, {9600, B9600},
	{19200, B19200}, {38400, B38400}, {57600, B57600}, {115200, B115200},
	{230400, B230400}, {460800, B460800}, {500000, B500000}, {576000, B576000},
	{921600, B921600}, {1000000, B1000000}, {1152000, B1152000}, {1500000, B1500000},
	{2000000, B2000000}, {2500000, B2500000}, {3000000, B3000000}, {3500000, B3500000},
	{4000000, B4000000},
};

static int parse_number(const char *text, unsigned long *value)
{
	char *end;

	if (!isdigit((unsigned char)text[0]))
		return -EINVAL;
	errno = 0;
	*value = strtoul(text, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

static int set_baud(struct serial_settings *s, const char *text)
{
	unsigned long baud;

	if (parse_number(text, &baud) < 0)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(baud_rates) / sizeof(baud_rates[0]); i++) {
		if (baud_rates[i].baud == baud) {
			s->speed = baud_rates[i].speed;
			return 0;
		}
	}
	return -EINVAL;
}

static int set_parity(struct serial_settings *s, const char *text)
{
	if (strlen(text) != 1 || !strchr("neoms", tolower((unsigned char)text[0])))
		return -EINVAL;
	s->parity = (char)tolower((unsigned char)text[0]);
	return 0;
}

static int set_bits(int *field, const char *text, unsigned long low, unsigned long high)
{
	unsigned long value;

	if (parse_number(text, &value) < 0 || value < low || value > high)
		return -EINVAL;
	*field = (int)value;
	return 0;
}

int serial_settings_parse(const char *text, struct serial_settings *s)
{
	char copy[256];
	char *save = NULL, *token;
	bool first = true;

	memset(s, 0, sizeof(*s));
	if (!text)
		return 0;
	if (strlen(text) >= sizeof(copy))
		return -EINVAL;
	strcpy(copy, text);
	for (token = strtok_r(copy, ", ", &save); token; token = strtok_r(NULL, ", ", &save)) {
		char *value = strchr(token, '=');
		int r;

		if (value) {
			*value++ = '\0';
			if (!strcasecmp(token, "baud"))
				r = set_baud(s, value);
			else if (!strcasecmp(token, "parity"))
				r = set_parity(s, value);
			else if (!strcasecmp(token, "data"))
				r = set_bits(&s->data_bits, value, 5, 8);
			else if (!strcasecmp(token, "stop"))
				r = set_bits(&s->stop_bits, value, 1, 2);
			else
				r = -EINVAL;
		} else if (first) {
			r = set_baud(s, token);
		} else if (isalpha((unsigned char)token[0])) {
			r = set_parity(s, token);
		} else {
			/* 5..8 can only be data bits, 1 and 2 only stop bits. */
			unsigned long n;
			r = parse_number(token, &n);
			if (r == 0 && n >= 5 && n <= 8)
				s->data_bits = (int)n;
			else if (r == 0 && (n == 1 || n == 2))
				s->stop_bits = (int)n;
			else
				r = -EINVAL;
		}
		if (r < 0)
			return r;
		first = false;
	}
	return 0;
}

int serial_target_split(const char *target, char *device, size_t size, const char **settings)
{
	const char *colon = strrchr(target, ':');
	struct stat st;
	size_t length;

	*settings = NULL;
	if (colon && stat(target, &st) < 0)
		*settings = colon + 1;
	length = *settings ? (size_t)(colon - target) : strlen(target);
	if (length == 0)
		return -EINVAL;
	if (length >= size)
		return -ENAMETOOLONG;
	memcpy(device, target, length);
	device[length] = '\0';
	return 0;
}

static int configure_line(int fd, const struct serial_settings *s)
{
	struct termios t;
	static const tcflag_t sizes[] = {CS5, CS6, CS7, CS8};

	if (tcgetattr(fd, &t) < 0)
		return -errno;
	/* Proxy bytes are binary: no line discipline may touch them, and a cable
	 * without modem lines must not block or hang up the line. */
	cfmakeraw(&t);
	t.c_cflag |= CLOCAL | CREAD;
	t.c_cflag &= ~(tcflag_t)CRTSCTS;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (s->speed && cfsetspeed(&t, s->speed) < 0)
		return -errno;
	if (s->data_bits) {
		t.c_cflag &= ~(tcflag_t)CSIZE;
		t.c_cflag |= sizes[s->data_bits - 5];
	}
	if (s->parity) {
		t.c_cflag &= ~(tcflag_t)(PARENB | PARODD | CMSPAR);
		if (s->parity == 'e')
			t.c_cflag |= PARENB;
		else if (s->parity == 'o')
			t.c_cflag |= PARENB | PARODD;
		else if (s->parity == 'm')
			t.c_cflag |= PARENB | CMSPAR | PARODD;
		else if (s->parity == 's')
			t.c_cflag |= PARENB | CMSPAR;
	}
	if (s->stop_bits == 1)
		t.c_cflag &= ~(tcflag_t)CSTOPB;
	else if (s->stop_bits == 2)
		t.c_cflag |= CSTOPB;
	if (tcsetattr(fd, TCSANOW, &t) < 0)
		return -errno;
	/* Bytes from before we were there belong to no session. */
	tcflush(fd, TCIOFLUSH);
	return 0;
}

int serial_port_open(const char *device, const struct serial_settings *settings, const char **what)
{
	int fd, r;

	*what = "open";
	fd = open(device, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*what = "configure";
	if (!isatty(fd)) {
		close(fd);
		return -ENOTTY;
	}
	r = configure_line(fd, settings);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}
