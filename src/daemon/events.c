/* Change events (create, remove, flags, grow) to every watching connection. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "common/trace.h"
#include "daemon/daemon.h"
#include "protocol/control_io.h"

void events_add_watcher(struct daemon *daemon, int sock)
{
	/* Non-blocking: a watcher that does not read is dropped, never waited for. */
	fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
	pthread_mutex_lock(&daemon->watchers_lock);
	if (daemon->watcher_count < DAEMON_MAX_WATCHERS)
		daemon->watchers[daemon->watcher_count++] = sock;
	else {
		trace(TRACE_CONTROL, "watch refused: %u watchers already", daemon->watcher_count);
		close(sock);
	}
	pthread_mutex_unlock(&daemon->watchers_lock);
}

void events_publish(struct daemon *daemon, uint32_t kind, uint32_t unit)
{
	static struct control_message event; /* guarded by watchers_lock */

	pthread_mutex_lock(&daemon->watchers_lock);
	event = (struct control_message){.type = CONTROL_EVENT};
	event.event_kind = kind;
	event.device.unit = unit;
	control_set(&event, CONTROL_TAG_EVENT_KIND);
	control_set(&event, CONTROL_TAG_UNIT);
	for (unsigned i = 0; i < daemon->watcher_count;) {
		int r = control_send(daemon->watchers[i], &event, -1);

		if (r < 0) {
			/* A watcher that does not keep up, or is gone, is dropped. */
			trace(TRACE_CONTROL, "watcher dropped: event %u for unit %u not taken (%d)", kind, unit, r);
			close(daemon->watchers[i]);
			daemon->watchers[i] = daemon->watchers[--daemon->watcher_count];
			continue;
		}
		i++;
	}
	pthread_mutex_unlock(&daemon->watchers_lock);
}
