/* IMDPROXY client: a disk whose bytes live in a server (devio) at the other end of
 * a stream or of a shared-memory section.
 *
 * The top layer (layer 5, proxy_internal.h): it opens the first connection and
 * checks the server's INFO, makes the pool (proxy_pool.c) and, where the server
 * can be reached again through the connect callback, the pipeline of reads
 * (proxy_pipeline.c), and maps the vdisk operations onto requests
 * (proxy_request.c).  Every wait is bounded by timeout_ms, so a silent server
 * costs at most that much per request instead of hanging the disk.
 *
 * Two kinds of connection under one request layer: a byte stream
 * (proxy_stream.c), and shared memory (proxy_shm.c; request header at 0, data
 * at 4096, a semaphore each way; see docs/imdproxy-shm.md).  Which one is
 * chosen here, once; no other layer asks.
 */
#include "backend/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "backend/proxy_internal.h"
#include "protocol/imdproxy.h"

#define PROXY_DEFAULT_CONNECTIONS 4u
#define PROXY_DEFAULT_TIMEOUT_MS 30000u
#define PROXY_DEFAULT_TRANSFER (1u << 20)
/* ImDisk refuses smaller proxy disks. */
#define PROXY_MIN_SIZE 65536u

struct proxy_disk {
	struct vdisk disk;
	struct proxy_link link;
	struct proxy_pool *pool;
	struct proxy_pipeline *pipeline; /* NULL: every read waits on the pool */
};

static const struct vdisk_ops proxy_ops;

static struct proxy_disk *to_proxy(struct vdisk *disk)
{
	return (struct proxy_disk *)disk;
}

static int proxy_read(struct vdisk *disk, void *buf, size_t len, uint64_t offset)
{
	struct proxy_disk *proxy = to_proxy(disk);

	return proxy_request_read(proxy->pool, &proxy->link, buf, len, offset);
}

static int proxy_read_async(struct vdisk *disk, size_t len, uint64_t offset, vdisk_read_done_fn done,
			    void *opaque)
{
	struct proxy_disk *proxy = to_proxy(disk);

	if (!proxy->pipeline)
		return -EOPNOTSUPP;
	return proxy_pipeline_read(proxy->pipeline, len, offset, done, opaque);
}

static int proxy_write(struct vdisk *disk, const void *buf, size_t len, uint64_t offset)
{
	struct proxy_disk *proxy = to_proxy(disk);
	struct proxy_request req = { .code = IMDPROXY_REQ_WRITE, .write_buf = buf, .len = len, .offset = offset };

	return proxy_request_run(proxy->pool, &proxy->link, &req);
}

static int proxy_write_async(struct vdisk *disk, const void *buf, size_t len, uint64_t offset,
			     vdisk_write_done_fn done, void *opaque)
{
	struct proxy_disk *proxy = to_proxy(disk);

	if (!proxy->pipeline)
		return -EOPNOTSUPP;
	return proxy_pipeline_write(proxy->pipeline, buf, len, offset, done, opaque);
}

static int proxy_trim(struct vdisk *disk, uint64_t offset, uint64_t len)
{
	struct proxy_disk *proxy = to_proxy(disk);
	struct proxy_request req = { .code = IMDPROXY_REQ_UNMAP, .offset = offset, .range_len = len };

	if (!(proxy->link.info.flags & IMDPROXY_FLAG_SUPPORTS_UNMAP))
		return -EOPNOTSUPP; /* ImDisk sends UNMAP only to servers that said they take it */
	return proxy_request_run(proxy->pool, &proxy->link, &req);
}

static int proxy_zero(struct vdisk *disk, uint64_t offset, uint64_t len)
{
	struct proxy_disk *proxy = to_proxy(disk);
	struct proxy_request req = { .code = IMDPROXY_REQ_ZERO, .offset = offset, .range_len = len };

	if (!(proxy->link.info.flags & IMDPROXY_FLAG_SUPPORTS_ZERO))
		return -EOPNOTSUPP; /* vdisk_zero writes zeroes instead */
	return proxy_request_run(proxy->pool, &proxy->link, &req);
}

static void proxy_free(struct proxy_disk *proxy)
{
	caller_identity_release(&proxy->link.identity);
	free(proxy);
}

static void proxy_close(struct vdisk *disk)
{
	struct proxy_disk *proxy = to_proxy(disk);

	/* The pipes first: their pending reads may still wait on the pool. */
	proxy_pipeline_free(proxy->pipeline);
	proxy_pool_free(proxy->pool);
	proxy_free(proxy);
}

/* No flush: IMDPROXY has no such request (the reference server writes O_SYNC). */
static const struct vdisk_ops proxy_ops = {
	.name = "proxy",
	.read = proxy_read,
	.read_async = proxy_read_async,
	.write = proxy_write,
	.write_async = proxy_write_async,
	.trim = proxy_trim,
	.zero = proxy_zero,
	.close = proxy_close,
};

