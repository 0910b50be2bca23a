/* imdisk: ImDisk's command line for imdiskd's disks.  Switches become one action;
 * the action returns 0 or a negative errno with its failure recorded; this is the
 * one place that prints the failure and chooses the exit code. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/actions.h"
#include "cli/exit_codes.h"
#include "cli/failure.h"
#include "cli/options.h"
#include "cli/persist.h"
#include "cli/usage.h"
#include "common/log.h"

int main(int argc, char **argv)
{
	struct cli_options o;
	int err, code;

	log_init("imdisk", LOG_LEVEL_INFO);
	err = options_parse(argc, argv, &o);
	if (err < 0) {
		code = failure_report(err);
		/* ImDisk shows its usage with a syntax error; stdout keeps stderr one line. */
		if (code == CLI_EXIT_USAGE)
			usage_short(stdout);
		return code;
	}
	switch (o.action) {
	case ACTION_HELP:
		usage_help(stdout);
		return CLI_EXIT_OK;
	case ACTION_VERSION:
		usage_version(stdout);
		return CLI_EXIT_OK;
	case ACTION_ATTACH:
		err = attach(&o);
		break;
	case ACTION_DETACH:
		err = detach(&o);
		break;
	case ACTION_LIST:
		err = list(&o);
		break;
	case ACTION_EDIT:
		err = edit(&o);
		break;
	case ACTION_WATCH:
		err = watch(&o);
		break;
	case ACTION_RESTORE:
		err = persist_restore(&o);
		break;
	default:
		return CLI_EXIT_USAGE;
	}
	if (err < 0)
		return failure_report(err);
	if (fflush(stdout) != 0) {
		log_error("cannot write the output: %s", strerror(errno));
		return CLI_EXIT_CREATE_FAILED;
	}
	return CLI_EXIT_OK;
}
