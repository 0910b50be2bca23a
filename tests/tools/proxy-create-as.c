/* proxy-create-as CLAIMED CONNECT: makes a TCP proxy disk the way a hostile
 * client could, for tests: the connection passed to imdiskd goes to CONNECT
 * (HOST:PORT), while the disk's address, the one the daemon reconnects to,
 * is CLAIMED.  Prints the new unit; exit 1 with the daemon's message on failure. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/stream_connect.h"
#include "imdisk.h"

int main(int argc, char **argv)
{
	struct imdisk_client *client;
	struct imdisk_device device;
	int fd, r;

	if (argc != 3) {
		fprintf(stderr, "usage: proxy-create-as CLAIMED-HOST:PORT CONNECT-HOST:PORT\n");
		return 2;
	}
	fd = stream_connect_tcp(argv[2]);
	if (fd < 0) {
		fprintf(stderr, "proxy-create-as: cannot connect to %s: %s\n", argv[2], strerror(-fd));
		return 1;
	}
	r = imdisk_connect(NULL, &client);
	if (r < 0) {
		fprintf(stderr, "proxy-create-as: no daemon: %s\n", strerror(-r));
		return 1;
	}
	memset(&device, 0, sizeof(device));
	device.unit = IMDISK_AUTO_UNIT;
	device.flags = IMDISK_TYPE_PROXY | IMDISK_PROXY_TYPE_TCP;
	snprintf(device.image, sizeof(device.image), "%s", argv[1]);
	r = imdisk_create(client, &device, fd);
	close(fd);
	if (r < 0) {
		fprintf(stderr, "proxy-create-as: %s: %s\n", strerror(-r), imdisk_error_message(client));
		imdisk_disconnect(client);
		return 1;
	}
	printf("%u\n", device.unit);
	imdisk_disconnect(client);
	return 0;
}
