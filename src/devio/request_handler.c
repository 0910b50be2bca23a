/* The IMDPROXY request handler: one decoded request against the served disk,
 * producing its reply.  Transports (stream sessions in session.c, shared memory
 * in shm.c) read requests and send replies around it; this file knows nothing of
 * streams.  NBD sessions (nbd_session.c) call the same disk through
 * devio_disk_begin/devio_disk_end. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "devio/devio.h"

void devio_server_info(const struct devio_server *server, struct imdproxy_info *info)
{
	const struct vdisk *disk = server->disk;

	info->file_size = disk->size;
	info->req_alignment = server->alignment;
	info->flags = 0;
	if (disk->flags & VDISK_READ_ONLY) {
		info->flags |= IMDPROXY_FLAG_RO;
	} else {
		/* Said only when the disk really does it: a client may rely on them. */
		if (disk->flags & VDISK_CAN_TRIM)
			info->flags |= IMDPROXY_FLAG_SUPPORTS_UNMAP;
		if (disk->flags & VDISK_CAN_ZERO)
			info->flags |= IMDPROXY_FLAG_SUPPORTS_ZERO;
	}
}

/* Around every disk call: -ECANCELED once devio is stopping. */
int devio_disk_begin(struct devio_server *server)
{
	if (atomic_load(&server->stopping))
		return -ECANCELED;
	pthread_rwlock_rdlock(&server->disk_use);
	if (atomic_load(&server->stopping)) {
		pthread_rwlock_unlock(&server->disk_use);
		return -ECANCELED;
	}
	return 0;
}

void devio_disk_end(struct devio_server *server)
{
	pthread_rwlock_unlock(&server->disk_use);
}

int devio_server_flush(struct devio_server *server)
{
	int r = devio_disk_begin(server);

	if (r < 0)
		return r == -ECANCELED ? 0 : r; /* the shutdown flushes */
	r = vdisk_flush(server->disk);
	devio_disk_end(server);
	return r;
}

/* The errorno sent for a disk error: the host's errno, as the reference server does,
 * with a read-only disk's EROFS sent as the EBADF that ImDisk clients know. */
static uint64_t wire_errno(int r)
{
	if (r == -EROFS)
		return EBADF;
	return (uint64_t)-r;
}

/* In write-through mode a change is acknowledged only once it is durable. */
static int make_durable(struct devio_server *server)
{
	return server->writeback ? 0 : vdisk_flush(server->disk);
}

static int serve_read(struct devio_server *server, const struct imdproxy_request *req,
		      uint8_t *data, size_t data_cap, uint64_t *length, const void **view)
{
	uint64_t size = server->disk->size;
	uint64_t count;
	int r;

	*length = 0;
	if (req->length > data_cap)
		return -EINVAL;
	/* Nothing is made up past the end: a read that starts there fails, one that
	 * crosses it is short (the protocol's way of saying "no more"). */
	if (req->offset > size || (req->offset == size && req->length > 0))
		return -EINVAL;
	count = req->length < size - req->offset ? req->length : size - req->offset;
	r = devio_disk_begin(server);
	if (r < 0)
		return r;
	if (view && (*view = vdisk_view(server->disk, (size_t)count, req->offset))) {
		*length = count;
		return 0; /* the disk stays in use until devio_view_end */
	}
	r = vdisk_read(server->disk, data, (size_t)count, req->offset);
	devio_disk_end(server);
	if (r == 0)
		*length = count;
	return r;
}

void devio_view_end(struct devio_server *server)
{
	vdisk_view_end(server->disk);
	devio_disk_end(server);
}

static int serve_write(struct devio_server *server, const struct imdproxy_request *req,
		       const uint8_t *data, uint64_t payload, size_t data_cap)
{
	uint64_t size = server->disk->size;
	int r;

	if (payload > data_cap)
		return -EINVAL;
	if (server->disk->flags & VDISK_READ_ONLY)
		return -EROFS;
	/* Never a silent grow: the disk is the size INFO said. */
	if (req->offset > size || req->length > size - req->offset)
		return -EINVAL;
	r = devio_disk_begin(server);
	if (r < 0)
		return r;
	r = vdisk_write(server->disk, data, (size_t)req->length, req->offset);
	if (r == 0)
		r = make_durable(server);
	devio_disk_end(server);
	return r;
}

