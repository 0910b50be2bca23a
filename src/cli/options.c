#include "cli/options.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/failure.h"
#include "common/nbd_uri.h"
#include "image/partition.h"

/* Every switch that takes part in deciding whether a command line makes sense. */
enum switch_bit {
	SW_TYPE = 1u << 0,
	SW_MOUNT = 1u << 1,
	SW_OPTIONS = 1u << 2,
	SW_FILE = 1u << 3,
	SW_SIZE = 1u << 4,
	SW_OFFSET = 1u << 5,
	SW_PARTITION = 1u << 6,
	SW_SECTOR_SIZE = 1u << 7,
	SW_UNIT = 1u << 8,
	SW_SPT = 1u << 9,
	SW_TPC = 1u << 10,
	SW_FORMAT = 1u << 11,
	SW_PERSIST = 1u << 12,
	SW_NUMERIC = 1u << 13,
	SW_JSON = 1u << 14,
	SW_SOCKET = 1u << 15,
	SW_TRANSPORT = 1u << 16,
};

static const struct {
	enum switch_bit bit;
	const char *name;
} switch_names[] = {
	{SW_TYPE, "-t"},        {SW_MOUNT, "-m"},       {SW_OPTIONS, "-o"},
	{SW_FILE, "-f"},        {SW_SIZE, "-s"},        {SW_OFFSET, "-b"},
	{SW_PARTITION, "-v"},   {SW_SECTOR_SIZE, "-S"}, {SW_UNIT, "-u"},
	{SW_SPT, "-x"},         {SW_TPC, "-y"},         {SW_FORMAT, "-p"},
	{SW_PERSIST, "-P"},     {SW_NUMERIC, "-n"},     {SW_JSON, "--json"},
	{SW_SOCKET, "--socket"}, {SW_TRANSPORT, "--transport"},
};

/* Which switches each action takes; anything else is a usage error. */
#define SWITCHES_ATTACH                                                                    \
	(SW_TYPE | SW_MOUNT | SW_OPTIONS | SW_FILE | SW_SIZE | SW_OFFSET | SW_PARTITION |  \
	 SW_SECTOR_SIZE | SW_UNIT | SW_SPT | SW_TPC | SW_FORMAT | SW_PERSIST | SW_NUMERIC | \
	 SW_SOCKET | SW_TRANSPORT)
#define SWITCHES_REMOVE (SW_UNIT | SW_MOUNT | SW_PERSIST | SW_SOCKET)
#define SWITCHES_EMERGENCY (SW_UNIT | SW_MOUNT | SW_SOCKET)
#define SWITCHES_LIST (SW_UNIT | SW_MOUNT | SW_NUMERIC | SW_JSON | SW_SOCKET)
#define SWITCHES_EDIT (SW_UNIT | SW_MOUNT | SW_SIZE | SW_OPTIONS | SW_SOCKET)
#define SWITCHES_WATCH (SW_SOCKET)
#define SWITCHES_RESTORE (SW_SOCKET)

static const struct {
	const char *name;
	enum disk_word word;
} disk_words[] = {
	{"ro", WORD_RO},         {"rw", WORD_RW},       {"rem", WORD_REM},   {"fix", WORD_FIX},
	{"sparse", WORD_SPARSE}, {"saved", WORD_SAVED}, {"shared", WORD_SHARED},
	{"par", WORD_PAR},       {"buf", WORD_BUF},     {"awe", WORD_AWE},   {"bswap", WORD_BSWAP},
	{"ip", WORD_IP},         {"comm", WORD_COMM},   {"shm", WORD_SHM},   {"hd", WORD_HD},
	{"fd", WORD_FD},         {"cd", WORD_CD},       {"raw", WORD_RAW},   {"nbd", WORD_NBD},
};

/* Groups of -o words of which at most one may be given. */
static const uint32_t exclusive_words[] = {
	WORD_RO | WORD_RW,
	WORD_REM | WORD_FIX,
	WORD_HD | WORD_FD | WORD_CD | WORD_RAW,
	WORD_PAR | WORD_BUF | WORD_AWE,
	WORD_IP | WORD_COMM | WORD_SHM | WORD_NBD,
};

