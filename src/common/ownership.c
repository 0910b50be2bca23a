#include "common/ownership.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>

void ownership_user_name(uid_t uid, char *buf, size_t size)
{
	struct passwd entry, *found = NULL;
	char scratch[1024];

	if (getpwuid_r(uid, &entry, scratch, sizeof(scratch), &found) != 0 || !found)
		snprintf(buf, size, "unknown");
	else
		snprintf(buf, size, "%s", found->pw_name);
}

void ownership_refusal(char *buf, size_t size, uint32_t unit, uid_t owner)
{
	char name[256];

	ownership_user_name(owner, name, sizeof(name));
	snprintf(buf, size, "unit %u belongs to uid %u (user %s); only its owner or root may change it", unit,
		 (unsigned)owner, name);
}
