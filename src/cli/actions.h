/* The actions main() dispatches to: each returns 0 or a negative errno with the
 * failure recorded (see failure.h). */
#ifndef IMDISK_CLI_ACTIONS_H
#define IMDISK_CLI_ACTIONS_H

#include "cli/options.h"

int attach(const struct cli_options *o);  /* -a */
int detach(const struct cli_options *o);  /* -d, -D, -R */
int list(const struct cli_options *o);    /* -l */
int edit(const struct cli_options *o);    /* -e */
int watch(const struct cli_options *o);   /* --watch */

#endif
