/* Serial lines for IMDPROXY: "DEVICE[:SETTINGS]" parsed and the line opened in raw
 * mode, for imdisk (-t proxy -o comm) and devio (serving on a tty) alike.
 * Silent: a negative errno on failure. */
#ifndef IMDISK_COMMON_SERIAL_PORT_H
#define IMDISK_COMMON_SERIAL_PORT_H

#include <stddef.h>
#include <termios.h>

struct serial_settings {
	speed_t speed; /* 0: keep the line's */
	int data_bits; /* 0: keep; 5..8 */
	char parity;   /* 0: keep; 'n', 'e', 'o', 'm', 's' */
	int stop_bits; /* 0: keep; 1 or 2 */
};

/* SETTINGS: the baud rate, then data bits, parity and stop bits in any order
 * ("115200,8,N,1", DOS MODE's "9600,n,8,1"), or Windows MODE keys ("baud=115200
 * parity=n data=8 stop=1"); NULL or "" keeps everything.  -EINVAL when malformed. */
int serial_settings_parse(const char *text, struct serial_settings *settings);

/* Split "DEVICE[:SETTINGS]" at its last colon, unless the whole text names an
 * existing file (device names may hold colons: /dev/serial/by-path/...).  DEVICE
 * goes to `device`; *settings points into `target` (NULL when there are none).
 * -EINVAL when DEVICE is empty, -ENAMETOOLONG when it does not fit. */
int serial_target_split(const char *target, char *device, size_t size, const char **settings);

/* Open DEVICE, a tty, as a raw 8-bit-clean line with SETTINGS applied, and drop
 * whatever the line held before.  Returns the descriptor (close-on-exec), or a
 * negative errno with *what saying which step failed: "open" or "configure"
 * (-ENOTTY: not a terminal). */
int serial_port_open(const char *device, const struct serial_settings *settings, const char **what);

#endif