enum long_only {
	OPT_JSON = 256,
	OPT_SOCKET,
	OPT_TRANSPORT,
	OPT_HELP,
	OPT_VERSION,
	OPT_WATCH,
	OPT_RESTORE,
	OPT_MOUNT_OPTIONS,
};

static const struct option long_options[] = {
	{"attach", no_argument, NULL, 'a'},
	{"detach", no_argument, NULL, 'd'},
	{"force-detach", no_argument, NULL, 'D'},
	{"emergency-remove", no_argument, NULL, 'R'},
	{"list", no_argument, NULL, 'l'},
	{"edit", no_argument, NULL, 'e'},
	{"type", required_argument, NULL, 't'},
	{"mount", required_argument, NULL, 'm'},
	{"options", required_argument, NULL, 'o'},
	{"file", required_argument, NULL, 'f'},
	{"size", required_argument, NULL, 's'},
	{"offset", required_argument, NULL, 'b'},
	{"partition", required_argument, NULL, 'v'},
	{"sector-size", required_argument, NULL, 'S'},
	{"unit", required_argument, NULL, 'u'},
	{"sectors-per-track", required_argument, NULL, 'x'},
	{"tracks-per-cylinder", required_argument, NULL, 'y'},
	{"format", required_argument, NULL, 'p'},
	{"persist", no_argument, NULL, 'P'},
	{"numeric", no_argument, NULL, 'n'},
	{"json", no_argument, NULL, OPT_JSON},
	{"socket", required_argument, NULL, OPT_SOCKET},
	{"transport", required_argument, NULL, OPT_TRANSPORT},
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{"watch", no_argument, NULL, OPT_WATCH},
	{"restore", no_argument, NULL, OPT_RESTORE},
	{"mount-options", required_argument, NULL, OPT_MOUNT_OPTIONS},
	{NULL, 0, NULL, 0},
};

static const char short_options[] = ":adDRlet:m:o:f:F:s:b:v:S:u:x:y:p:Pn";

static const char *switch_name(enum switch_bit bit)
{
	for (size_t i = 0; i < sizeof(switch_names) / sizeof(switch_names[0]); i++)
		if (switch_names[i].bit == bit)
			return switch_names[i].name;
	return "?";
}

static const char *word_name(uint32_t word)
{
	for (size_t i = 0; i < sizeof(disk_words) / sizeof(disk_words[0]); i++)
		if (disk_words[i].word == word)
			return disk_words[i].name;
	return "?";
}

/* The first -o word (lowest bit) of a set, for messages. */
static const char *first_word(uint32_t words)
{
	return word_name(words & -words);
}

static const char *action_switch(const struct cli_options *o)
{
	switch (o->action) {
	case ACTION_ATTACH:
		return "-a";
	case ACTION_DETACH:
		return o->remove_mode == IMDISK_REMOVE_EMERGENCY ? "-R"
		       : o->remove_mode == IMDISK_REMOVE_FORCE ? "-D"
							    : "-d";
	case ACTION_LIST:
		return "-l";
	case ACTION_EDIT:
		return "-e";
	case ACTION_WATCH:
		return "--watch";
	case ACTION_RESTORE:
		return "--restore";
	default:
		return "?";
	}
}

/* A decimal number in [min, max]; no sign, no suffix, no spaces. */
static int parse_number(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long value;
	char *end;

	if (text[0] < '0' || text[0] > '9')
		return -EINVAL;
	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno || *end || value < min || value > max)
		return -EINVAL;
	*out = value;
	return 0;
}

static int parse_u32_switch(const char *text, const char *name, uint64_t min, uint64_t max,
			    uint32_t *out)
{
	uint64_t value;

	if (parse_number(text, min, max, &value) < 0)
		return fail_plain(STEP_USAGE, -EINVAL,
				  "%s takes a number from %llu to %llu, not '%s'", name,
				  (unsigned long long)min, (unsigned long long)max, text);
	*out = (uint32_t)value;
	return 0;
}

static int parse_words(const char *text, uint32_t *words)
{
	char list[256];
	char *save = NULL;

	if (strlen(text) >= sizeof(list))
		return fail_plain(STEP_USAGE, -EINVAL, "-o '%s' is too long", text);
	strcpy(list, text);
	for (char *w = strtok_r(list, ", ", &save); w; w = strtok_r(NULL, ", ", &save)) {
		size_t i;

		for (i = 0; i < sizeof(disk_words) / sizeof(disk_words[0]); i++)
			if (strcmp(w, disk_words[i].name) == 0)
				break;
		if (i == sizeof(disk_words) / sizeof(disk_words[0]))
			return fail_plain(STEP_USAGE, -EINVAL,
					  "unknown -o word '%s' (see imdisk --help)", w);
		*words |= disk_words[i].word;
	}
	return 0;
}

