/* Layer 2 of the IMDPROXY client (proxy_internal.h): the connections that
 * requests take one at a time and wait on for their reply.
 *
 * With a connect callback and a server that takes more than one client, up to
 * max_conns requests run at once: the pool grows by one connection when every
 * open one is busy.  A server that accepts a second client and never answers it
 * (one client at a time) stops the growing for good; another failure pauses it
 * for a second.  When every connection is gone, acquire reconnects, as
 * reconnect_policy.c decides: within the window, again after a pause; once
 * given up, one probe at a time. */
#include "backend/proxy_internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>

#include "backend/reconnect_policy.h"
#include "common/deadline.h"
#include "common/trace.h"

/* After a failed attempt to add a connection, the pool stays as it is this long. */
#define PROXY_GROW_RETRY_MS 1000u

struct pool_slot {
	struct proxy_conn conn;
	bool busy; /* in use by one request (or being connected) */
};

struct proxy_pool {
	struct proxy_link *link;
	bool can_reconnect; /* a callback, or a section to attach again */
	pthread_mutex_t lock; /* everything below */
	pthread_cond_t changed; /* a connection went idle, closed or came up */
	struct pool_slot *slots;
	unsigned int max_conns;
	unsigned int open_conns;    /* open or being connected */
	bool connecting;            /* one connect at a time */
	bool can_grow;              /* the server may take another connection */
	struct timespec grow_retry; /* no new connection before this (zero: now) */
	struct reconnect_policy policy;
	atomic_bool connected;
};

static void sleep_ms(unsigned int ms)
{
	struct timespec t = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&t, &t) < 0 && errno == EINTR)
		;
}

int proxy_pool_new(struct proxy_link *link, unsigned int max_conns, bool can_reconnect, struct proxy_pool **out)
{
	struct proxy_pool *pool = calloc(1, sizeof(*pool));
	int r;

	if (!pool)
		return -ENOMEM;
	pool->slots = calloc(max_conns, sizeof(*pool->slots));
	if (!pool->slots) {
		free(pool);
		return -ENOMEM;
	}
	r = -pthread_mutex_init(&pool->lock, NULL);
	if (r == 0) {
		r = -pthread_cond_init(&pool->changed, NULL);
		if (r < 0)
			pthread_mutex_destroy(&pool->lock);
	}
	if (r < 0) {
		free(pool->slots);
		free(pool);
		return r;
	}
	for (unsigned int i = 0; i < max_conns; i++)
		pool->slots[i].conn.fd = -1;
	pool->link = link;
	pool->can_reconnect = can_reconnect;
	pool->max_conns = max_conns;
	pool->can_grow = max_conns > 1;
	reconnect_policy_init(&pool->policy, link->timeout_ms, (int)PROXY_PROBE_TIMEOUT_MS);
	atomic_init(&pool->connected, false);
	*out = pool;
	return 0;
}

void proxy_pool_add_first(struct proxy_pool *pool, const struct proxy_conn *first)
{
	pool->slots[0].conn = *first;
	pool->open_conns = 1;
	atomic_store(&pool->connected, true);
}

void proxy_pool_free(struct proxy_pool *pool)
{
	for (unsigned int i = 0; i < pool->max_conns; i++) {
		struct proxy_conn *conn = &pool->slots[i].conn;
		if (conn->fd >= 0)
			proxy_conn_shut(conn, true);
	}
	pthread_cond_destroy(&pool->changed);
	pthread_mutex_destroy(&pool->lock);
	free(pool->slots);
	free(pool);
}

/* With pool->lock held. */
static void conn_close_locked(struct proxy_pool *pool, struct proxy_conn *conn)
{
	proxy_conn_shut(conn, false);
	pool->open_conns--;
}

/* With pool->lock held: a new connection in slot, the lock dropped meanwhile.
 * 0, or a negative errno with the slot free again. */
static int connect_slot_locked(struct proxy_pool *pool, struct pool_slot *slot, int timeout_ms)
{
	int r;

	slot->busy = true;
	pool->connecting = true;
	pool->open_conns++;
	pthread_mutex_unlock(&pool->lock);
	r = proxy_conn_open(pool->link, &slot->conn, timeout_ms);
	pthread_mutex_lock(&pool->lock);
	pool->connecting = false;
	pthread_cond_broadcast(&pool->changed);
	if (r < 0) {
		slot->busy = false;
		pool->open_conns--;
	}
	return r;
}

/* Requests that come while a server given up on is being probed fail at once:
 * without that, the requests queued on a disk would each wait a connect timeout
 * in turn, holding the threads that serve every other disk too. */
