#include "cli/describe.h"

#include <stdbool.h>
#include <stddef.h>

const char *describe_type(uint32_t flags)
{
	switch (IMDISK_DEVICE_TYPE(flags)) {
	case IMDISK_DEVICE_TYPE_FD:
		return "fd";
	case IMDISK_DEVICE_TYPE_CD:
		return "cd";
	case IMDISK_DEVICE_TYPE_RAW:
		return "raw";
	default:
		return "hd";
	}
}

/* Locked memory is recognised with either backing bit ImDisk-era tools might set. */
static bool is_awe(uint32_t flags)
{
	return (IMDISK_TYPE(flags) == IMDISK_TYPE_VM || IMDISK_TYPE(flags) == IMDISK_TYPE_FILE) &&
	       IMDISK_FILE_TYPE(flags) == IMDISK_FILE_TYPE_AWEALLOC;
}

const char *describe_backing(uint32_t flags)
{
	if (is_awe(flags))
		return "awe";
	switch (IMDISK_TYPE(flags)) {
	case IMDISK_TYPE_FILE:
		return "file";
	case IMDISK_TYPE_PROXY:
		return "proxy";
	default:
		return "vm";
	}
}

const char *describe_io(uint32_t flags)
{
	if (IMDISK_TYPE(flags) != IMDISK_TYPE_FILE || is_awe(flags))
		return NULL;
	switch (IMDISK_FILE_TYPE(flags)) {
	case IMDISK_FILE_TYPE_PARALLEL_IO:
		return "parallel";
	case IMDISK_FILE_TYPE_BUFFERED_IO:
		return "buffered";
	default:
		return "queued";
	}
}

const char *describe_proxy(uint32_t flags)
{
	if (IMDISK_TYPE(flags) != IMDISK_TYPE_PROXY)
		return NULL;
	switch (IMDISK_PROXY_TYPE(flags)) {
	case IMDISK_PROXY_TYPE_TCP:
		return "tcp";
	case IMDISK_PROXY_TYPE_COMM:
		return "comm";
	case IMDISK_PROXY_TYPE_SHM:
		return "shm";
	default:
		return "unix";
	}
}

const char *describe_transport(uint32_t transport)
{
	switch (transport) {
	case IMDISK_TRANSPORT_LOOP:
		return "loop";
	case IMDISK_TRANSPORT_FUSE:
		return "fuse";
	default:
		return "auto";
	}
}
