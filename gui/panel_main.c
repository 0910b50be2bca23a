/* imdisk-panel: a window listing imdisk's disks, kept live from the daemon's watch
 * stream.  It runs as the desktop user and talks only to the daemon's socket. */
#include <errno.h>
#include <gtk/gtk.h>

#include "disk_list.h"
#include "imdisk.h"

struct panel {
	GtkListBox *list;
	GtkLabel *status;
	struct imdisk_client *client; /* requests, on the main thread */
};

static gboolean refresh_on_main(gpointer data)
{
	struct panel *panel = data;
	if (panel->client)
		disk_list_refresh(panel->list, panel->client);
	return G_SOURCE_REMOVE;
}

/* imdisk_watch_next blocks, so the watch stream has its own connection and thread;
 * each event schedules one refresh on the main loop (no polling). */
static gpointer watch_thread(gpointer data)
{
	struct panel *panel = data;
	struct imdisk_client *watcher;
	if (imdisk_connect(imdisk_socket_path(NULL), &watcher) < 0)
		return NULL;
	if (imdisk_watch(watcher) == 0) {
		struct imdisk_event event;
		while (imdisk_watch_next(watcher, &event, -1) == 0)
			g_idle_add(refresh_on_main, panel);
	}
	imdisk_disconnect(watcher);
	return NULL;
}

static void activate(GtkApplication *app, gpointer data)
{
	struct panel *panel = data;
	GtkWidget *window = gtk_application_window_new(app);
	gtk_window_set_title(GTK_WINDOW(window), "imdisk");
	gtk_window_set_default_size(GTK_WINDOW(window), 640, 360);
	GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 6);
	panel->status = GTK_LABEL(gtk_label_new(""));
	panel->list = GTK_LIST_BOX(gtk_list_box_new());
	gtk_box_append(GTK_BOX(box), GTK_WIDGET(panel->status));
	GtkWidget *scroll = gtk_scrolled_window_new();
	gtk_widget_set_vexpand(scroll, TRUE);
	gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(scroll), GTK_WIDGET(panel->list));
	gtk_box_append(GTK_BOX(box), scroll);
	gtk_window_set_child(GTK_WINDOW(window), box);

	const char *path = imdisk_socket_path(NULL);
	int rc = imdisk_connect(path, &panel->client);
	if (rc < 0) {
		panel->client = NULL;
		g_autofree char *text = g_strdup_printf(rc == -EACCES ? "No access to the socket %s (%s)" : "Cannot reach imdiskd at %s (%s)",
							path, g_strerror(-rc));
		gtk_label_set_text(panel->status, text);
	} else {
		g_autofree char *text = g_strdup_printf("Connected to %s", path);
		gtk_label_set_text(panel->status, text);
		disk_list_refresh(panel->list, panel->client);
		g_thread_unref(g_thread_new("imdisk-watch", watch_thread, panel));
	}
	gtk_window_present(GTK_WINDOW(window));
}

int main(int argc, char **argv)
{
	static struct panel panel; /* outlives the window: the watch thread may still queue a refresh */
	GtkApplication *app = gtk_application_new("org.imdisk.Panel", G_APPLICATION_DEFAULT_FLAGS);
	g_signal_connect(app, "activate", G_CALLBACK(activate), &panel);
	int status = g_application_run(G_APPLICATION(app), argc, argv);
	g_object_unref(app);
	if (panel.client)
		imdisk_disconnect(panel.client);
	return status;
}