int proxy_pool_acquire(struct proxy_pool *pool, struct proxy_conn **out)
{
	struct reconnect_backoff backoff;

	reconnect_backoff_init(&backoff);
	pthread_mutex_lock(&pool->lock);
	for (;;) {
		struct pool_slot *free_slot = NULL;

		for (unsigned int i = 0; i < pool->max_conns; i++) {
			struct pool_slot *slot = &pool->slots[i];
			if (slot->conn.fd >= 0 && !slot->busy) {
				slot->busy = true;
				pthread_mutex_unlock(&pool->lock);
				*out = &slot->conn;
				return 0;
			}
			if (slot->conn.fd < 0 && !slot->busy && !free_slot)
				free_slot = slot;
		}
		if (reconnect_policy_fails_at_once(&pool->policy, pool->connecting)) {
			pthread_mutex_unlock(&pool->lock);
			return -EIO;
		}
		if (pool->can_reconnect && !pool->connecting && free_slot && pool->open_conns > 0 &&
		    pool->can_grow && deadline_passed(&pool->grow_retry)) {
			/* One more connection: a probe, answered at once by a server that is there. */
			struct reconnect_attempt attempt = reconnect_policy_attempt(&pool->policy, true);
			int r = connect_slot_locked(pool, free_slot, attempt.timeout_ms);

			if (r == 0) {
				pthread_mutex_unlock(&pool->lock);
				*out = &free_slot->conn;
				return 0;
			}
			/* Accepted but never answered: one client at a time, so live with
			 * the connections we have.  Any other failure (a server restarting,
			 * out of connections) is tried again later. */
			trace(TRACE_PROXY, "pool: no connection beside %u: %d%s", pool->open_conns, r,
			      r == -ETIMEDOUT ? " (the server takes one client): not tried again" : "");
			if (r == -ETIMEDOUT)
				pool->can_grow = false;
			else
				pool->grow_retry = deadline_after_ms(PROXY_GROW_RETRY_MS);
			continue;
		}
		if (pool->can_reconnect && !pool->connecting && free_slot && pool->open_conns == 0) {
			struct reconnect_attempt attempt = reconnect_policy_attempt(&pool->policy, false);
			int r = connect_slot_locked(pool, free_slot, attempt.timeout_ms);

			if (r == 0) {
				pthread_mutex_unlock(&pool->lock);
				*out = &free_slot->conn;
				return 0;
			}
			if (!reconnect_policy_attempt_failed(&pool->policy, &attempt, r)) {
				trace(TRACE_PROXY, "pool: reconnect failed (%d), %s", r,
				      reconnect_policy_given_up(&pool->policy) ? "given up" : "not lost: the request fails");
				pthread_mutex_unlock(&pool->lock);
				return -EIO;
			}
			pthread_mutex_unlock(&pool->lock);
			sleep_ms(reconnect_backoff_next_ms(&backoff));
			pthread_mutex_lock(&pool->lock);
			continue;
		}
		if (pool->open_conns == 0 && !pool->connecting) {
			pthread_mutex_unlock(&pool->lock);
			return -EIO; /* gone, and no way to call it back */
		}
		/* Every connection is busy: whoever holds one gives it back within
		 * its own timeout. */
		pthread_cond_wait(&pool->changed, &pool->lock);
	}
}

/* With pool->lock held. */
static void mark_lost_locked(struct proxy_pool *pool)
{
	/* The idle ones went to the same server and are most likely dead too:
	 * trying each would cost a timeout apiece. */
	for (unsigned int i = 0; i < pool->max_conns; i++) {
		struct pool_slot *other = &pool->slots[i];
		if (other->conn.fd >= 0 && !other->busy)
			conn_close_locked(pool, &other->conn);
	}
	reconnect_policy_lost(&pool->policy);
	atomic_store(&pool->connected, false);
}

void proxy_pool_mark_lost(struct proxy_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	mark_lost_locked(pool);
	pthread_mutex_unlock(&pool->lock);
}

static struct pool_slot *slot_of(struct proxy_conn *conn)
{
	return (struct pool_slot *)((char *)conn - offsetof(struct pool_slot, conn));
}

void proxy_pool_release(struct proxy_pool *pool, struct proxy_conn *conn, enum exchange_state state)
{
	pthread_mutex_lock(&pool->lock);
	if (state != EXCHANGE_OK) {
		conn_close_locked(pool, conn);
		if (state == EXCHANGE_BROKEN)
			mark_lost_locked(pool);
		atomic_store(&pool->connected, false);
	}
	slot_of(conn)->busy = false;
	pthread_cond_broadcast(&pool->changed);
	pthread_mutex_unlock(&pool->lock);
}

void proxy_pool_recovered(struct proxy_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	reconnect_policy_recovered(&pool->policy);
	pthread_mutex_unlock(&pool->lock);
	atomic_store(&pool->connected, true);
}

bool proxy_pool_may_retry(struct proxy_pool *pool)
{
	bool given_up;

	if (!pool->can_reconnect)
		return false;
	pthread_mutex_lock(&pool->lock);
	given_up = reconnect_policy_given_up(&pool->policy);
	pthread_mutex_unlock(&pool->lock);
	return !given_up;
}

bool proxy_pool_may_add_connection(struct proxy_pool *pool)
{
	bool allowed;

	pthread_mutex_lock(&pool->lock);
	allowed = pool->can_grow && !reconnect_policy_is_lost(&pool->policy);
	pthread_mutex_unlock(&pool->lock);
	return allowed;
}

/* Says a server gone now rather than at the next request. */
bool proxy_pool_connected(struct proxy_pool *pool)
{
	unsigned int idle = 0, dead = 0;

	if (!atomic_load(&pool->connected))
		return false;
	pthread_mutex_lock(&pool->lock);
	for (unsigned int i = 0; i < pool->max_conns; i++) {
		struct pool_slot *slot = &pool->slots[i];

		if (slot->conn.fd < 0 || slot->busy)
			continue;
		idle++;
		if (slot->conn.ops->looks_dead(&slot->conn))
			dead++;
	}
	pthread_mutex_unlock(&pool->lock);
	return idle == 0 || dead < idle;
}
