#!/usr/bin/env bash
# Where devio's TCP listener is reachable: by default on both loopback addresses
# (127.0.0.1 and ::1, one port); --listen :: on IPv6 and IPv4; --listen
# 127.0.0.1 on that address only.  Port 0 picks a free port (--port-file).
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"

new_image sparse 1M
INFO="info size=1048576 alignment=1 flags=0x6"
have_ipv6() { python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; }

start_devio_tcp "$img"
[ "$DEVIO_PORT" -gt 0 ] || fail "no port in the port file"
grep -q "listening on 127.0.0.1 and ::1 port $DEVIO_PORT" "$DEVIO_LOG" || fail "the port is not logged"
expect_output "$INFO" probe $DEVIO_AT info
if have_ipv6; then
	expect_output "$INFO" probe --tcp "[::1]:$DEVIO_PORT" info
fi
stop_devio || fail "devio exited with $?"

if have_ipv6; then
	start_devio_tcp --listen :: "$img"
	expect_output "$INFO" probe --tcp "[::1]:$DEVIO_PORT" info
	expect_output "$INFO" probe $DEVIO_AT info
	stop_devio || fail "devio exited with $?"
fi

start_devio_tcp --listen 127.0.0.1 "$img"
expect_output "$INFO" probe $DEVIO_AT info
if have_ipv6; then
	expect_exit 1 "$PROBE" --tcp "[::1]:$DEVIO_PORT" info 2>/dev/null
fi
stop_devio || fail "devio exited with $?"

expect_error "cannot listen on 192.0.2.1" 1 "$DEVIO" --listen 192.0.2.1 0 "$img"