static int parse_type(const char *text, enum disk_kind *kind)
{
	if (strcmp(text, "vm") == 0)
		*kind = DISK_KIND_VM;
	else if (strcmp(text, "file") == 0)
		*kind = DISK_KIND_FILE;
	else if (strcmp(text, "proxy") == 0)
		*kind = DISK_KIND_PROXY;
	else
		return fail_plain(STEP_USAGE, -EINVAL, "-t takes vm, file or proxy, not '%s'", text);
	return 0;
}

static int parse_transport(const char *text, enum imdisk_transport *transport)
{
	if (strcmp(text, "auto") == 0)
		*transport = IMDISK_TRANSPORT_AUTO;
	else if (strcmp(text, "loop") == 0)
		*transport = IMDISK_TRANSPORT_LOOP;
	else if (strcmp(text, "fuse") == 0)
		*transport = IMDISK_TRANSPORT_FUSE;
	else
		return fail_plain(STEP_USAGE, -EINVAL, "--transport takes loop or fuse, not '%s'",
				  text);
	return 0;
}

static int parse_size(const char *text, struct size_request *size)
{
	int err = size_parse(text, size);

	if (err < 0)
		return fail_plain(STEP_SIZE, err,
				  "bad size '%s': give bytes, a suffix (b = 512-byte blocks, "
				  "k m g t or K M G T, KiB..TiB or KB..TB), N%% of free memory, or -N for free memory "
				  "minus N",
				  text);
	return 0;
}

static int parse_offset(const char *text, struct cli_options *o)
{
	int err;

	if (strcmp(text, "auto") == 0) {
		o->offset_auto = true;
		return 0;
	}
	err = size_parse_offset(text, &o->offset);
	if (err < 0)
		return fail_plain(STEP_SIZE, err,
				  "bad offset '%s': give bytes, a suffix (b = 512-byte blocks, "
				  "k m g t or K M G T) or auto",
				  text);
	return 0;
}

static int set_action(struct cli_options *o, enum cli_action action, enum imdisk_remove_mode mode,
		      const char *name)
{
	if (o->action != ACTION_NONE) {
		const char *before = action_switch(o);

		return fail_plain(STEP_USAGE, -EINVAL, "%s and %s cannot be combined", before, name);
	}
	o->action = action;
	o->remove_mode = mode;
	return 0;
}

