/* The vdisk stack of a disk that needs user-space work: over its backend (memory,
 * an image file or a proxy server), the window the disk shows, then byte
 * swapping, then read-only, each layer only where the disk asks for it.  A silent
 * module: it returns a negative errno and leaves the message to its caller. */
#include <errno.h>

#include "daemon/daemon.h"
#include "layer/layer.h"

bool disk_needs_userspace(const struct imdisk_device *request)
{
	return IMDISK_TYPE(request->flags) == IMDISK_TYPE_PROXY || (request->flags & IMDISK_OPTION_BYTE_SWAP) ||
	       request->transport == IMDISK_TRANSPORT_FUSE;
}

typedef int layer_open_fn(struct vdisk *lower, struct vdisk **out);

/* One layer on top of *stack; on failure *stack is as it was. */
static int push(struct vdisk **stack, layer_open_fn *open_layer)
{
	struct vdisk *layer = NULL;
	int r = open_layer(*stack, &layer);

	if (r == 0)
		*stack = layer;
	return r;
}

int disk_stack_build(struct vdisk *backend, uint64_t offset, uint64_t size, uint32_t flags, struct vdisk **out)
{
	struct vdisk *stack = backend, *layer = NULL;
	uint64_t end;
	int r = 0;

	if (size == 0 || __builtin_add_overflow(offset, size, &end) || end > backend->size)
		r = -EINVAL;
	else if (offset != 0 || size != backend->size) {
		r = layer_window_open(stack, offset, size, &layer);
		if (r == 0)
			stack = layer;
	}
	if (r == 0 && (flags & IMDISK_OPTION_BYTE_SWAP))
		r = push(&stack, layer_byteswap_open);
	if (r == 0 && (flags & IMDISK_OPTION_RO))
		r = push(&stack, layer_readonly_open);
	if (r < 0) {
		vdisk_close(stack); /* the layers made so far, and the backend below them */
		return r;
	}
	*out = stack;
	return 0;
}

int disk_stack_make_read_only(struct vdisk **stack)
{
	if ((*stack)->flags & VDISK_READ_ONLY)
		return 0;
	return push(stack, layer_readonly_open);
}
