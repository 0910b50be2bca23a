/* libFuzzer harness for the image format detector: any bytes, copied to a buffer
 * of their exact size so that a read past them is caught; whatever it answers must
 * be a format with a name that parses back to it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/image_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *head = malloc(size ? size : 1);
	enum image_format format, parsed;

	if (!head)
		return 0;
	memcpy(head, data, size);
	format = image_format_detect(head, size);
	if (image_format_parse(image_format_name(format), &parsed) != 0 || parsed != format)
		abort();
	free(head);
	return 0;
}
