/* The one wording of "this disk is not yours", shared by imdiskd (which refuses)
 * and imdisk (which checks before it unmounts or extends anything), so the user
 * reads the same line whichever of them noticed first. */
#ifndef IMDISK_COMMON_OWNERSHIP_H
#define IMDISK_COMMON_OWNERSHIP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* "unit N belongs to uid U (user NAME); only its owner or root may change it" */
void ownership_refusal(char *buf, size_t size, uint32_t unit, uid_t owner);

/* The user name of uid into buf ("unknown" when the user database has none). */
void ownership_user_name(uid_t uid, char *buf, size_t size);

#endif
