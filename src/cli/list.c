/* -l: every disk on one line each, one disk in detail (-u, -m), unit numbers
 * (-n), or JSON (--json).  Mount points come from the kernel's mount table at the
 * moment of listing, never from stored state. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/actions.h"
#include "cli/daemon_start.h"
#include "cli/describe.h"
#include "cli/failure.h"
#include "cli/lookup.h"
#include "cli/mounttab.h"
#include "common/nbd_uri.h"
#include "common/ownership.h"
#include "common/size.h"
#include "imdisk.h"

/* One disk with what the mount table says about it. */
struct listed_disk {
	struct imdisk_device device;
	struct imdisk_owner owner;
	bool has_owner; /* false from a daemon older than API 1.1 */
	struct mount_points mounts;
};

/* The owner's user name, its uid when the user database has none, "-" unknown. */
static void owner_text(const struct listed_disk *disk, char *buf, size_t size)
{
	if (!disk->has_owner) {
		snprintf(buf, size, "-");
		return;
	}
	ownership_user_name(disk->owner.uid, buf, size);
	if (strcmp(buf, "unknown") == 0)
		snprintf(buf, size, "%u", disk->owner.uid);
}

static const char *image_or_null(const struct imdisk_device *dev)
{
	return dev->image[0] ? dev->image : NULL;
}

static void print_mounts(FILE *out, const struct mount_points *mounts, const char *none)
{
	if (!mounts->count) {
		fputs(none, out);
		return;
	}
	for (size_t i = 0; i < mounts->count; i++)
		fprintf(out, "%s%s", i ? ", " : "", mounts->targets[i]);
}

/* An NBD disk's export name (its image is the URI it was made from; the URI
 * holds no secret, nbd_uri.h): true for an NBD disk. */
static bool nbd_export_of(const struct imdisk_device *dev, char export_name[NBD_URI_EXPORT_MAX + 1])
{
	struct nbd_uri *uri;
	const char *why;
	bool ok;

	if (!nbd_uri_is_nbd(dev->image) || !(uri = malloc(sizeof(*uri))))
		return false;
	ok = nbd_uri_parse(dev->image, uri, &why) == 0;
	if (ok)
		memcpy(export_name, uri->export_name, sizeof(uri->export_name));
	free(uri);
	return ok;
}

/* ---- text ---- */

static void print_attributes(const struct imdisk_device *dev)
{
	uint32_t flags = dev->flags;
	const char *io = describe_io(flags);
	const char *proxy = describe_proxy(flags);
	static const char *const type_names[] = {"HDD", "floppy", "CD-ROM", "RAW"};
	const char *type = describe_type(flags);
	const char *backing = describe_backing(flags);

	printf("Attributes:    %s, %s", flags & IMDISK_OPTION_RO ? "read-only" : "read-write",
	       flags & IMDISK_OPTION_REMOVABLE ? "removable" : "fixed");
	printf(", %s", strcmp(type, "fd") == 0   ? type_names[1]
		       : strcmp(type, "cd") == 0  ? type_names[2]
		       : strcmp(type, "raw") == 0 ? type_names[3]
						  : type_names[0]);
	if (strcmp(backing, "vm") == 0)
		printf(", virtual memory");
	else if (strcmp(backing, "awe") == 0)
		printf(", locked memory (awe)");
	else if (proxy && nbd_uri_is_nbd(dev->image))
		printf(", NBD (%s, %s)", proxy, dev->connected ? "connected" : "not connected");
	else if (proxy)
		printf(", proxy (%s, %s)", proxy, dev->connected ? "connected" : "not connected");
	else
		printf(", image file (%s I/O)", io);
	if (flags & IMDISK_OPTION_SPARSE_FILE)
		printf(", sparse");
	if (flags & IMDISK_SHARED_IMAGE)
		printf(", shared image");
	if (flags & IMDISK_OPTION_BYTE_SWAP)
		printf(", byte-swapped");
	if (flags & IMDISK_IMAGE_MODIFIED)
		printf(", modified");
	printf("\n");
}

