#!/usr/bin/env bash
# Malformed NBD URIs get one clear line and the documented exit code (imdisk(8)):
# 13 for a URI that does not parse, 3 for TLS (nbds://, not supported yet), 7 for
# a server that cannot be reached; no disk is left behind.
source "$(dirname "$0")/functions.sh"
requires_root
start_daemon

bad() { # PATTERN URI: exit 13 with a message naming the URI's problem.
	expect_error "$1" 13 "$IMDISK" -a -f "$2"
	expect_error "$1" 13 "$IMDISK" -a -t proxy -o nbd -f "$2"
}
bad 'nbd://: nbd:// needs a host' 'nbd://'
bad 'needs a host' 'nbd:///export'
bad 'port is not a number in 1\.\.65535' 'nbd://localhost:0/'
bad 'port is not a number' 'nbd://localhost:65536/'
bad 'port is not a number' 'nbd://localhost:10x/'
bad 'port is not a number' 'nbd://localhost:/'
bad "IPv6 address lacks its '\]'" 'nbd://[::1/'
bad 'user names are not supported' 'nbd://me@localhost/'
bad 'export name is malformed' 'nbd://localhost/a%zz'
bad 'export name is malformed' 'nbd://localhost/a%00b'
bad 'no fragment' 'nbd://localhost/x#y'
bad 'takes no query parameters' 'nbd://localhost/x?socket=/tmp/s'
bad 'takes no query parameters' 'nbd://localhost/x?tls-psk-file=/k'
bad 'needs \?socket=PATH' 'nbd+unix:///export'
bad 'takes no host' 'nbd+unix://localhost/?socket=/tmp/s'
bad 'only query parameter taken is one socket=PATH' 'nbd+unix:///?socket=/a&socket=/b'
bad 'only query parameter taken is one socket=PATH' 'nbd+unix:///?socket=/a&tls=on'
bad 'not an NBD URI' 'nbd:localhost'

# TLS: recognised, refused as not supported yet (exit 3).
expect_error 'TLS \(nbds://\) is not supported yet' 3 "$IMDISK" -a -f 'nbds://localhost/x'
expect_error 'TLS \(nbds://\) is not supported yet' 3 "$IMDISK" -a -f 'nbds+unix:///?socket=/tmp/s'

# -o nbd needs an NBD URI, and -o ip does not go with one.
expect_error "-o nbd takes an NBD URI" 13 "$IMDISK" -a -t proxy -o nbd -f "$TEST_DIR/some.sock"
expect_error "-o nbd needs -t proxy" 13 "$IMDISK" -a -t file -o nbd -f 'nbd://localhost/'
expect_error "-o ip cannot be used with an NBD URI" 13 "$IMDISK" -a -t proxy -o ip -f 'nbd://localhost/'

# A well-formed URI whose server is not there: exit 7, naming it.
expect_error "cannot connect to NBD server $TEST_DIR/none.sock" 7 "$IMDISK" -a -f "nbd+unix:///?socket=$TEST_DIR/none.sock"
# A socket that answers but speaks no NBD: the daemon's handshake fails within
# its timeout (exit 3), naming the server.
python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(4)
c, _ = s.accept(); c.sendall(b"this is no NBD server\n" * 4); time.sleep(30)' "$TEST_DIR/junk.sock" &
junk=$!
on_cleanup "kill -KILL $junk 2>/dev/null; wait $junk 2>/dev/null"
for _ in $(seq 100); do [ -S "$TEST_DIR/junk.sock" ] && break; sleep 0.05; done
expect_error "NBD server nbd\+unix:///\?socket=$TEST_DIR/junk.sock refused the handshake \\(or speaks no NBD\\)" 3 \
	"$IMDISK" -a -f "nbd+unix:///?socket=$TEST_DIR/junk.sock"

expect_eq "" "$("$IMDISK" -l --json | python3 -c 'import json, sys; d = json.load(sys.stdin); print(" ".join(str(x["unit"]) for x in (d if isinstance(d, list) else d.get("disks", []))))')" "disks left behind"
echo "ok"
