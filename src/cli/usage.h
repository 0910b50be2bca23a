/* What `imdisk --help`, `imdisk --version` and a wrong command line print. */
#ifndef IMDISK_CLI_USAGE_H
#define IMDISK_CLI_USAGE_H

#include <stdio.h>

/* The full help: forms, switches, -o words, exit codes. */
void usage_help(FILE *out);

/* The forms only, after a syntax error (ImDisk shows its usage on exit 13). */
void usage_short(FILE *out);

void usage_version(FILE *out);

#endif
