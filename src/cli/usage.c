#include "cli/usage.h"

#include "imdisk.h"

#ifndef IMDISK_VERSION
#define IMDISK_VERSION "unknown"
#endif

static const char forms[] =
	"Usage:\n"
	"  imdisk -a [-t vm|file|proxy] [-m DIR] [-n] [-o OPTS] [-f|-F IMAGE] [-s SIZE]\n"
	"            [-b OFFSET|auto] [-v PARTITION] [-S SECTORSIZE] [-u UNIT]\n"
	"            [-x SECTORS/TRACK] [-y TRACKS/CYLINDER] [-p \"FSTYPE [MKFS OPTIONS]\"] [-P]\n"
	"  imdisk -d|-D [-u UNIT | -m DIR] [-P]\n"
	"  imdisk -R -u UNIT\n"
	"  imdisk -l [-u UNIT | -m DIR] [-n | --json]\n"
	"  imdisk -e [-s SIZE] [-o OPTS] [-u UNIT | -m DIR]\n"
	"  imdisk --restore\n";

static const char details[] =
	"\n"
	"Actions:\n"
	"  -a, --attach            create a virtual disk (a /dev/loopN)\n"
	"  -d, --detach            unmount it everywhere and remove it (refused while busy)\n"
	"  -D, --force-detach      unmount lazily and remove it even while in use\n"
	"  -R, --emergency-remove  remove at once: no unmount, no flush (hung proxy disks)\n"
	"  -l, --list              list disks; with -u or -m, every detail of one disk\n"
	"  -e, --edit              change a disk: -s grows it by SIZE, -o changes flags\n"
	"      --restore           make every disk saved with -P again (run at boot)\n"
	"\n"
	"Switches:\n"
	"  -t, --type TYPE         vm (RAM), file (image file) or proxy (IMDPROXY server);\n"
	"                          default: vm without -f, file with it\n"
	"  -f, -F, --file IMAGE    image file, or for -t proxy: a unix socket path,\n"
	"                          HOST[:PORT] (-o ip, port 9000) or DEVICE[:BAUD] (-o comm);\n"
	"                          an NBD server: nbd://HOST[:PORT]/EXPORT or\n"
	"                          nbd+unix:///EXPORT?socket=PATH (-t proxy -o nbd implied)\n"
	"  -s, --size SIZE         bytes; b = 512-byte blocks; k m g t powers of 1000,\n"
	"                          K M G T powers of 1024; N% of free memory; -SIZE free\n"
	"                          memory minus SIZE.  A missing IMAGE is created this size\n"
	"  -b, --offset OFFSET     bytes skipped at the start of the image (suffixes as -s),\n"
	"                          or auto (.nrg, .sdi, then the first partition there)\n"
	"  -v, --partition N       use partition N of the image's MBR or GPT\n"
	"  -S, --sector-size N     512, 1024, 2048 or 4096 (default 512; CD 2048)\n"
	"  -u, --unit N            unit number (default: the lowest free one)\n"
	"  -x, --sectors-per-track N, -y, --tracks-per-cylinder N   geometry\n"
	"  -m, --mount DIR         mount the disk's file system on DIR (created if missing)\n"
	"      --mount-options OPTS  mount(8)'s -o for -m (noatime, uid=1000, ...)\n"
	"  -p, --format \"FS [OPTS]\" run mkfs.FS OPTS on the new disk before mounting it\n"
	"  -o, --options OPTS      comma-separated words:\n"
	"                          ro rw  read-only / read-write    rem fix  removable / fixed\n"
	"                          sparse  sparse image file        shared  shared image\n"
	"                          par buf  parallel / buffered I/O awe  locked RAM\n"
	"                          hd fd cd raw  device type        ip comm shm nbd  proxy kind\n"
	"                          bswap  swap each byte pair (served in user space)\n"
	"                          saved  (-e only) clear the modified flag\n"
	"  -n, --numeric           print unit numbers only\n"
	"      --json              list as JSON\n"
	"  -P, --persist           with -a: make the disk again at every boot (its command\n"
	"                          is saved in $IMDISK_PERSIST_DIR, else\n"
	"                          /etc/imdisk/persistent); with -d/-D: forget it too\n"
	"      --socket PATH       imdiskd's control socket (default $IMDISK_SOCKET,\n"
	"                          else /run/imdisk/control)\n"
	"      --transport loop|fuse  how the kernel sees a new disk (default: automatic)\n"
	"      --watch             print change events (create, remove, flags, grow)\n"
	"      --help, --version\n"
	"\n"
	"Exit status:\n"
	"   0 success                      8 format failed\n"
	"   1 device not found             9 bad mount point (mount failed)\n"
	"   2 device busy or inaccessible 10 bad size or offset\n"
	"   3 create failed               11 not enough memory\n"
	"   4 imdiskd not available       12 partition not found\n"
	"   5 imdiskd version mismatch    13 wrong syntax\n"
	"   6 imdiskd permission denied   14 no free unit or loop device\n"
	"   7 proxy server unreachable    15 the disk is another user's\n"
	"                                 16 over a per-user limit of imdiskd\n"
	"\n"
	"Examples:\n"
	"  imdisk -a -s 512M -m /mnt/ram -p ext4\n"
	"  imdisk -a -f disk.img -v 2 -m /mnt/img\n"
	"  imdisk -d -m /mnt/ram\n"
	"\n"
	"See imdisk(8).\n";

void usage_help(FILE *out)
{
	fputs(forms, out);
	fputs(details, out);
}

void usage_short(FILE *out)
{
	fputs(forms, out);
	fputs("Try 'imdisk --help' for more information.\n", out);
}

void usage_version(FILE *out)
{
	fprintf(out, "imdisk %s (control protocol %u.%u)\n", IMDISK_VERSION,
		IMDISK_API_VERSION >> 8, IMDISK_API_VERSION & 0xff);
}