static void print_detail(const struct listed_disk *disk)
{
	const struct imdisk_device *dev = &disk->device;
	char export_name[NBD_URI_EXPORT_MAX + 1];
	char human[32];

	size_format(dev->size, human, sizeof(human));
	printf("Unit:          %u\n", dev->unit);
	printf("Device:        %s\n", dev->device);
	printf("Mount point:   ");
	print_mounts(stdout, &disk->mounts, "none");
	printf("\n");
	if (IMDISK_TYPE(dev->flags) == IMDISK_TYPE_PROXY && nbd_export_of(dev, export_name))
		printf("NBD server:    %s\nNBD export:    %s\n", dev->image,
		       export_name[0] ? export_name : "(default)");
	else if (IMDISK_TYPE(dev->flags) == IMDISK_TYPE_PROXY)
		printf("Proxy:         %s\n", dev->image);
	else
		printf("Image file:    %s\n", image_or_null(dev) ? dev->image : "none");
	printf("Image offset:  %llu bytes\n", (unsigned long long)dev->image_offset);
	printf("Size:          %llu bytes (%s)\n", (unsigned long long)dev->size, human);
	print_attributes(dev);
	printf("Geometry:      %llu cylinders, %u heads, %u sectors per track, %u bytes per "
	       "sector\n",
	       (unsigned long long)dev->cylinders, dev->tracks_per_cylinder,
	       dev->sectors_per_track, dev->sector_size);
	printf("Transport:     %s\n", describe_transport(dev->transport));
	if (disk->has_owner) {
		char name[256];

		owner_text(disk, name, sizeof(name));
		printf("Owner:         %s (uid %u, gid %u)\n", name, disk->owner.uid, disk->owner.gid);
	}
}

static int width_of(const char *text, int width)
{
	int len = (int)strlen(text);

	return len > width ? len : width;
}

/* The mount points column: every mount of the disk, comma-separated, or "-". */
static void join_mounts(const struct mount_points *mounts, char *buf, size_t size)
{
	size_t used = 0;

	snprintf(buf, size, "-");
	for (size_t i = 0; i < mounts->count && used < size; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? "," : "",
					 mounts->targets[i]);
}

static void print_table(const struct listed_disk *disks, size_t count)
{
	int device_width = 6, size_width = 4, mount_width = 10, owner_width = 5;
	char human[32], mounts[1024], owner[256];

	if (!count) {
		printf("No virtual disks.\n");
		return;
	}
	for (size_t i = 0; i < count; i++) {
		size_format(disks[i].device.size, human, sizeof(human));
		join_mounts(&disks[i].mounts, mounts, sizeof(mounts));
		device_width = width_of(disks[i].device.device, device_width);
		size_width = width_of(human, size_width);
		mount_width = width_of(mounts, mount_width);
		owner_text(&disks[i], owner, sizeof(owner));
		owner_width = width_of(owner, owner_width);
	}
	printf("%-4s  %-*s  %*s  %-4s  %-7s  %-*s  %-*s  %s\n", "UNIT", device_width, "DEVICE",
	       size_width, "SIZE", "TYPE", "BACKING", owner_width, "OWNER", mount_width, "MOUNTPOINT",
	       "IMAGE");
	for (size_t i = 0; i < count; i++) {
		const struct imdisk_device *dev = &disks[i].device;

		size_format(dev->size, human, sizeof(human));
		join_mounts(&disks[i].mounts, mounts, sizeof(mounts));
		owner_text(&disks[i], owner, sizeof(owner));
		printf("%-4u  %-*s  %*s  %-4s  %-7s  %-*s  %-*s  %s\n", dev->unit, device_width,
		       dev->device, size_width, human, describe_type(dev->flags),
		       describe_backing(dev->flags), owner_width, owner, mount_width, mounts,
		       image_or_null(dev) ? dev->image : "-");
	}
}

/* ---- JSON ---- */

static struct json_object *string_or_null(const char *text)
{
	return text ? json_object_new_string(text) : NULL;
}

/* {uid, gid, user}: user is null when the user database has no name for it; the
 * whole is null from a daemon that names no owner. */
static struct json_object *owner_to_json(const struct listed_disk *disk)
{
	struct json_object *owner;
	char name[256];

