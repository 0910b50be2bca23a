/* Unit tests for devio's request handler (src/devio/request_handler.c): one
 * decoded IMDPROXY request against a RAM disk, its reply decoded back. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "backend/backend.h"
#include "devio/devio.h"

#define MiB (1u << 20)
#define CAP (64u * 1024)

static struct devio_server server;
static uint8_t data[CAP];

static int setup(void **state)
{
	struct vdisk *disk;

	(void)state;
	if (backend_memory_open(MiB, &disk) < 0)
		return -1;
	return devio_server_init(&server, disk, 1, CAP, false);
}

static int teardown(void **state)
{
	(void)state;
	return devio_server_finish(&server, 100);
}

/* Handle req; decode its reply into *reply. */
static enum devio_action handle(const struct imdproxy_request *req, uint64_t payload,
				struct imdproxy_reply *reply, size_t *reply_data)
{
	uint8_t header[IMDPROXY_MAX_REPLY_HEADER];
	size_t size;
	uint64_t follows;
	enum devio_action a = devio_handle_request(&server, req, data, payload, CAP, header,
						   &size, reply_data, NULL);

	if (a == DEVIO_REPLY)
		assert_int_equal(imdproxy_decode_reply(req->code, header, size, NULL, reply,
						       &follows), (int)size);
	return a;
}

static void test_info(void **state)
{
	struct imdproxy_request req = {.code = IMDPROXY_REQ_INFO};
	struct imdproxy_reply reply;
	size_t n;

	(void)state;
	assert_int_equal(handle(&req, 0, &reply, &n), DEVIO_REPLY);
	assert_int_equal(reply.info.file_size, MiB);
	assert_int_equal(reply.info.req_alignment, 1);
}

/* INFO's flags say what the disk's flags say: UNMAP only with VDISK_CAN_TRIM,
 * ZERO only with VDISK_CAN_ZERO, and on a read-only disk RO and nothing else. */
static void test_info_flags(void **state)
{
	struct imdproxy_info info;
	uint32_t flags = server.disk->flags;

	(void)state;
	assert_true((flags & (VDISK_CAN_TRIM | VDISK_CAN_ZERO)) == (VDISK_CAN_TRIM | VDISK_CAN_ZERO));
	devio_server_info(&server, &info);
	assert_int_equal(info.flags, IMDPROXY_FLAG_SUPPORTS_UNMAP | IMDPROXY_FLAG_SUPPORTS_ZERO);
	server.disk->flags = flags & ~VDISK_CAN_TRIM;
	devio_server_info(&server, &info);
	assert_int_equal(info.flags, IMDPROXY_FLAG_SUPPORTS_ZERO);
	server.disk->flags = flags & ~VDISK_CAN_ZERO;
	devio_server_info(&server, &info);
	assert_int_equal(info.flags, IMDPROXY_FLAG_SUPPORTS_UNMAP);
	server.disk->flags = flags | VDISK_READ_ONLY;
	devio_server_info(&server, &info);
	assert_int_equal(info.flags, IMDPROXY_FLAG_RO);
	server.disk->flags = flags;
}

static void test_write_read(void **state)
{
	struct imdproxy_request w = {.code = IMDPROXY_REQ_WRITE, .offset = 4096, .length = 1000};
	struct imdproxy_request r = {.code = IMDPROXY_REQ_READ, .offset = 4096, .length = 1000};
	struct imdproxy_reply reply;
	uint8_t pattern[1000];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 13 + 1);
	memcpy(data, pattern, sizeof(pattern));
	assert_int_equal(handle(&w, sizeof(pattern), &reply, &n), DEVIO_REPLY);
	assert_int_equal(reply.errorno, 0);
	assert_int_equal(reply.length, 1000);
	memset(data, 0, sizeof(pattern));
	assert_int_equal(handle(&r, 0, &reply, &n), DEVIO_REPLY);
	assert_int_equal(reply.errorno, 0);
	assert_int_equal(reply.length, 1000);
	assert_int_equal(n, 1000);
	assert_memory_equal(data, pattern, sizeof(pattern));
}

static void test_zero(void **state)
{
	struct imdproxy_request w = {.code = IMDPROXY_REQ_WRITE, .offset = 0, .length = 512};
	struct imdproxy_request z = {.code = IMDPROXY_REQ_ZERO};
	struct imdproxy_request r = {.code = IMDPROXY_REQ_READ, .offset = 0, .length = 512};
	struct imdproxy_reply reply;
	uint8_t zeroes[512] = {0};
	size_t n;

	(void)state;
	memset(data, 0xee, 512);
	assert_int_equal(handle(&w, 512, &reply, &n), DEVIO_REPLY);
	imdproxy_encode_range(data, 0, 512);
	assert_int_equal(handle(&z, IMDPROXY_RANGE_ENTRY_SIZE, &reply, &n), DEVIO_REPLY);
	assert_int_equal(reply.errorno, 0);
	assert_int_equal(handle(&r, 0, &reply, &n), DEVIO_REPLY);
	assert_memory_equal(data, zeroes, 512);
}

static void test_out_of_range(void **state)
{
	struct imdproxy_request r = {.code = IMDPROXY_REQ_READ, .offset = MiB, .length = 1};
	struct imdproxy_request w = {.code = IMDPROXY_REQ_WRITE, .offset = MiB - 1, .length = 2};
	struct imdproxy_request tail = {.code = IMDPROXY_REQ_READ, .offset = MiB - 10, .length = 100};
	struct imdproxy_reply reply;
	size_t n;

	(void)state;
	assert_int_equal(handle(&r, 0, &reply, &n), DEVIO_REPLY);
	assert_int_equal(reply.errorno, EINVAL);
	assert_int_equal(handle(&w, 2, &reply, &n), DEVIO_REPLY);
	assert_int_equal(reply.errorno, EINVAL);
	assert_int_equal(reply.length, IMDPROXY_WRITE_FAILED);
	/* A read across the end is short. */
	assert_int_equal(handle(&tail, 0, &reply, &n), DEVIO_REPLY);
	assert_int_equal(reply.errorno, 0);
	assert_int_equal(reply.length, 10);
}

static void test_unknown_and_close(void **state)
{
	struct imdproxy_request u = {.code = 0x7777};
	struct imdproxy_request c = {.code = IMDPROXY_REQ_CLOSE};
	uint8_t header[IMDPROXY_MAX_REPLY_HEADER];
	size_t size, n;

	(void)state;
	assert_int_equal(devio_handle_request(&server, &u, data, 0, CAP, header, &size, &n, NULL),
			 DEVIO_REPLY);
	assert_int_equal(size, 8);
	assert_int_equal(header[0], ENODEV);
	assert_int_equal(devio_handle_request(&server, &c, data, 0, CAP, header, &size, &n, NULL),
			 DEVIO_CLOSE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_info),
		cmocka_unit_test(test_info_flags),
		cmocka_unit_test(test_write_read),
		cmocka_unit_test(test_zero),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_unknown_and_close),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
