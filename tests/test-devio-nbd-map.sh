#!/usr/bin/env bash
# devio --nbd answers base:allocation block status truthfully: on a memory:SIZE
# disk with data written in one region, nbdinfo --map reports that region as data
# and the rest as reading as zeroes (devio reads the disk to say so; it never
# claims a hole, which the disk interface cannot tell it).  Zeroing the region
# again makes the whole disk read as zeroes.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires nbdinfo qemu-io python3

sock=$TEST_DIR/nbd.sock
uri="nbd+unix:///?socket=$sock"
start_devio_unix "$sock" --nbd memory:64M

map() { nbdinfo --map "$uri" | awk '{ print $1, $2, $3 }'; }

expect_eq "0 67108864 2" "$(map)" "map of a fresh memory disk"

qemu-io -f raw -c "write -P 0x5a 4M 1M" "$uri" >/dev/null || fail "qemu-io write failed"
expect_eq "0 4194304 2
4194304 1048576 0
5242880 61865984 2" "$(map)" "map after writing 1 MiB at 4 MiB"

# A region that is not chunk-aligned: data from 10 MiB + 100 bytes, 10 bytes.
qemu-io -f raw -c "write -P 0x11 $((10 * 1048576 + 100)) 10" "$uri" >/dev/null ||
	fail "qemu-io write failed"
expect_eq "0 4194304 2
4194304 1048576 0
5242880 5242880 2
10485760 65536 0
10551296 56557568 2" "$(map)" "map after a small write at 10 MiB"

# nbdinfo asks once per range it has not been told about: the answers add up.
total=$(nbdinfo --map --totals "$uri" | awk '$3 == 0 { print $1 }')
expect_eq "$((1048576 + 65536))" "$total" "bytes of data in the totals"

qemu-io -f raw -c "write -z 4M 1M" -c "write -z 10M 64k" "$uri" >/dev/null ||
	fail "qemu-io write -z failed"
expect_eq "0 67108864 2" "$(map)" "map after zeroing the data again"
devio_alive
stop_devio || fail "devio exited with $?"
