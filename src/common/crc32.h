/* CRC-32 as IEEE 802.3, zlib and GPT use it: reflected polynomial 0xEDB88320,
 * initial value and final xor 0xFFFFFFFF.  crc32("123456789") = 0xCBF43926. */
#ifndef IMDISK_COMMON_CRC32_H
#define IMDISK_COMMON_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* CRC of `len` bytes.  To checksum in pieces, pass the previous result as `crc`
 * (0 to start): crc32_update(crc32_update(0, a, n), b, m) == CRC of a then b. */
uint32_t crc32_update(uint32_t crc, const void *data, size_t len);

#endif
