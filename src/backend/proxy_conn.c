/* Layer 1 of the IMDPROXY client, the part every kind of connection shares:
 * opening one checked to reach the same disk, closing one, the INFO exchange.
 * What differs between a stream and a shared-memory section is behind
 * struct proxy_conn_ops (proxy_stream.c, proxy_shm.c). */
#include "backend/proxy_internal.h"

#include <errno.h>

#include "common/trace.h"

#define INFO_FLAGS_THAT_MATTER \
	(IMDPROXY_FLAG_RO | IMDPROXY_FLAG_SUPPORTS_UNMAP | IMDPROXY_FLAG_SUPPORTS_ZERO)

int proxy_conn_info(struct proxy_conn *conn, struct imdproxy_info *info, int timeout_ms)
{
	uint8_t request[IMDPROXY_INFO_REQUEST_SIZE];
	uint8_t reply_buf[IMDPROXY_INFO_REPLY_SIZE];
	struct imdproxy_reply reply;
	uint64_t payload;
	size_t early;
	int r;

	imdproxy_encode_info_request(request);
	r = conn->ops->send(conn, request, sizeof(request), NULL, 0, timeout_ms);
	if (r == 0)
		r = conn->ops->recv_reply(conn, reply_buf, sizeof(reply_buf), NULL, 0, &early, timeout_ms);
	if (r < 0)
		return r;
	r = imdproxy_decode_reply(IMDPROXY_REQ_INFO, reply_buf, sizeof(reply_buf), NULL, &reply, &payload);
	if (r < 0)
		return r;
	*info = reply.info;
	return 0;
}

int proxy_conn_open(struct proxy_link *link, struct proxy_conn *conn, int timeout_ms)
{
	struct imdproxy_info info;
	int r = link->ops->open(link, conn, timeout_ms);

	if (r < 0)
		return r;
	r = proxy_conn_info(conn, &info, timeout_ms);
	if (r == 0 && (info.file_size != link->info.file_size ||
		       (info.flags & INFO_FLAGS_THAT_MATTER) != (link->info.flags & INFO_FLAGS_THAT_MATTER)))
		r = -ESTALE; /* the server now serves something else */
	if (r < 0)
		proxy_conn_shut(conn, false);
	return r;
}

/* A session that ends well says CLOSE; over a stream it has no reply to wait for. */
void proxy_conn_shut(struct proxy_conn *conn, bool polite)
{
	if (polite) {
		uint8_t request[IMDPROXY_CLOSE_REQUEST_SIZE];
		int r;

		imdproxy_encode_close_request(request);
		r = conn->ops->send(conn, request, sizeof(request), NULL, 0, 0);
		if (r < 0)
			trace_dropped(TRACE_PROXY, "CLOSE", r);
	}
	conn->ops->close(conn);
}

size_t proxy_conn_max_transfer(const struct proxy_link *link, const struct proxy_conn *conn)
{
	return conn->max_transfer < link->max_transfer ? conn->max_transfer : link->max_transfer;
}
