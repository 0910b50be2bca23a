#!/usr/bin/env bash
# devio shm:NAME serves through POSIX shared memory (docs/imdproxy-shm.md): the
# section, the _Request/_Response semaphores and the server lock; sessions follow
# one another; a second server is refused; a dead server is seen within a second;
# a new server takes over what a dead one left; a clean stop removes everything.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"

name=imdisk-test-$$-$RANDOM
new_image random $((2 << 20))
on_cleanup "rm -f /dev/shm/$name /dev/shm/sem.${name}_Request /dev/shm/sem.${name}_Response"

start_devio_shm "$name" "$img" 0 0 1 1M
[ "$(stat -c %s "/dev/shm/$name")" = $((1048576 + 4096)) ] || fail "section size is not buffer + 4096"

random_file "$TEST_DIR/w" $((1 << 20))
expect_output "info size=2097152 alignment=1 flags=0x6
alive
write errorno=0 length=1048576
read errorno=0 length=1048576
unmap errorno=0
read errorno=0 length=4096
request errorno=19
info size=2097152 alignment=1 flags=0x6
close" probe --shm "$name" info alive write 65536 "$TEST_DIR/w" read 65536 $((1 << 20)) "$TEST_DIR/r" \
	unmap 65536:4096 read 65536 4096 "$TEST_DIR/z" request 42 info close
cmp "$TEST_DIR/w" "$TEST_DIR/r" || fail "data differs through shared memory"
cmp "$TEST_DIR/z" <(head -c 4096 /dev/zero) || fail "UNMAP through shared memory"
# (less the first 4 KiB, unmapped since)
cmp <(tail -c +4097 "$TEST_DIR/w") <(dd if="$img" bs=4K skip=17 count=255 status=none) ||
	fail "WRITE not in the image"

# The next session, after CLOSE; out-of-range requests get errors, not a hang.
expect_output "info size=2097152 alignment=1 flags=0x6
read errorno=22 length=0
close" probe --shm "$name" info read $((2 << 20)) 512 - close

# One client at a time: the second waits for the first, here until it is killed.
"$PROBE" --shm "$name" info sleep 30000 >/dev/null 2>&1 &
first=$!
sleep 0.3
"$PROBE" --timeout 20 --shm "$name" info close >"$TEST_DIR/second.out" 2>&1 &
second=$!
sleep 0.5
[ ! -s "$TEST_DIR/second.out" ] || fail "two clients at once: $(cat "$TEST_DIR/second.out")"
kill -KILL $first; wait $first 2>/dev/null || true
wait $second || fail "the second client: $(cat "$TEST_DIR/second.out")"
[ "$(cat "$TEST_DIR/second.out")" = "info size=2097152 alignment=1 flags=0x6
close" ] || fail "the second client: $(cat "$TEST_DIR/second.out")"

# One server per name.
expect_error "already served" 1 "$DEVIO" "shm:$name" "$img"

# A server that dies while a client waits for its answer is seen as dead within
# a second or two (the server lock), not after the client's timeout.
kill -STOP "$DEVIO_PID"
"$PROBE" --timeout 30 --shm "$name" info >"$TEST_DIR/waiting.out" 2>&1 &
waiting=$!
sleep 0.5
stop_devio KILL || true
start=$SECONDS
rc=0
wait $waiting || rc=$?
[ $rc = 3 ] && [ "$(cat "$TEST_DIR/waiting.out")" = eof ] ||
	fail "a client of a dead server: exit $rc, $(cat "$TEST_DIR/waiting.out")"
[ $((SECONDS - start)) -le 2 ] || fail "a dead server took $((SECONDS - start)) s to notice"
# And a new client is told at once.
expect_error "no server" 1 "$PROBE" --shm "$name" info

# A new server takes the name over from the dead one.
start_devio_shm "$name" "$img" 0 0 1 1M
expect_output "info size=2097152 alignment=1 flags=0x6
close" probe --shm "$name" info close

# A clean stop removes the section and the semaphores.
stop_devio || fail "devio exited with $?"
for f in "/dev/shm/$name" "/dev/shm/sem.${name}_Request" "/dev/shm/sem.${name}_Response"; do
	[ ! -e "$f" ] || fail "$f left behind"
done
