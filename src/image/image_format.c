/* Disk image formats told by their magic numbers, as qemu's own probes do, so
 * that a file named wrongly by its extension is still served as what it is. */
#include "image/image_format.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "common/endian.h"

static int starts_with(const uint8_t *head, size_t length, const char *magic, size_t magic_length)
{
	return length >= magic_length && memcmp(head, magic, magic_length) == 0;
}

enum image_format image_format_detect(const uint8_t *head, size_t length)
{
	static const char vmdk_descriptor[] = "# Disk DescriptorFile";

	if (!head)
		return IMAGE_FORMAT_RAW;
	/* qcow version 1 is not qcow2: qemu-storage-daemon serves it only as "qcow". */
	if (starts_with(head, length, "QFI\xfb", 4) && length >= 8) {
		uint32_t version = get_be32(head + 4);
		if (version == 2 || version == 3)
			return IMAGE_FORMAT_QCOW2;
	}
	if (starts_with(head, length, "QED\0", 4))
		return IMAGE_FORMAT_QED;
	if (starts_with(head, length, "vhdxfile", 8))
		return IMAGE_FORMAT_VHDX;
	/* A hosted sparse extent (KDMV), an ESX one (COWD), or a text descriptor. */
	if (starts_with(head, length, "KDMV", 4) || starts_with(head, length, "COWD", 4) ||
	    starts_with(head, length, vmdk_descriptor, sizeof(vmdk_descriptor) - 1))
		return IMAGE_FORMAT_VMDK;
	/* VDI: its signature at 64, after a free-text banner. */
	if (length >= 68 && get_le32(head + 64) == 0xbeda107fu)
		return IMAGE_FORMAT_VDI;
	/* A dynamic or differencing VHD has a copy of its footer at offset 0. */
	if (starts_with(head, length, "conectix", 8))
		return IMAGE_FORMAT_VHD;
	return IMAGE_FORMAT_RAW;
}

static const struct {
	enum image_format format;
	const char *name;
	const char *qemu_name;
} formats[] = {
	{ IMAGE_FORMAT_RAW, "raw", "raw" },
	{ IMAGE_FORMAT_VHD, "vhd", "vpc" },
	{ IMAGE_FORMAT_VHDX, "vhdx", "vhdx" },
	{ IMAGE_FORMAT_VMDK, "vmdk", "vmdk" },
	{ IMAGE_FORMAT_VDI, "vdi", "vdi" },
	{ IMAGE_FORMAT_QCOW2, "qcow2", "qcow2" },
	{ IMAGE_FORMAT_QED, "qed", "qed" },
};

const char *image_format_name(enum image_format format)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (formats[i].format == format)
			return formats[i].name;
	return "raw";
}

const char *image_format_qemu_name(enum image_format format)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (formats[i].format == format)
			return formats[i].qemu_name;
	return "raw";
}

int image_format_parse(const char *name, enum image_format *format)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (!strcasecmp(name, formats[i].name) || !strcasecmp(name, formats[i].qemu_name)) {
			*format = formats[i].format;
			return 0;
		}
	return -EINVAL;
}
