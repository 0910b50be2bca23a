/* A serial line in raw mode (settings and line set-up: src/common/serial_port.c).
 * A line outlives its sessions: after a CLOSE the next client's INFO starts a new
 * one. */
#include <stdatomic.h>
#include <unistd.h>

#include "common/log.h"
#include "common/serial_port.h"
#include "devio/devio.h"

int devio_serial_settings_valid(const char *settings)
{
	struct serial_settings s;

	return serial_settings_parse(settings, &s);
}

int devio_serve_serial(struct devio_server *server, const char *device, const char *settings,
		       const char **what)
{
	struct serial_settings s;
	int fd, r;

	*what = "use the settings of";
	r = serial_settings_parse(settings, &s);
	if (r < 0)
		return r;
	fd = serial_port_open(device, &s, what);
	if (fd < 0)
		return fd;
	log_info("serving on %s", device);
	*what = "serve";
	r = devio_serve_stream(server, fd, fd, device, true);
	if (r == 0 && !atomic_load(&server->stopping))
		log_info("%s: the line hung up", device);
	close(fd);
	return r;
}
