/* One control connection: read a request, do it, answer; until the peer closes
 * or sends something malformed (answered with -EBADMSG, then closed). */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/trace.h"
#include "daemon/connections.h"
#include "daemon/daemon.h"
#include "protocol/control_io.h"

static const enum control_tag device_reply_tags[] = {
	CONTROL_TAG_UNIT, CONTROL_TAG_FLAGS, CONTROL_TAG_SIZE, CONTROL_TAG_IMAGE_OFFSET,
	CONTROL_TAG_SECTOR_SIZE, CONTROL_TAG_SECTORS_PER_TRACK, CONTROL_TAG_TRACKS_PER_CYLINDER,
	CONTROL_TAG_CYLINDERS, CONTROL_TAG_TRANSPORT, CONTROL_TAG_CONNECTED, CONTROL_TAG_DEVICE, CONTROL_TAG_IMAGE,
	CONTROL_TAG_OWNER_UID, CONTROL_TAG_OWNER_GID,
};

static void set_device_reply(struct control_message *m)
{
	for (size_t i = 0; i < sizeof(device_reply_tags) / sizeof(device_reply_tags[0]); i++)
		control_set(m, device_reply_tags[i]);
}

static const char *request_name(uint16_t type)
{
	static const char *const names[] = {
		[CONTROL_QUERY_VERSION] = "query version", [CONTROL_CREATE] = "create",
		[CONTROL_QUERY_DEVICE] = "query",          [CONTROL_LIST] = "list",
		[CONTROL_SET_FLAGS] = "set flags",         [CONTROL_REMOVE] = "remove",
		[CONTROL_GROW] = "grow",                   [CONTROL_WATCH] = "watch",
	};
	return type < sizeof(names) / sizeof(names[0]) && names[type] ? names[type] : "unknown";
}

/* Do one request; the reply is built in place.  Returns false when the
 * connection has become a watch stream (the socket now belongs to the events). */
static bool handle_request(struct daemon *daemon, int sock, struct control_message *m, int fd,
			   const struct caller_identity *caller)
{
	char why[DAEMON_WHY_MAX] = "";
	uint16_t type = m->type;
	uint32_t unit = m->device.unit;
	bool keep = true;
	int r = 0;

	switch (type) {
	case CONTROL_QUERY_VERSION:
		memset(m, 0, sizeof(*m));
		m->api_version = IMDISK_API_VERSION;
		snprintf(m->version_text, sizeof(m->version_text), "imdiskd %s", IMDISK_VERSION);
		control_set(m, CONTROL_TAG_API_VERSION);
		control_set(m, CONTROL_TAG_VERSION_TEXT);
		break;
	case CONTROL_CREATE:
		if (!CONTROL_HAS(m, CONTROL_TAG_UNIT))
			m->device.unit = IMDISK_AUTO_UNIT;
		r = disk_create(daemon, &m->device, fd, caller, why);
		fd = -1; /* disk_create owns it */
		m->present = 0;
		m->owner_uid = caller->uid;
		m->owner_gid = caller->gid;
		if (r == 0)
			set_device_reply(m);
		break;
	case CONTROL_QUERY_DEVICE: {
		uid_t owner_uid = 0;
		gid_t owner_gid = 0;

		r = disk_query(daemon, unit, &m->device, &owner_uid, &owner_gid, why);
		m->present = 0;
		m->owner_uid = owner_uid;
		m->owner_gid = owner_gid;
		if (r == 0)
			set_device_reply(m);
		break;
	}
	case CONTROL_LIST:
		r = disk_list(daemon, m->units, CONTROL_MAX_UNITS, &m->total);
		m->unit_count = m->total < CONTROL_MAX_UNITS ? m->total : CONTROL_MAX_UNITS;
		m->present = 0;
		control_set(m, CONTROL_TAG_UNITS);
		control_set(m, CONTROL_TAG_TOTAL);
		break;
	case CONTROL_SET_FLAGS: {
		uint32_t not_changed = 0;
		r = disk_set_flags(daemon, unit, m->mask, m->values, caller, &not_changed, why);
		m->present = 0;
		m->mask = not_changed;
		control_set(m, CONTROL_TAG_MASK);
		break;
	}
	case CONTROL_GROW:
		r = disk_grow(daemon, unit, m->amount, fd, caller, why);
		fd = -1;
		m->present = 0;
		break;
	case CONTROL_REMOVE:
		r = disk_remove(daemon, unit, m->remove_mode, caller, why);
		m->present = 0;
		break;
	case CONTROL_WATCH:
		m->present = 0;
		keep = false;
		break;
	default:
		r = -EOPNOTSUPP;
		snprintf(why, sizeof(why), "request type %u is not one this daemon takes", type);
		m->present = 0;
		break;
	}
	if (fd >= 0)
		close(fd); /* a descriptor this request did not need */
	if (r < 0) {
		log_info("%s (unit %" PRIu32 "): %s", request_name(type), unit, why);
		snprintf(m->message, sizeof(m->message), "%s", why);
		control_set(m, CONTROL_TAG_MESSAGE);
	}
	if (type == CONTROL_QUERY_VERSION || type == CONTROL_LIST || type == CONTROL_WATCH)
		trace(TRACE_CONTROL, "%s from uid %u: %d", request_name(type), (unsigned)caller->uid, r);
	else
		trace(TRACE_CONTROL, "%s unit %" PRIu32 " from uid %u: %d%s%s", request_name(type),
		      type == CONTROL_CREATE && r == 0 ? m->device.unit : unit, (unsigned)caller->uid, r,
		      r < 0 ? ", " : "", r < 0 ? why : "");
	m->type = type | CONTROL_REPLY;
	m->status = r;
	r = control_send(sock, m, -1);
	if (r < 0) {
		trace_dropped(TRACE_CONTROL, "control_send of a reply", r);
		return true; /* the peer is gone; the next receive notices */
	}
	if (!keep)
		events_add_watcher(daemon, sock);
	return keep;
}