/* UNMAP and ZERO: every range is checked before any is applied. */
static int serve_ranges(struct devio_server *server, const struct imdproxy_request *req,
			const uint8_t *data, uint64_t payload, size_t data_cap)
{
	uint64_t size = server->disk->size;
	int64_t count = imdproxy_range_count(payload);
	int r;

	if (count < 0 || payload > data_cap)
		return -EINVAL;
	if (server->disk->flags & VDISK_READ_ONLY)
		return -EROFS;
	for (int64_t i = 0; i < count; i++) {
		struct imdproxy_range range;

		imdproxy_decode_range(data + i * IMDPROXY_RANGE_ENTRY_SIZE, &range);
		/* The offset is an i64 on the wire: a negative one is out of range. */
		if (range.offset > size || range.length > size - range.offset)
			return -EINVAL;
	}
	r = devio_disk_begin(server);
	if (r < 0)
		return r;
	for (int64_t i = 0; i < count && r == 0; i++) {
		struct imdproxy_range range;

		imdproxy_decode_range(data + i * IMDPROXY_RANGE_ENTRY_SIZE, &range);
		if (req->code == IMDPROXY_REQ_UNMAP)
			r = vdisk_trim(server->disk, range.offset, range.length);
		else
			r = vdisk_zero(server->disk, range.offset, range.length);
	}
	if (r == 0 && count > 0)
		r = make_durable(server);
	devio_disk_end(server);
	return r;
}

enum devio_action devio_handle_request(struct devio_server *server,
				       const struct imdproxy_request *req, uint8_t *data,
				       uint64_t payload, size_t data_cap, uint8_t *reply,
				       size_t *reply_size, size_t *reply_data, const void **view)
{
	struct imdproxy_info info;
	uint64_t length;
	int r;

	*reply_data = 0;
	if (view)
		*view = NULL;
	switch (req->code) {
	case IMDPROXY_REQ_INFO:
		devio_server_info(server, &info);
		*reply_size = imdproxy_encode_info_reply(reply, &info);
		return DEVIO_REPLY;
	case IMDPROXY_REQ_READ:
		r = serve_read(server, req, data, data_cap, &length, view);
		if (r == -ECANCELED)
			return DEVIO_DROP;
		*reply_size = imdproxy_encode_read_reply(reply, r < 0 ? wire_errno(r) : 0, length);
		*reply_data = (size_t)length;
		return DEVIO_REPLY;
	case IMDPROXY_REQ_WRITE:
		r = serve_write(server, req, data, payload, data_cap);
		if (r == -ECANCELED)
			return DEVIO_DROP;
		/* A failed WRITE says length all-ones, like the reference server. */
		*reply_size = imdproxy_encode_write_reply(reply, r < 0 ? wire_errno(r) : 0,
							  r < 0 ? IMDPROXY_WRITE_FAILED : req->length);
		return DEVIO_REPLY;
	case IMDPROXY_REQ_UNMAP:
	case IMDPROXY_REQ_ZERO:
		r = serve_ranges(server, req, data, payload, data_cap);
		if (r == -ECANCELED)
			return DEVIO_DROP;
		*reply_size = imdproxy_encode_range_reply(reply, r < 0 ? wire_errno(r) : 0);
		return DEVIO_REPLY;
	case IMDPROXY_REQ_CLOSE:
		return DEVIO_CLOSE;
	case IMDPROXY_REQ_CONNECT:
		/* Meant for ImDisk's proxy service, not for a server: refused in the shape
		 * of a CONNECT reply, so the client can read it. */
		*reply_size = imdproxy_encode_connect_reply(reply, ENODEV, 0);
		return DEVIO_REPLY;
	case IMDPROXY_REQ_SCSI:
		*reply_size = imdproxy_encode_scsi_reply(reply, ENODEV, 0);
		return DEVIO_REPLY;
	default:
		*reply_size = imdproxy_encode_error_reply(reply, ENODEV);
		return DEVIO_REPLY;
	}
}

