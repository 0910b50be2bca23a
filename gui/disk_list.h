/* The disk list of imdisk-panel: one row a disk, rebuilt from libimdisk queries. */
#pragma once
#include <gtk/gtk.h>
#include "imdisk.h"

/* Replace the rows of `list` with the disks the daemon behind `client` has now;
 * a failure is shown as a row with the daemon's words. */
void disk_list_refresh(GtkListBox *list, struct imdisk_client *client);
