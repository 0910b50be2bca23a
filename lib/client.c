/* libimdisk: a client of imdiskd's control socket (see imdisk.h). */
#include "imdisk.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "protocol/control_io.h"

#define IMDISK_DEFAULT_SOCKET "/run/imdisk/control"

struct imdisk_client {
	int sock;
	char error[256];
};

const char *imdisk_socket_path(const char *path)
{
	const char *env;

	if (path && *path)
		return path;
	env = getenv("IMDISK_SOCKET");
	return env && *env ? env : IMDISK_DEFAULT_SOCKET;
}

const char *imdisk_error_message(const struct imdisk_client *client)
{
	return client ? client->error : "";
}

/* One request, one reply.  The reply's status is the call's result. */
static int imdisk_call(struct imdisk_client *client, struct control_message *m, int fd)
{
	uint16_t type = m->type;
	int r;

	client->error[0] = 0;
	r = control_send(client->sock, m, fd);
	if (r < 0)
		return r;
	r = control_receive(client->sock, m, NULL);
	if (r < 0)
		return r;
	if (m->type != (type | CONTROL_REPLY))
		return -EBADMSG;
	if (m->status < 0 && CONTROL_HAS(m, CONTROL_TAG_MESSAGE))
		snprintf(client->error, sizeof(client->error), "%s", m->message);
	return m->status;
}

static struct control_message *message_new(uint16_t type)
{
	struct control_message *m = calloc(1, sizeof(*m));

	if (m)
		m->type = type;
	return m;
}

int imdisk_connect(const char *socket_path, struct imdisk_client **out)
{
	struct sockaddr_un address = {.sun_family = AF_UNIX};
	const char *path = imdisk_socket_path(socket_path);
	struct imdisk_client *client;
	uint32_t api_version;
	int r;

	if (strlen(path) >= sizeof(address.sun_path))
		return -ENAMETOOLONG;
	strcpy(address.sun_path, path);
	client = calloc(1, sizeof(*client));
	if (!client)
		return -ENOMEM;
	client->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (client->sock < 0 || connect(client->sock, (struct sockaddr *)&address, sizeof(address)) < 0) {
		r = -errno;
		imdisk_disconnect(client);
		return r;
	}
	r = imdisk_query_version(client, &api_version, NULL, 0);
	if (r == 0 && (api_version >> 8) != (IMDISK_API_VERSION >> 8))
		r = -EPROTO;
	if (r < 0) {
		imdisk_disconnect(client);
		return r == -EPROTONOSUPPORT ? -EPROTO : r;
	}
	*out = client;
	return 0;
}

void imdisk_disconnect(struct imdisk_client *client)
{
	if (!client)
		return;
	if (client->sock >= 0)
		close(client->sock);
	free(client);
}

int imdisk_query_version(struct imdisk_client *client, uint32_t *api_version, char *text, size_t text_size)
{
	struct control_message *m = message_new(CONTROL_QUERY_VERSION);
	int r;

	if (!m)
		return -ENOMEM;
	r = imdisk_call(client, m, -1);
	if (r == 0) {
		if (api_version)
			*api_version = m->api_version;
		if (text && text_size)
			snprintf(text, text_size, "%s", m->version_text);
	}
	free(m);
	return r;
}

static const enum control_tag device_tags[] = {
	CONTROL_TAG_UNIT, CONTROL_TAG_FLAGS, CONTROL_TAG_SIZE, CONTROL_TAG_IMAGE_OFFSET,
	CONTROL_TAG_SECTOR_SIZE, CONTROL_TAG_SECTORS_PER_TRACK, CONTROL_TAG_TRACKS_PER_CYLINDER,
	CONTROL_TAG_TRANSPORT, CONTROL_TAG_IMAGE,
};

int imdisk_create(struct imdisk_client *client, struct imdisk_device *device, int image_fd)
{
	struct control_message *m = message_new(CONTROL_CREATE);
	int r;

	if (!m)
		return -ENOMEM;
	m->device = *device;
	for (size_t i = 0; i < sizeof(device_tags) / sizeof(device_tags[0]); i++)
		control_set(m, device_tags[i]);
	r = imdisk_call(client, m, image_fd);
	if (r == 0)
		*device = m->device;
	free(m);
	return r;
}

/* One QUERY_DEVICE; owner NULL: the caller does not ask who owns the disk (and a
 * daemon that predates owners still answers). */
