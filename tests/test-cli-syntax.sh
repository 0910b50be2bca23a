#!/usr/bin/env bash
# imdisk's command line: usage, --help/--version, and the exit codes of switches
# that are wrong before any disk is touched (13 syntax, 10 size, 3 unsupported).
# No daemon: every case here must fail before imdisk connects.
source "$(dirname "$0")/functions.sh"

# Should a case reach the daemon anyway, it fails fast (exit 4) instead of
# starting an imdiskd this test would not stop.
export IMDISK_SOCKET=/proc/imdisk-test-no-daemon/control

# --help and --version
out=$(imdisk --help) || fail "--help did not exit 0"
grep -q -- "--attach" <<<"$out" || fail "--help does not list the switches"
grep -qi "exit status" <<<"$out" || fail "--help does not list the exit codes"
imdisk --version | grep -q '^imdisk ' || fail "--version prints no version"
expect_exit 0 imdisk -a -zz --help >/dev/null # --help wins over anything else

# Wrong syntax: 13, one line on stderr, usage on stdout.
expect_error "no action" 13 imdisk
out=$(imdisk -z 2>/dev/null) && fail "-z succeeded"
grep -q "Usage:" <<<"$out" || fail "no usage shown on a syntax error"
expect_error "unknown switch -z" 13 imdisk -z
expect_error "unknown switch --bogus" 13 imdisk --bogus
expect_error "--size needs a value" 13 imdisk -a --size
expect_error "-s needs a value" 13 imdisk -a -s
expect_error "--json takes no value" 13 imdisk -l --json=1
expect_error "cannot be combined" 13 imdisk -a -d -u 0
expect_error "unexpected argument" 13 imdisk -l extra
expect_error "needs a size" 13 imdisk -a
expect_error "needs an image" 13 imdisk -a -t file
expect_error "needs an image" 13 imdisk -a -t proxy -o ip
expect_error "vm, file or proxy" 13 imdisk -a -t disk -s 1M
expect_error "unknown -o word 'bogus'" 13 imdisk -a -s 1M -o bogus
expect_error "ro and rw" 13 imdisk -a -s 1M -o ro,rw
expect_error "hd and cd" 13 imdisk -a -s 1M -o hd -o cd
expect_error "needs -t proxy" 13 imdisk -a -s 1M -o ip
expect_error "saved is for -e" 13 imdisk -a -s 1M -o saved
expect_error "512, 1024, 2048 or 4096" 13 imdisk -a -s 1M -S 1000
expect_error "-v takes a number" 13 imdisk -a -f x.img -v 0
expect_error "-u takes a number" 13 imdisk -l -u -1
expect_error "-u takes a number" 13 imdisk -l -u 1x
expect_error "loop or fuse" 13 imdisk -a -s 1M --transport nbd
expect_error "not a file system type" 13 imdisk -a -s 1M -p "../../bin/sh"
expect_error "read-only" 13 imdisk -a -f x.img -o ro -p ext4
expect_error "-v needs an image" 13 imdisk -a -s 1M -v 1
expect_error "needs -u UNIT or -m" 13 imdisk -d
expect_error "needs -u UNIT or -m" 13 imdisk -R
expect_error "either -u or -m" 13 imdisk -D -u 0 -m /mnt
expect_error "-P cannot be used with -R" 13 imdisk -R -u 0 -P
expect_error "-s cannot be used with -l" 13 imdisk -l -s 1M
expect_error "-n and --json" 13 imdisk -l -n --json
expect_error "needs -s .* or -o" 13 imdisk -e -u 0
expect_error "-o cd cannot be changed" 13 imdisk -e -u 0 -o cd

# Sizes and offsets that do not parse: 10.
expect_error "bad size '12Q'" 10 imdisk -a -s 12Q
expect_error "bad size '0%'" 10 imdisk -a -s 0%
expect_error "bad size '101%'" 10 imdisk -a -s 101%
expect_error "bad size" 10 imdisk -e -u 0 -s lots
expect_error "bad offset 'zz'" 10 imdisk -a -f x.img -b zz
expect_error "size 0" 10 imdisk -a -s 0

# --restore takes nothing but --socket.
expect_error "-s cannot be used with --restore" 13 imdisk --restore -s 1M
expect_error "bswap.*user-space transport" 13 imdisk -a -s 16M -o bswap --transport=loop
[ ! -e x.img ] || fail "a refused command created x.img"

note "all syntax cases passed"
