#include "disk_list.h"

#include <stdio.h>
#include <string.h>

static const char *type_name(uint32_t flags)
{
	switch (IMDISK_TYPE(flags)) {
	case IMDISK_TYPE_VM: return "RAM";
	case IMDISK_TYPE_FILE: return "file";
	case IMDISK_TYPE_PROXY: return "proxy";
	default: return "?";
	}
}

/* IMDISK_PANEL_ECHO=1 copies each row to stdout as it is shown, so a test can
 * see what the window lists without reading pixels. */
static void add_text_row(GtkListBox *list, const char *text)
{
	GtkWidget *label = gtk_label_new(text);

	if (g_strcmp0(g_getenv("IMDISK_PANEL_ECHO"), "1") == 0) {
		printf("row: %s\n", text);
		fflush(stdout);
	}
	gtk_label_set_xalign(GTK_LABEL(label), 0);
	gtk_list_box_append(list, label);
}

void disk_list_refresh(GtkListBox *list, struct imdisk_client *client)
{
	GtkWidget *row;
	while ((row = gtk_widget_get_first_child(GTK_WIDGET(list))))
		gtk_list_box_remove(list, row); /* GTK 4.8 has no remove_all */
	uint32_t units[256];
	int count = imdisk_list(client, units, G_N_ELEMENTS(units));
	if (count < 0) {
		g_autofree char *text = g_strdup_printf("Listing failed: %s (%s)", imdisk_error_message(client), g_strerror(-count));
		add_text_row(list, text);
		return;
	}
	if (count == 0)
		add_text_row(list, "No virtual disks.");
	for (int i = 0; i < count && i < (int)G_N_ELEMENTS(units); i++) {
		struct imdisk_device device;
		int rc = imdisk_query(client, units[i], &device);
		if (rc < 0)
			continue; /* removed between list and query: the watch stream brings the REMOVE */
		g_autofree char *size = g_format_size_full(device.size, G_FORMAT_SIZE_IEC_UNITS);
		g_autofree char *text = g_strdup_printf("%u\t%s\t%s\t%s\t%s%s", device.unit, device.device, size,
							type_name(device.flags), device.image,
							(device.flags & IMDISK_OPTION_RO) ? "\tread-only" : "");
		add_text_row(list, text);
	}
}