static int query_device(struct imdisk_client *client, uint32_t unit, struct imdisk_device *device,
			struct imdisk_owner *owner)
{
	struct control_message *m = message_new(CONTROL_QUERY_DEVICE);
	int r;

	if (!m)
		return -ENOMEM;
	m->device.unit = unit;
	control_set(m, CONTROL_TAG_UNIT);
	r = imdisk_call(client, m, -1);
	if (r == 0 && owner && !(CONTROL_HAS(m, CONTROL_TAG_OWNER_UID) && CONTROL_HAS(m, CONTROL_TAG_OWNER_GID)))
		r = -EPROTO;
	if (r == 0) {
		if (device)
			*device = m->device;
		if (owner) {
			owner->uid = m->owner_uid;
			owner->gid = m->owner_gid;
		}
	}
	free(m);
	return r;
}

int imdisk_query(struct imdisk_client *client, uint32_t unit, struct imdisk_device *device)
{
	return query_device(client, unit, device, NULL);
}

int imdisk_query_owner(struct imdisk_client *client, uint32_t unit, struct imdisk_device *device,
		       struct imdisk_owner *owner)
{
	return query_device(client, unit, device, owner);
}

int imdisk_list(struct imdisk_client *client, uint32_t *units, size_t max)
{
	struct control_message *m = message_new(CONTROL_LIST);
	int r;

	if (!m)
		return -ENOMEM;
	r = imdisk_call(client, m, -1);
	if (r == 0) {
		for (size_t i = 0; i < m->unit_count && i < max; i++)
			units[i] = m->units[i];
		r = (int)m->total;
	}
	free(m);
	return r;
}

int imdisk_set_flags(struct imdisk_client *client, uint32_t unit, uint32_t mask, uint32_t values,
		     uint32_t *not_changed)
{
	struct control_message *m = message_new(CONTROL_SET_FLAGS);
	int r;

	if (!m)
		return -ENOMEM;
	m->device.unit = unit;
	m->mask = mask;
	m->values = values;
	control_set(m, CONTROL_TAG_UNIT);
	control_set(m, CONTROL_TAG_MASK);
	control_set(m, CONTROL_TAG_VALUES);
	r = imdisk_call(client, m, -1);
	if (not_changed)
		*not_changed = CONTROL_HAS(m, CONTROL_TAG_MASK) ? m->mask : (r < 0 ? mask : 0);
	free(m);
	return r;
}

int imdisk_grow(struct imdisk_client *client, uint32_t unit, uint64_t bytes, int image_fd)
{
	struct control_message *m = message_new(CONTROL_GROW);
	int r;

	if (!m)
		return -ENOMEM;
	m->device.unit = unit;
	m->amount = bytes;
	control_set(m, CONTROL_TAG_UNIT);
	control_set(m, CONTROL_TAG_AMOUNT);
	r = imdisk_call(client, m, image_fd);
	free(m);
	return r;
}

int imdisk_remove(struct imdisk_client *client, uint32_t unit, enum imdisk_remove_mode mode)
{
	struct control_message *m = message_new(CONTROL_REMOVE);
	int r;

	if (!m)
		return -ENOMEM;
	m->device.unit = unit;
	m->remove_mode = mode;
	control_set(m, CONTROL_TAG_UNIT);
	control_set(m, CONTROL_TAG_REMOVE_MODE);
	r = imdisk_call(client, m, -1);
	free(m);
	return r;
}

int imdisk_watch(struct imdisk_client *client)
{
	struct control_message *m = message_new(CONTROL_WATCH);
	int r;

	if (!m)
		return -ENOMEM;
	r = imdisk_call(client, m, -1);
	free(m);
	return r;
}

int imdisk_watch_next(struct imdisk_client *client, struct imdisk_event *event, int timeout_ms)
{
	struct pollfd pfd = {.fd = client->sock, .events = POLLIN};
	struct control_message *m;
	int r = poll(&pfd, 1, timeout_ms);

	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	m = message_new(0);
	if (!m)
		return -ENOMEM;
	r = control_receive(client->sock, m, NULL);
	if (r == 0 && m->type != CONTROL_EVENT)
		r = -EBADMSG;
	if (r == 0) {
		event->kind = m->event_kind;
		event->unit = m->device.unit;
	}
	free(m);
	return r;
}