/* The mkfs type is the first word of -p; it becomes part of a program name. */
static int check_format(const char *spec)
{
	size_t len = strcspn(spec + strspn(spec, " \t"), " \t");
	const char *type = spec + strspn(spec, " \t");

	if (len == 0)
		return fail_plain(STEP_USAGE, -EINVAL, "-p needs a file system type, as in -p ext4");
	for (size_t i = 0; i < len; i++) {
		char c = type[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return fail_plain(STEP_USAGE, -EINVAL, "-p: '%.*s' is not a file system type",
					  (int)len, type);
	}
	return 0;
}

static int check_words(uint32_t words)
{
	for (size_t i = 0; i < sizeof(exclusive_words) / sizeof(exclusive_words[0]); i++) {
		uint32_t both = words & exclusive_words[i];

		if (both & (both - 1)) {
			uint32_t second = both & (both - 1);

			return fail_plain(STEP_USAGE, -EINVAL, "-o %s and %s cannot be combined",
					  first_word(both), first_word(second));
		}
	}
	return 0;
}

static int check_attach(struct cli_options *o, uint32_t seen)
{
	uint32_t words = o->words;
	int err;

	/* An NBD URI is enough to say what the disk is. */
	if (o->kind == DISK_KIND_AUTO && nbd_uri_is_nbd(o->image))
		o->kind = DISK_KIND_PROXY;
	if (o->kind == DISK_KIND_AUTO)
		o->kind = o->image ? DISK_KIND_FILE : DISK_KIND_VM;
	if (o->kind != DISK_KIND_VM && !o->image)
		return fail_plain(STEP_USAGE, -EINVAL, "-t %s needs an image (-f)",
				  o->kind == DISK_KIND_FILE ? "file" : "proxy");
	if (o->kind == DISK_KIND_VM && !o->image && !o->has_size)
		return fail_plain(STEP_USAGE, -EINVAL,
				  "a RAM disk needs a size (-s) or an image to load (-f)");
	if (o->kind == DISK_KIND_VM && !o->image && o->size.kind == SIZE_BYTES &&
	    o->size.value == 0)
		return fail_plain(STEP_SIZE, -EINVAL, "a RAM disk cannot have size 0");
	if ((seen & SW_PARTITION) && (!o->image || o->kind == DISK_KIND_PROXY))
		return fail_plain(STEP_USAGE, -EINVAL, "-v needs an image file (-f)");
	if (o->offset_auto && (!o->image || o->kind == DISK_KIND_PROXY))
		return fail_plain(STEP_USAGE, -EINVAL, "-b auto needs an image file (-f)");
	if (o->mount_options && !o->mount_point)
		return fail_plain(STEP_USAGE, -EINVAL, "--mount-options needs a mount point (-m)");
	if ((err = check_words(words)) < 0)
		return err;
	if (words & WORD_SAVED)
		return fail_plain(STEP_USAGE, -EINVAL, "-o saved is for -e only");
	if ((words & (WORD_IP | WORD_COMM | WORD_SHM | WORD_NBD)) && o->kind != DISK_KIND_PROXY)
		return fail_plain(STEP_USAGE, -EINVAL, "-o %s needs -t proxy",
				  first_word(words & (WORD_IP | WORD_COMM | WORD_SHM | WORD_NBD)));
	if ((words & WORD_NBD) && !nbd_uri_is_nbd(o->image))
		return fail_plain(STEP_USAGE, -EINVAL,
				  "-o nbd takes an NBD URI (nbd://HOST[:PORT]/EXPORT or "
				  "nbd+unix:///EXPORT?socket=PATH), not '%s'",
				  o->image);
	if (nbd_uri_is_nbd(o->image) && (words & (WORD_IP | WORD_COMM | WORD_SHM)))
		return fail_plain(STEP_USAGE, -EINVAL, "-o %s cannot be used with an NBD URI",
				  first_word(words & (WORD_IP | WORD_COMM | WORD_SHM)));
	if ((words & (WORD_PAR | WORD_BUF)) && o->kind != DISK_KIND_FILE)
		return fail_plain(STEP_USAGE, -EINVAL, "-o %s needs an image file disk (-t file)",
				  first_word(words & (WORD_PAR | WORD_BUF)));
	if ((words & WORD_AWE) && o->kind == DISK_KIND_PROXY)
		return fail_plain(STEP_USAGE, -EINVAL, "-o awe cannot be used with -t proxy");
	if (o->format) {
		if ((err = check_format(o->format)) < 0)
			return err;
		if (words & (WORD_RO | WORD_CD))
			return fail_plain(STEP_USAGE, -EINVAL,
					  "-p cannot format a read-only disk (-o %s)",
					  first_word(words & (WORD_RO | WORD_CD)));
	}
	/* Valid, but not done by this implementation: say so before anything happens. */
	if ((words & WORD_BSWAP) && o->transport == IMDISK_TRANSPORT_LOOP)
		return fail_plain(STEP_USAGE, -EINVAL,
				  "-o bswap needs the user-space transport, not --transport=loop");
	return 0;
}

static int check_selection(const struct cli_options *o, uint32_t seen, bool required)
{
	if ((seen & SW_UNIT) && (seen & SW_MOUNT))
		return fail_plain(STEP_USAGE, -EINVAL, "%s takes either -u or -m, not both",
				  action_switch(o));
	if (required && !(seen & (SW_UNIT | SW_MOUNT)))
		return fail_plain(STEP_USAGE, -EINVAL, "%s needs -u UNIT or -m MOUNTPOINT",
				  action_switch(o));
	return 0;
}

static int check_edit(struct cli_options *o, uint32_t seen)
{
	int err = check_selection(o, seen, true);

	if (err < 0)
		return err;
	if (!o->has_size && !o->words)
		return fail_plain(STEP_USAGE, -EINVAL, "-e needs -s (grow by) or -o (flags) to change");
	if (o->words & ~WORDS_EDITABLE)
		return fail_plain(STEP_USAGE, -EINVAL,
				  "-o %s cannot be changed on an existing disk (-e takes ro, rw, "
				  "rem, fix, sparse and saved)",
				  first_word(o->words & ~WORDS_EDITABLE));
	return check_words(o->words);
}

static int check_combination(struct cli_options *o, uint32_t seen)
{
	uint32_t allowed;
	uint32_t extra;
	int err;

	switch (o->action) {
	case ACTION_ATTACH:
		allowed = SWITCHES_ATTACH;
		break;
	case ACTION_DETACH:
		allowed = o->remove_mode == IMDISK_REMOVE_EMERGENCY ? SWITCHES_EMERGENCY
								     : SWITCHES_REMOVE;
		break;
	case ACTION_LIST:
		allowed = SWITCHES_LIST;
		break;
	case ACTION_EDIT:
		allowed = SWITCHES_EDIT;
		break;
	case ACTION_WATCH:
		allowed = SWITCHES_WATCH;
		break;
	case ACTION_RESTORE:
		allowed = SWITCHES_RESTORE;
		break;
	default:
		return fail_plain(STEP_USAGE, -EINVAL, "no action: give -a, -d, -D, -R, -l or -e");
	}
	extra = seen & ~allowed;
	if (extra)
		return fail_plain(STEP_USAGE, -EINVAL, "%s cannot be used with %s",
				  switch_name(extra & -extra), action_switch(o));

	switch (o->action) {
	case ACTION_ATTACH:
		err = check_attach(o, seen);
		break;
	case ACTION_DETACH:
		err = check_selection(o, seen, true);
		break;
	case ACTION_LIST:
		err = check_selection(o, seen, false);
		if (!err && o->numeric && o->json)
			err = fail_plain(STEP_USAGE, -EINVAL, "-n and --json cannot be combined");
		break;
	case ACTION_EDIT:
		err = check_edit(o, seen);
		break;
	default:
		err = 0;
	}
	if (err < 0)
		return err;
	return 0;
}

/* The name of the switch getopt complained about, as the user wrote it. */
static void bad_switch_name(char **argv, char *buf, size_t size)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "";

	if (strncmp(arg, "--", 2) == 0) {
		snprintf(buf, size, "%s", arg);
		buf[strcspn(buf, "=")] = '\0';
	} else if (optopt > 0 && optopt < 256) {
		snprintf(buf, size, "-%c", optopt);
	} else {
		snprintf(buf, size, "%s", arg);
	}
}