	if (!disk->has_owner)
		return NULL;
	owner = json_object_new_object();
	ownership_user_name(disk->owner.uid, name, sizeof(name));
	json_object_object_add(owner, "uid", json_object_new_int64(disk->owner.uid));
	json_object_object_add(owner, "gid", json_object_new_int64(disk->owner.gid));
	json_object_object_add(owner, "user",
			       string_or_null(strcmp(name, "unknown") ? name : NULL));
	return owner;
}

static struct json_object *disk_to_json(const struct listed_disk *disk)
{
	const struct imdisk_device *dev = &disk->device;
	struct json_object *obj = json_object_new_object();
	struct json_object *geometry = json_object_new_object();
	struct json_object *mounts = json_object_new_array();
	struct json_object *proxy = NULL;

	for (size_t i = 0; i < disk->mounts.count; i++)
		json_object_array_add(mounts, json_object_new_string(disk->mounts.targets[i]));
	json_object_object_add(geometry, "cylinders", json_object_new_uint64(dev->cylinders));
	json_object_object_add(geometry, "heads", json_object_new_int64(dev->tracks_per_cylinder));
	json_object_object_add(geometry, "sectors_per_track",
			       json_object_new_int64(dev->sectors_per_track));

	/* Proxy disks: {kind, address, connected, protocol} (and export for NBD);
	 * null for the others. */
	if (IMDISK_TYPE(dev->flags) == IMDISK_TYPE_PROXY) {
		char export_name[NBD_URI_EXPORT_MAX + 1];
		bool nbd = nbd_export_of(dev, export_name);

		proxy = json_object_new_object();
		json_object_object_add(proxy, "kind", string_or_null(describe_proxy(dev->flags)));
		json_object_object_add(proxy, "address", json_object_new_string(dev->image));
		json_object_object_add(proxy, "connected", json_object_new_boolean(dev->connected));
		json_object_object_add(proxy, "protocol", json_object_new_string(nbd ? "nbd" : "imdproxy"));
		if (nbd)
			json_object_object_add(proxy, "export", json_object_new_string(export_name));
	}
	json_object_object_add(obj, "unit", json_object_new_int64(dev->unit));
	json_object_object_add(obj, "device", json_object_new_string(dev->device));
	json_object_object_add(obj, "size", json_object_new_uint64(dev->size));
	json_object_object_add(obj, "mount_point",
			       string_or_null(disk->mounts.count ? disk->mounts.targets[0] : NULL));
	json_object_object_add(obj, "mount_points", mounts);
	json_object_object_add(obj, "image", string_or_null(image_or_null(dev)));
	json_object_object_add(obj, "offset", json_object_new_uint64(dev->image_offset));
	json_object_object_add(obj, "type", json_object_new_string(describe_type(dev->flags)));
	json_object_object_add(obj, "backing",
			       json_object_new_string(describe_backing(dev->flags)));
	json_object_object_add(obj, "io", string_or_null(describe_io(dev->flags)));
	json_object_object_add(obj, "proxy", proxy);
	json_object_object_add(obj, "sector_size", json_object_new_int64(dev->sector_size));
	json_object_object_add(obj, "geometry", geometry);
	json_object_object_add(obj, "read_only",
			       json_object_new_boolean(dev->flags & IMDISK_OPTION_RO));
	json_object_object_add(obj, "removable",
			       json_object_new_boolean(dev->flags & IMDISK_OPTION_REMOVABLE));
	json_object_object_add(obj, "modified",
			       json_object_new_boolean(dev->flags & IMDISK_IMAGE_MODIFIED));
	json_object_object_add(obj, "sparse",
			       json_object_new_boolean(dev->flags & IMDISK_OPTION_SPARSE_FILE));
	json_object_object_add(obj, "shared",
			       json_object_new_boolean(dev->flags & IMDISK_SHARED_IMAGE));
	json_object_object_add(obj, "byte_swap",
			       json_object_new_boolean(dev->flags & IMDISK_OPTION_BYTE_SWAP));
	json_object_object_add(obj, "flags", json_object_new_int64(dev->flags));
	json_object_object_add(obj, "transport",
			       json_object_new_string(describe_transport(dev->transport)));
	json_object_object_add(obj, "owner", owner_to_json(disk));
	return obj;
}