/* Between requests a connection may stay idle as long as its peer likes (imdisk
 * keeps its connection across a mkfs, to remove the disk again if that fails); the
 * per-user cap bounds how many idle ones there are.  A request once begun must
 * arrive whole within the socket's receive timeout.  False at an end of stream,
 * which is also what a stopping daemon's shutdown(SHUT_RD) looks like. */
static bool wait_for_request(int sock)
{
	struct pollfd pfd = {.fd = sock, .events = POLLIN};

	while (poll(&pfd, 1, -1) < 0) {
		if (errno != EINTR)
			return false;
	}
	return true;
}

bool control_serve_connection(struct daemon *daemon, int sock)
{
	struct control_message *m = malloc(sizeof(*m));
	struct caller_identity caller;

	/* Who is asking, groups and all: the owner of what it creates, the one whose
	 * limits apply, and the rights a proxy disk reconnects to its server with. */
	if (caller_identity_from_socket(sock, &caller) < 0) {
		free(m);
		return false;
	}

	while (m && wait_for_request(sock)) {
		int fd = -1;
		int r = control_receive(sock, m, &fd);

		if (r == -EBADMSG || r == -EPROTONOSUPPORT) {
			/* Answer a malformed message once so the peer learns why, then hang up:
			 * after garbage the stream cannot be trusted to be in step. */
			memset(m, 0, sizeof(*m));
			m->type = CONTROL_QUERY_VERSION | CONTROL_REPLY;
			m->status = r;
			snprintf(m->message, sizeof(m->message), "malformed control message");
			control_set(m, CONTROL_TAG_MESSAGE);
			r = control_send(sock, m, -1);
			if (r < 0)
				trace_dropped(TRACE_CONTROL, "control_send of the malformed-message answer", r);
			log_info("dropped a connection that sent a malformed message");
			break;
		}
		if (r == -EAGAIN) {
			log_info("dropped a connection that sent part of a request and then nothing for %d s",
				 CONNECTION_IO_TIMEOUT_SECONDS);
			break;
		}
		if (r < 0)
			break;
		if (!handle_request(daemon, sock, m, fd, &caller)) {
			free(m);
			caller_identity_release(&caller);
			return true; /* the socket is a watch stream now */
		}
	}
	free(m);
	caller_identity_release(&caller);
	return false;
}
