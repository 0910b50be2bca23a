#include "daemon/disk_table.h"

#include <errno.h>
#include <string.h>

void disk_table_init(struct disk_table *table)
{
	memset(table, 0, sizeof(*table));
	pthread_mutex_init(&table->lock, NULL);
}

int disk_table_reserve(struct disk_table *table, uint32_t unit, struct disk *disk)
{
	int r = -ENOSPC;

	pthread_mutex_lock(&table->lock);
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
