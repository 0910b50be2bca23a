/* Layer 3 of the IMDPROXY client (proxy_internal.h): a request that waits for
 * its reply on a connection of the pool.
 *
 * Three outcomes of an exchange: done (maybe with a server-side error, the
 * stream still in step), broken (the stream failed: closed, reset, silent) and
 * corrupt (the server broke the protocol).  Broken requests are retried on a
 * fresh connection while the pool's reconnect window lasts; what was
 * acknowledged is not sent twice (the request keeps its progress).  Corrupt
 * ones fail at once, as they do in ImDisk ("a fatal device error"). */
#include "backend/proxy_internal.h"

#include <errno.h>

#include "common/trace.h"

/* A failed send or receive: the stream broke (retry on another), or (-EBADMSG)
 * the server broke its shared-memory section (shrank it): that fails now. */
static enum exchange_state transport_failed(int r, int *result)
{
	*result = -EIO;
	if (r == -EBADMSG) {
		trace(TRACE_PROXY, "the server broke its section: the request fails");
		return EXCHANGE_CORRUPT;
	}
	return EXCHANGE_BROKEN;
}

/* READ: the server may answer with less than asked (ask again for the rest); a
 * reply of length 0 ends the read, and a longer one breaks the protocol. */
static enum exchange_state exchange_read(const struct proxy_link *link, struct proxy_conn *conn,
					 struct proxy_request *req, int *result)
{
	size_t max_transfer = proxy_conn_max_transfer(link, conn);

	while (req->len) {
		size_t chunk = req->len < max_transfer ? req->len : max_transfer;
		struct imdproxy_request sent = { .code = IMDPROXY_REQ_READ, .offset = req->offset, .length = chunk };
		uint8_t request[IMDPROXY_READ_REQUEST_SIZE];
		uint8_t reply_buf[IMDPROXY_READ_REPLY_SIZE];
		struct imdproxy_reply reply;
		uint64_t payload;
		size_t early;
		int r;

		imdproxy_encode_read_request(request, req->offset, chunk);
		r = conn->ops->send(conn, request, sizeof(request), NULL, 0, link->timeout_ms);
		if (r == 0)
			r = conn->ops->recv_reply(conn, reply_buf, sizeof(reply_buf), req->read_buf, chunk, &early,
						  link->timeout_ms);
		if (r < 0)
			return transport_failed(r, result);
		r = imdproxy_decode_reply(IMDPROXY_REQ_READ, reply_buf, sizeof(reply_buf), &sent, &reply, &payload);
		if (r < 0 || early > payload) {
			*result = -EIO;
			return EXCHANGE_CORRUPT; /* more than the reply said: out of step */
		}
		/* Data that comes with an error is read too, to stay in step. */
		if (payload > early) {
			r = conn->ops->recv_data(conn, req->read_buf + early, (size_t)(payload - early),
						 link->timeout_ms);
			if (r < 0)
				return transport_failed(r, result);
		}
		if (reply.errorno || payload == 0) {
			*result = -EIO;
			return EXCHANGE_OK;
		}
		req->read_buf += payload;
		req->offset += payload;
		req->len -= (size_t)payload;
	}
	*result = 0;
	return EXCHANGE_OK;
}

/* WRITE: the server must acknowledge exactly the length sent. */
static enum exchange_state exchange_write(const struct proxy_link *link, struct proxy_conn *conn,
					  struct proxy_request *req, int *result)
{
	size_t max_transfer = proxy_conn_max_transfer(link, conn);

	while (req->len) {
		size_t chunk = req->len < max_transfer ? req->len : max_transfer;
		uint8_t request[IMDPROXY_WRITE_REQUEST_SIZE];
		uint8_t reply_buf[IMDPROXY_WRITE_REPLY_SIZE];
		struct imdproxy_reply reply;
		uint64_t payload;
		size_t early;
		int r;

		imdproxy_encode_write_request(request, req->offset, chunk);
		r = conn->ops->send(conn, request, sizeof(request), req->write_buf, chunk, link->timeout_ms);
		if (r == 0)
			r = conn->ops->recv_reply(conn, reply_buf, sizeof(reply_buf), NULL, 0, &early, link->timeout_ms);
		if (r < 0)
			return transport_failed(r, result);
		r = imdproxy_decode_reply(IMDPROXY_REQ_WRITE, reply_buf, sizeof(reply_buf), NULL, &reply, &payload);
		if (r < 0) {
			*result = -EIO;
			return EXCHANGE_CORRUPT;
		}
		if (reply.errorno || reply.length != chunk) {
			*result = -EIO;
			return EXCHANGE_OK;
		}
		req->write_buf += chunk;
		req->offset += chunk;
		req->len -= chunk;
	}
	*result = 0;
	return EXCHANGE_OK;
}

/* UNMAP and ZERO: one range each. */
static enum exchange_state exchange_range(const struct proxy_link *link, struct proxy_conn *conn,
					  struct proxy_request *req, int *result)
{
	uint8_t request[IMDPROXY_RANGE_REQUEST_SIZE];
	uint8_t range[IMDPROXY_RANGE_ENTRY_SIZE];
	uint8_t reply_buf[IMDPROXY_RANGE_REPLY_SIZE];
	struct imdproxy_reply reply;
	uint64_t payload;
	size_t early;
	int r;

	/* The range is the request's data (at 4096 in a shared-memory section). */
	imdproxy_encode_range_request(request, req->code, sizeof(range));
	imdproxy_encode_range(range, req->offset, req->range_len);
	r = conn->ops->send(conn, request, sizeof(request), range, sizeof(range), link->timeout_ms);
	if (r == 0)
		r = conn->ops->recv_reply(conn, reply_buf, sizeof(reply_buf), NULL, 0, &early, link->timeout_ms);
	if (r < 0)
		return transport_failed(r, result);
	if (imdproxy_decode_reply(req->code, reply_buf, sizeof(reply_buf), NULL, &reply, &payload) < 0) {
		*result = -EIO;
		return EXCHANGE_CORRUPT;
	}
	*result = reply.errorno ? -EIO : 0;
	return EXCHANGE_OK;
}

int proxy_request_run(struct proxy_pool *pool, const struct proxy_link *link, struct proxy_request *req)
{
	for (;;) {
		struct proxy_conn *conn;
		enum exchange_state state;
		int result;
		int r = proxy_pool_acquire(pool, &conn);

		if (r < 0)
			return r;
		switch (req->code) {
		case IMDPROXY_REQ_READ:
			state = exchange_read(link, conn, req, &result);
			break;
		case IMDPROXY_REQ_WRITE:
			state = exchange_write(link, conn, req, &result);
			break;
		default:
			state = exchange_range(link, conn, req, &result);
			break;
		}
		proxy_pool_release(pool, conn, state);
		if (state == EXCHANGE_OK) {
			proxy_pool_recovered(pool);
			return result;
		}
		if (state == EXCHANGE_CORRUPT)
			return result;
		if (!proxy_pool_may_retry(pool))
			return -EIO; /* result is -EIO too */
	}
}

int proxy_request_read(struct proxy_pool *pool, const struct proxy_link *link, void *buf, size_t len,
		       uint64_t offset)
{
	struct proxy_request req = { .code = IMDPROXY_REQ_READ, .read_buf = buf, .len = len, .offset = offset };

	return proxy_request_run(pool, link, &req);
}
