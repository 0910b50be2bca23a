/* imdisk's switches (ImDisk's letters and GNU long names) turned into one action
 * and its arguments.  Everything that can be checked without touching an image or
 * the daemon is checked here, so syntax errors never need imdiskd. */
#ifndef IMDISK_CLI_OPTIONS_H
#define IMDISK_CLI_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/size.h"
#include "imdisk.h"

enum cli_action {
	ACTION_NONE,
	ACTION_ATTACH,  /* -a */
	ACTION_DETACH,  /* -d, -D, -R (remove_mode says which) */
	ACTION_LIST,    /* -l */
	ACTION_EDIT,    /* -e */
	ACTION_WATCH,   /* --watch */
	ACTION_RESTORE, /* --restore */
	ACTION_HELP,    /* --help */
	ACTION_VERSION, /* --version */
};

/* -t */
enum disk_kind {
	DISK_KIND_AUTO,  /* vm without -f, file with it */
	DISK_KIND_VM,
	DISK_KIND_FILE,
	DISK_KIND_PROXY,
};

/* -o words, one bit each (ImDisk's names). */
enum disk_word {
	WORD_RO = 1u << 0,
	WORD_RW = 1u << 1,
	WORD_REM = 1u << 2,
	WORD_FIX = 1u << 3,
	WORD_SPARSE = 1u << 4,
	WORD_SAVED = 1u << 5,
	WORD_SHARED = 1u << 6,
	WORD_PAR = 1u << 7,
	WORD_BUF = 1u << 8,
	WORD_AWE = 1u << 9,
	WORD_BSWAP = 1u << 10,
	WORD_IP = 1u << 11,
	WORD_COMM = 1u << 12,
	WORD_SHM = 1u << 13,
	WORD_HD = 1u << 14,
	WORD_FD = 1u << 15,
	WORD_CD = 1u << 16,
	WORD_RAW = 1u << 17,
	WORD_NBD = 1u << 18,
};

/* The -o words -e may change (ImDisk allows only these there). */
#define WORDS_EDITABLE (WORD_RO | WORD_RW | WORD_REM | WORD_FIX | WORD_SPARSE | WORD_SAVED)

struct cli_options {
	enum cli_action action;
	enum imdisk_remove_mode remove_mode; /* -d NORMAL, -D FORCE, -R EMERGENCY */
	enum disk_kind kind;
	uint32_t words;           /* enum disk_word bits */
	const char *image;        /* -f / -F: image path or proxy connection string */
	const char *mount_point;  /* -m */
	const char *mount_options; /* --mount-options: mount(8)'s -o for -m */
	bool has_size;
	struct size_request size; /* -s */
	bool has_offset;
	bool offset_auto;         /* -b auto */
	uint64_t offset;          /* -b bytes */
	uint32_t partition;       /* -v; 0 when not given */
	uint32_t sector_size;     /* -S; 0 when not given */
	bool has_unit;
	uint32_t unit;            /* -u */
	uint32_t sectors_per_track;   /* -x; 0 when not given */
	uint32_t tracks_per_cylinder; /* -y; 0 when not given */
	const char *format;       /* -p "fstype [mkfs options]" */
	bool persist;             /* -P */
	bool numeric;             /* -n */
	bool json;                /* --json */
	const char *socket;       /* --socket */
	enum imdisk_transport transport; /* --transport */
	int argc;                 /* the command line, for -P */
	char **argv;
};

/* Parse argv.  Returns 0, or a negative errno with the failure recorded
 * (STEP_USAGE, STEP_SIZE or STEP_UNSUPPORTED). */
int options_parse(int argc, char **argv, struct cli_options *out);

#endif
