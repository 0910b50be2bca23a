/* Whole-buffer I/O on descriptors and descriptor passing over unix sockets. */
#ifndef IMDISK_COMMON_FDIO_H
#define IMDISK_COMMON_FDIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Read/write exactly len bytes (retrying on EINTR and short transfers).
 * read_full returns -EPIPE on end of file before len bytes. */
int read_full(int fd, void *buf, size_t len);
int write_full(int fd, const void *buf, size_t len);
int pread_full(int fd, void *buf, size_t len, off_t offset);
int pwrite_full(int fd, const void *buf, size_t len, off_t offset);
/* Like pread_full, but what lies past the end of the file reads as zeroes (as it
 * would in a sparse file): for disks whose file may shrink under them. */
int pread_zero_filled(int fd, void *buf, size_t len, off_t offset);
/* Up to len bytes, fewer only at end of file: the count, or a negative errno. */
ssize_t read_up_to(int fd, void *buf, size_t len);
ssize_t pread_up_to(int fd, void *buf, size_t len, off_t offset);

/* Send len bytes with at most one descriptor attached (fd < 0: none). */
int send_with_fd(int sock, const void *buf, size_t len, int fd);
/* Receive exactly len bytes; a descriptor that came with them is stored in *fd
 * (else -1).  Close-on-exec is set on it.  -EPIPE when the peer closed first. */
int recv_with_fd(int sock, void *buf, size_t len, int *fd);

/* Socket buffers of at least `bytes` each way, so that a 1 MiB transfer moves in
 * one go instead of socket-buffer-sized steps with a wake-up each.  Beyond the
 * system's limit (net.core.[rw]mem_max) only where the caller may (root); a
 * socket that keeps its smaller buffers still works. */
void socket_enlarge_buffers(int sock, int bytes);

#endif
