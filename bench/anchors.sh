# shellcheck shell=bash
# The user-space anchors (described in docs/performance.md), made exactly as
# measured there (sourced by bench/fuse-transport.sh and bench/proxy.sh after
# bench/lib.sh).  Each sets ANCHOR_DEV (a /dev/loopN with direct I/O) and
# registers its undoing at exit: loop detached, FUSE unmounted, server killed.

# A: kernel loop over a tmpfs file.
anchor_a() {
	local f
	f=$(bench_tmpfs_file A)
	bench_losetup "$f"
	ANCHOR_DEV=$LOOP_DEV
	bench_describe A "\`truncate -s 1G $f; losetup --direct-io=on -f --show $f\` → $ANCHOR_DEV"
}

# C: nbdkit memory 1G on a unix socket, nbdfuse on it, loop with direct I/O on the file.
anchor_c() {
	local sock=$WORK/nbdkit-c.sock dir=$WORK/c
	command -v nbdkit >/dev/null && command -v nbdfuse >/dev/null || bench_die "needs nbdkit and nbdfuse (make deps)"
	bench_bg nbdkit-c nbdkit -f -U "$sock" memory 1G
	bench_wait_for 10 test -S "$sock" || bench_die "nbdkit did not create $sock: $(tail -n 3 "$WORK/nbdkit-c.log")"
	mkdir -p "$dir"
	bench_bg nbdfuse-c nbdfuse "$dir/disk" --unix "$sock"
	bench_on_exit "bench_unmount '$dir'"
	bench_wait_for 10 test -f "$dir/disk" || bench_die "nbdfuse did not mount $dir: $(tail -n 3 "$WORK/nbdfuse-c.log")"
	bench_losetup "$dir/disk"
	ANCHOR_DEV=$LOOP_DEV
	bench_describe C "\`nbdkit -f -U $sock memory 1G\` + \`nbdfuse $dir/disk --unix $sock\` + \`losetup --direct-io=on -f --show $dir/disk\` → $ANCHOR_DEV"
}

# D: qemu-storage-daemon's FUSE export of a tmpfs file, loop with direct I/O on it.
anchor_d() {
	local f export=$WORK/d-export
	command -v qemu-storage-daemon >/dev/null || bench_die "needs qemu-storage-daemon (Debian package qemu-system-common; make deps)"
	f=$(bench_tmpfs_file D)
	touch "$export"
	bench_bg qsd-d qemu-storage-daemon \
		--blockdev "driver=file,node-name=f,filename=$f" \
		--export "type=fuse,id=e,node-name=f,mountpoint=$export,writable=on"
	bench_on_exit "bench_unmount '$export'"
	bench_wait_for 10 mountpoint -q "$export" || bench_die "qemu-storage-daemon did not mount $export: $(tail -n 3 "$WORK/qsd-d.log")"
	bench_losetup "$export"
	ANCHOR_DEV=$LOOP_DEV
	bench_describe D "\`truncate -s 1G $f; qemu-storage-daemon --blockdev driver=file,node-name=f,filename=$f --export type=fuse,id=e,node-name=f,mountpoint=$export,writable=on\` + \`losetup --direct-io=on -f --show $export\` → $ANCHOR_DEV"
}
