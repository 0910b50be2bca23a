/* libFuzzer harness: the control codec must reject or accept any bytes without
 * reading out of bounds, and what it accepts must encode again. */
#include <stdint.h>
#include <string.h>

#include "protocol/control.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct control_message message;
	static uint8_t again[CONTROL_MAX_MESSAGE];

	(void)control_message_size(data, size);
	if (control_decode(data, size, &message) == 0) {
		(void)control_encode(&message, again, sizeof(again));
	}
	return 0;
}