static int parse_switch(int c, const char *arg, struct cli_options *o, uint32_t *seen)
{
	uint64_t number;

	switch (c) {
	case 'a':
		return set_action(o, ACTION_ATTACH, IMDISK_REMOVE_NORMAL, "-a");
	case 'd':
		return set_action(o, ACTION_DETACH, IMDISK_REMOVE_NORMAL, "-d");
	case 'D':
		return set_action(o, ACTION_DETACH, IMDISK_REMOVE_FORCE, "-D");
	case 'R':
		return set_action(o, ACTION_DETACH, IMDISK_REMOVE_EMERGENCY, "-R");
	case 'l':
		return set_action(o, ACTION_LIST, IMDISK_REMOVE_NORMAL, "-l");
	case 'e':
		return set_action(o, ACTION_EDIT, IMDISK_REMOVE_NORMAL, "-e");
	case 't':
		*seen |= SW_TYPE;
		return parse_type(arg, &o->kind);
	case 'm':
		*seen |= SW_MOUNT;
		if (!*arg)
			return fail_plain(STEP_USAGE, -EINVAL, "-m needs a directory");
		o->mount_point = arg;
		return 0;
	case 'o':
		*seen |= SW_OPTIONS;
		return parse_words(arg, &o->words);
	case 'f':
	case 'F':
		*seen |= SW_FILE;
		if (!*arg)
			return fail_plain(STEP_USAGE, -EINVAL, "-%c needs an image", c);
		o->image = arg;
		return 0;
	case 's':
		*seen |= SW_SIZE;
		o->has_size = true;
		return parse_size(arg, &o->size);
	case 'b':
		*seen |= SW_OFFSET;
		o->has_offset = true;
		return parse_offset(arg, o);
	case 'v':
		*seen |= SW_PARTITION;
		return parse_u32_switch(arg, "-v", 1, PARTITION_NUMBER_MAX, &o->partition);
	case 'S':
		*seen |= SW_SECTOR_SIZE;
		if (parse_number(arg, 512, 4096, &number) < 0 || (number & (number - 1)))
			return fail_plain(STEP_USAGE, -EINVAL,
					  "-S takes 512, 1024, 2048 or 4096, not '%s'", arg);
		o->sector_size = (uint32_t)number;
		return 0;
	case 'u':
		*seen |= SW_UNIT;
		o->has_unit = true;
		return parse_u32_switch(arg, "-u", 0, IMDISK_AUTO_UNIT - 1, &o->unit);
	case 'x':
		*seen |= SW_SPT;
		return parse_u32_switch(arg, "-x", 1, 65535, &o->sectors_per_track);
	case 'y':
		*seen |= SW_TPC;
		return parse_u32_switch(arg, "-y", 1, 65535, &o->tracks_per_cylinder);
	case 'p':
		*seen |= SW_FORMAT;
		o->format = arg;
		return 0;
	case 'P':
		*seen |= SW_PERSIST;
		o->persist = true;
		return 0;
	case 'n':
		*seen |= SW_NUMERIC;
		o->numeric = true;
		return 0;
	case OPT_JSON:
		*seen |= SW_JSON;
		o->json = true;
		return 0;
	case OPT_SOCKET:
		*seen |= SW_SOCKET;
		if (!*arg)
			return fail_plain(STEP_USAGE, -EINVAL, "--socket needs a path");
		o->socket = arg;
		return 0;
	case OPT_TRANSPORT:
		*seen |= SW_TRANSPORT;
		return parse_transport(arg, &o->transport);
	case OPT_WATCH:
		return set_action(o, ACTION_WATCH, IMDISK_REMOVE_NORMAL, "--watch");
	case OPT_RESTORE:
		return set_action(o, ACTION_RESTORE, IMDISK_REMOVE_NORMAL, "--restore");
	case OPT_MOUNT_OPTIONS:
		if (!*arg)
			return fail_plain(STEP_USAGE, -EINVAL, "--mount-options needs options (as mount -o takes)");
		o->mount_options = arg;
		return 0;
	}
	return fail_plain(STEP_USAGE, -EINVAL, "unknown switch");
}

