#ifndef IMDISK_IMAGE_FORMAT_H
#define IMDISK_IMAGE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* The container formats an image file may be, told by content (never by name). */
enum image_format {
	IMAGE_FORMAT_RAW = 0,
	IMAGE_FORMAT_VHD,
	IMAGE_FORMAT_VHDX,
	IMAGE_FORMAT_VMDK,
	IMAGE_FORMAT_VDI,
	IMAGE_FORMAT_QCOW2,
	IMAGE_FORMAT_QED,
};

/* Bytes from the start of an image enough for image_format_detect to decide. */
#define IMAGE_FORMAT_PROBE_SIZE 512

/* The format of an image from its first bytes (pure: any buffer, any length).
 * A fixed VHD has only a footer, at the end of the file: it is RAW here. */
enum image_format image_format_detect(const uint8_t *head, size_t length);

/* qemu's name of a format ("raw", "vhdx", "vpc" for VHD...), and back:
 * image_format_parse takes the names imdisk's --image-format accepts
 * (qemu's, and "vhd"); -EINVAL for any other. */
const char *image_format_qemu_name(enum image_format format);
const char *image_format_name(enum image_format format);
int image_format_parse(const char *name, enum image_format *format);

#endif
