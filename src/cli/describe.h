/* Words for a disk's flags, shared by the text and JSON listings so both always
 * say the same thing. */
#ifndef IMDISK_CLI_DESCRIBE_H
#define IMDISK_CLI_DESCRIBE_H

#include <stdint.h>

#include "imdisk.h"

const char *describe_type(uint32_t flags);      /* hd fd cd raw */
const char *describe_backing(uint32_t flags);   /* vm file awe proxy */
const char *describe_io(uint32_t flags);        /* file disks: queued parallel buffered; else NULL */
const char *describe_proxy(uint32_t flags);     /* proxy disks: unix tcp comm shm; else NULL */
const char *describe_transport(uint32_t transport); /* loop fuse auto */

#endif
