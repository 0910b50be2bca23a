#include "daemon/disk_table.h"

#include <errno.h>
#include <string.h>

void disk_table_init(struct disk_table *table)
{
	memset(table, 0, sizeof(*table));
	pthread_mutex_init(&table->lock, NULL);
}

bool disk_is_memory(uint32_t flags)
{
	return IMDISK_TYPE(flags) == IMDISK_TYPE_VM ||
	       (IMDISK_TYPE(flags) == IMDISK_TYPE_FILE && IMDISK_FILE_TYPE(flags) == IMDISK_FILE_TYPE_AWEALLOC);
}

bool disk_is_locked_memory(uint32_t flags)
{
	return disk_is_memory(flags) && IMDISK_FILE_TYPE(flags) == IMDISK_FILE_TYPE_AWEALLOC;
}

static uint64_t saturating_add(uint64_t a, uint64_t b)
{
	uint64_t sum;

	return __builtin_add_overflow(a, b, &sum) ? UINT64_MAX : sum;
}

void disk_table_holdings(const struct disk_table *table, uid_t uid, struct disk_holdings *out)
{
	memset(out, 0, sizeof(*out));
	for (uint32_t u = 0; u < DISK_TABLE_MAX_UNITS; u++) {
		const struct disk *disk = table->units[u];
		uint64_t ram;

		if (!disk || disk->owner_uid != uid)
			continue;
		out->disks++;
		if (disk->state == DISK_CREATING)
			ram = disk->ram_reserved;
		else
			ram = disk_is_memory(disk->info.flags) ? disk->info.size : 0;
		out->ram_bytes = saturating_add(out->ram_bytes, ram);
		if (disk_is_locked_memory(disk->info.flags))
			out->locked_bytes = saturating_add(out->locked_bytes, ram);
	}
}

int disk_table_reserve(struct disk_table *table, uint32_t unit, struct disk *disk)
{
	return disk_table_reserve_within(table, unit, disk, UINT32_MAX);
}

int disk_table_reserve_within(struct disk_table *table, uint32_t unit, struct disk *disk, uint32_t max_disks)
{
	struct disk_holdings held;
	int r = -ENOSPC;

	pthread_mutex_lock(&table->lock);
	if (max_disks != UINT32_MAX) {
		disk_table_holdings(table, disk->owner_uid, &held);
		if (held.disks >= max_disks) {
			pthread_mutex_unlock(&table->lock);
			return -EDQUOT;
		}
	}
	if (unit == IMDISK_AUTO_UNIT) {
		for (uint32_t u = 0; u < DISK_TABLE_MAX_UNITS; u++) {
			if (!table->units[u]) {
				unit = u;
				r = 0;
				break;
			}
		}
	} else if (unit >= DISK_TABLE_MAX_UNITS) {
		r = -EINVAL;
	} else {
		r = table->units[unit] ? -EEXIST : 0;
	}
	if (r == 0) {
		disk->state = DISK_CREATING;
		disk->info.unit = unit;
		table->units[unit] = disk;
	}
	pthread_mutex_unlock(&table->lock);
	return r;
}

void disk_table_release(struct disk_table *table, uint32_t unit)
{
	if (unit >= DISK_TABLE_MAX_UNITS)
		return;
	pthread_mutex_lock(&table->lock);
	table->units[unit] = NULL;
	pthread_mutex_unlock(&table->lock);
}

struct disk *disk_table_get(struct disk_table *table, uint32_t unit)
{
	if (unit >= DISK_TABLE_MAX_UNITS || !table->units[unit] || table->units[unit]->state != DISK_READY)
		return NULL;
	return table->units[unit];
}