static int print_json(struct json_object *root)
{
	const char *text;
	int err = 0;

	if (!root)
		return fail(STEP_QUERY, -ENOMEM, "cannot list disks");
	/* Paths print as "/dev/loop0", not json-c's default "\/dev\/loop0". */
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
							    JSON_C_TO_STRING_SPACED |
							    JSON_C_TO_STRING_NOSLASHESCAPE);
	if (text)
		printf("%s\n", text);
	else
		err = fail(STEP_QUERY, -ENOMEM, "cannot list disks");
	json_object_put(root);
	return err;
}

/* ---- gathering ---- */

static int gather_mounts(struct listed_disk *disk)
{
	int err = mounttab_targets_of(disk->device.device, &disk->mounts);

	if (err < 0)
		return fail(STEP_QUERY, err, "cannot read the mount table");
	return 0;
}

/* The disk and its owner in one request; from a daemon older than API 1.1, the
 * disk alone. */
static int query_with_owner(struct imdisk_client *client, uint32_t unit, struct listed_disk *disk)
{
	int err = imdisk_query_owner(client, unit, &disk->device, &disk->owner);

	disk->has_owner = err == 0;
	if (err == -EPROTO)
		err = imdisk_query(client, unit, &disk->device);
	return err;
}

static void free_disks(struct listed_disk *disks, size_t count)
{
	for (size_t i = 0; i < count; i++)
		mount_points_free(&disks[i].mounts);
	free(disks);
}

static int gather_all(struct imdisk_client *client, struct listed_disk **out, size_t *out_count)
{
	struct listed_disk *disks;
	uint32_t *units;
	size_t count, found = 0;
	int err;

	if ((err = lookup_units(client, &units, &count)) < 0)
		return err;
	disks = calloc(count ? count : 1, sizeof(*disks));
	if (!disks) {
		free(units);
		return fail(STEP_QUERY, -ENOMEM, "cannot list disks");
	}
	for (size_t i = 0; i < count; i++) {
		err = query_with_owner(client, units[i], &disks[found]);
		if (err == -ENOENT || err == -ENODEV)
			continue; /* removed since the list was taken */
		if (err < 0) {
			fail_daemon(client, STEP_QUERY, err, "cannot query unit %u", units[i]);
			break;
		}
		if ((err = gather_mounts(&disks[found])) < 0)
			break;
		found++;
	}
	free(units);
	if (err < 0) {
		free_disks(disks, found);
		return err;
	}
	*out = disks;
	*out_count = found;
	return 0;
}

static int list_one(struct imdisk_client *client, const struct cli_options *o)
{
	struct listed_disk disk = {0};
	int err;

	if ((err = lookup_disk(client, o, &disk.device)) < 0)
		return err;
	if (query_with_owner(client, disk.device.unit, &disk) < 0)
		disk.has_owner = false; /* gone meanwhile: described as it was found */
	if ((err = gather_mounts(&disk)) < 0)
		return err;
	if (o->numeric)
		printf("%u\n", disk.device.unit);
	else if (o->json)
		err = print_json(disk_to_json(&disk));
	else
		print_detail(&disk);
	mount_points_free(&disk.mounts);
	return err;
}

static int list_all(struct imdisk_client *client, const struct cli_options *o)
{
	struct listed_disk *disks = NULL;
	struct json_object *array;
	size_t count = 0;
	int err;

	if ((err = gather_all(client, &disks, &count)) < 0)
		return err;
	if (o->numeric) {
		for (size_t i = 0; i < count; i++)
			printf("%u\n", disks[i].device.unit);
	} else if (o->json) {
		array = json_object_new_array();
		for (size_t i = 0; array && i < count; i++)
			json_object_array_add(array, disk_to_json(&disks[i]));
		err = print_json(array);
	} else {
		print_table(disks, count);
	}
	free_disks(disks, count);
	return err;
}

int list(const struct cli_options *o)
{
	struct imdisk_client *client;
	int err;

	if ((err = daemon_connect(o->socket, &client)) < 0)
		return err;
	if (o->has_unit || o->mount_point)
		err = list_one(client, o);
	else
		err = list_all(client, o);
	imdisk_disconnect(client);
	return err;
}
