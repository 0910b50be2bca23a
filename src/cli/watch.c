/* --watch: print every change event (create, remove, flags, grow) as it happens,
 * one line each ("create 0"), until interrupted: ImDisk's control panel listens
 * to the same events to refresh itself. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "cli/actions.h"
#include "cli/daemon_start.h"
#include "cli/failure.h"
#include "imdisk.h"

static const char *event_name(uint32_t kind)
{
	switch (kind) {
	case IMDISK_EVENT_CREATE: return "create";
	case IMDISK_EVENT_REMOVE: return "remove";
	case IMDISK_EVENT_FLAGS: return "flags";
	case IMDISK_EVENT_GROW: return "grow";
	default: return "unknown";
	}
}

int watch(const struct cli_options *o)
{
	struct imdisk_client *client;
	struct imdisk_event event;
	int err = daemon_connect(o->socket, &client);

	if (err < 0)
		return err;
	err = imdisk_watch(client);
	if (err < 0) {
		err = fail_daemon(client, STEP_QUERY, err, "cannot watch imdiskd's events");
		imdisk_disconnect(client);
		return err;
	}
	/* Say when the stream is live, so that a script can start changing things. */
	printf("watching\n");
	fflush(stdout);
	while ((err = imdisk_watch_next(client, &event, -1)) == 0) {
		printf("%s %" PRIu32 "\n", event_name(event.kind), event.unit);
		fflush(stdout);
	}
	imdisk_disconnect(client);
	if (err == -EPIPE)
		return 0; /* the daemon stopped */
	return fail(STEP_QUERY, err, "lost imdiskd's event stream");
}