/* What ImDisk accepts of an INFO reply. */
static int info_check(const struct imdproxy_info *info)
{
	int r = imdproxy_info_check(info);

	if (r < 0)
		return r;
	if (info->file_size <= PROXY_MIN_SIZE || info->file_size > INT64_MAX)
		return -EINVAL;
	return 0;
}

static int link_init(struct proxy_link *link, const struct backend_proxy_options *options)
{
	int r;

	link->ops = options->shm_name ? &proxy_shm_ops : &proxy_stream_ops;
	if (options->shm_name) {
		r = proxy_shm_names(link, options->shm_name);
		if (r < 0)
			return r;
	}
	if (options->identity) {
		r = caller_identity_copy(&link->identity, options->identity);
		if (r < 0)
			return r;
		link->has_identity = true;
	}
	link->connect = options->connect;
	link->connect_opaque = options->connect_opaque;
	link->timeout_ms = (int)(options->timeout_ms ? options->timeout_ms : PROXY_DEFAULT_TIMEOUT_MS);
	if (link->timeout_ms <= 0)
		link->timeout_ms = INT32_MAX;
	link->max_transfer = options->max_transfer ? options->max_transfer : PROXY_DEFAULT_TRANSFER;
	return 0;
}

/* The first connection: the caller's descriptor, or a new one; and its INFO. */
static int first_connection(struct proxy_link *link, const struct backend_proxy_options *options,
			    struct proxy_conn *first)
{
	int fd_flags = -1;
	int r;

	first->fd = -1;
	if (!options->shm_name && options->fd >= 0) {
		fd_flags = fcntl(options->fd, F_GETFL);
		r = proxy_stream_adopt(first, options->fd);
	} else {
		r = link->ops->open(link, first, link->timeout_ms);
	}
	if (r == 0)
		r = proxy_conn_info(first, &link->info, link->timeout_ms);
	if (r == 0)
		r = info_check(&link->info);
	if (r < 0 && first->fd >= 0) {
		/* The caller's descriptor goes back as it came; ours is closed. */
		if (fd_flags >= 0) {
			fcntl(options->fd, F_SETFL, fd_flags);
			first->fd = -1;
		} else {
			first->ops->close(first);
		}
	}
	return r;
}

int backend_proxy_open(const struct backend_proxy_options *options, struct vdisk **out)
{
	struct proxy_disk *proxy;
	struct proxy_conn first = { .fd = -1 };
	/* Where new connections come from: the callback, or the section's name. */
	bool can_reconnect;
	/* Connections of their own (pipes, more than one in the pool) need a
	 * callback; a section has one client. */
	bool more_connections;
	unsigned int max_conns;
	int r;

	if (!options || (!options->shm_name && options->fd < 0 && !options->connect))
		return -EINVAL;
	proxy = calloc(1, sizeof(*proxy));
	if (!proxy)
		return -ENOMEM;
	r = link_init(&proxy->link, options);
	if (r < 0) {
		proxy_free(proxy);
		return r;
	}
	can_reconnect = options->shm_name || options->connect;
	more_connections = options->connect && !options->shm_name;
	max_conns = !more_connections ? 1 : options->max_connections ? options->max_connections
								    : PROXY_DEFAULT_CONNECTIONS;
	/* Everything that may fail for want of memory before the first connection:
	 * after it nothing fails, so the caller's descriptor is never lost. */
	r = proxy_pool_new(&proxy->link, max_conns, can_reconnect, &proxy->pool);
	if (r == 0 && more_connections)
		r = proxy_pipeline_new(&proxy->link, proxy->pool, &proxy->pipeline);
	if (r == 0)
		r = first_connection(&proxy->link, options, &first);
	if (r < 0) {
		proxy_pipeline_free(proxy->pipeline);
		if (proxy->pool)
			proxy_pool_free(proxy->pool);
		proxy_free(proxy);
		return r == -ETIMEDOUT || r == -EPIPE || r == -ECONNRESET ? -EIO : r;
	}
	proxy_pool_add_first(proxy->pool, &first);
	proxy->disk.ops = &proxy_ops;
	proxy->disk.size = proxy->link.info.file_size;
	proxy->disk.flags = VDISK_ASYNC_READ | VDISK_ASYNC_WRITE;
	if (options->read_only || (proxy->link.info.flags & IMDPROXY_FLAG_RO))
		proxy->disk.flags |= VDISK_READ_ONLY;
	/* ImDisk's meaning of UNMAP is a punched hole (devio's, and the Windows
	 * driver's TRIM): trusted to leave zeroes, as ImDisk does. */
	if (proxy->link.info.flags & IMDPROXY_FLAG_SUPPORTS_UNMAP)
		proxy->disk.flags |= VDISK_CAN_TRIM | VDISK_TRIM_ZEROES;
	if (proxy->link.info.flags & IMDPROXY_FLAG_SUPPORTS_ZERO)
		proxy->disk.flags |= VDISK_CAN_ZERO;
	*out = &proxy->disk;
	return 0;
}

bool backend_proxy_connected(struct vdisk *disk)
{
	if (!disk || disk->ops != &proxy_ops)
		return false;
	return proxy_pool_connected(to_proxy(disk)->pool);
}