int options_parse(int argc, char **argv, struct cli_options *out)
{
	struct cli_options o = {.kind = DISK_KIND_AUTO, .transport = IMDISK_TRANSPORT_AUTO};
	bool help = false, version = false;
	int first_error = 0;
	uint32_t seen = 0;
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, short_options, long_options, NULL)) != -1) {
		char name[64];
		int err;

		if (c == OPT_HELP) {
			help = true;
			continue;
		}
		if (c == OPT_VERSION) {
			version = true;
			continue;
		}
		if (first_error)
			continue; /* keep scanning: --help anywhere still wins */
		if (c == '?') {
			bad_switch_name(argv, name, sizeof(name));
			if (optopt >= 256 || (optopt > 0 && strchr(argv[optind - 1], '=')))
				first_error = fail_plain(STEP_USAGE, -EINVAL, "%s takes no value",
							 name);
			else
				first_error = fail_plain(STEP_USAGE, -EINVAL, "unknown switch %s",
							 name);
			continue;
		}
		if (c == ':') {
			bad_switch_name(argv, name, sizeof(name));
			first_error = fail_plain(STEP_USAGE, -EINVAL, "%s needs a value", name);
			continue;
		}
		err = parse_switch(c, optarg, &o, &seen);
		if (err < 0)
			first_error = err;
	}
	if (help || version) {
		o.action = help ? ACTION_HELP : ACTION_VERSION;
		*out = o;
		return 0;
	}
	if (first_error)
		return first_error;
	if (optind < argc)
		return fail_plain(STEP_USAGE, -EINVAL, "unexpected argument '%s'", argv[optind]);
	if (argc <= 1)
		return fail_plain(STEP_USAGE, -EINVAL, "no action given");
	if ((first_error = check_combination(&o, seen)) < 0)
		return first_error;
	o.argc = argc;
	o.argv = argv;
	*out = o;
	return 0;
}
