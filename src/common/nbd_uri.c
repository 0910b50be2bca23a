#include "common/nbd_uri.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *after_scheme(const char *text, const char *scheme)
{
	size_t n = strlen(scheme);

	return strncasecmp(text, scheme, n) == 0 ? text + n : NULL;
}

bool nbd_uri_is_nbd(const char *text)
{
	return text && (after_scheme(text, "nbd:") || after_scheme(text, "nbds:") ||
			after_scheme(text, "nbd+unix:") || after_scheme(text, "nbds+unix:"));
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* [text, end) percent-decoded into out (cap bytes with the NUL); a NUL byte,
 * a bad escape or an overflow is -EINVAL. */
static int percent_decode(const char *text, const char *end, char *out, size_t cap)
{
	size_t n = 0;

	while (text < end) {
		int c = (unsigned char)*text++;

		if (c == '%') {
			int hi = end - text >= 2 ? hex_value(text[0]) : -1;
			int lo = hi >= 0 ? hex_value(text[1]) : -1;

			if (lo < 0)
				return -EINVAL;
			c = hi * 16 + lo;
			text += 2;
		}
		if (c == 0 || n + 1 >= cap)
			return -EINVAL;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return 0;
}

static int parse_authority(const char *text, const char *end, struct nbd_uri *out, const char **why)
{
	const char *colon = NULL;
	size_t len;

	if (memchr(text, '@', (size_t)(end - text))) {
		*why = "user names are not supported (they are for TLS)";
		return -EINVAL;
	}
	snprintf(out->port, sizeof(out->port), "%s", NBD_URI_DEFAULT_PORT);
	if (text < end && *text == '[') {
		const char *close = memchr(text, ']', (size_t)(end - text));

		if (!close) {
			*why = "an IPv6 address lacks its ']'";
			return -EINVAL;
		}
		len = (size_t)(close - text - 1);
		if (len == 0 || len >= sizeof(out->host))
			goto bad_host;
		memcpy(out->host, text + 1, len);
		out->host[len] = '\0';
		if (close + 1 < end && close[1] != ':') {
			*why = "an IPv6 address is followed by something other than :PORT";
			return -EINVAL;
		}
		colon = close + 1 < end ? close + 1 : NULL;
	} else {
		colon = memchr(text, ':', (size_t)(end - text));
		len = (size_t)((colon ? colon : end) - text);
		if (len >= sizeof(out->host))
			goto bad_host;
		memcpy(out->host, text, len);
		out->host[len] = '\0';
		if (len == 0)
			snprintf(out->host, sizeof(out->host), "localhost");
	}
	if (colon) {
		const char *p = colon + 1;
		unsigned long port = 0;

		if (p == end || end - p > 5)
			goto bad_port;
		for (; p < end; p++) {
			if (*p < '0' || *p > '9')
				goto bad_port;
			port = port * 10 + (unsigned long)(*p - '0');
		}
		if (port == 0 || port > 65535)
			goto bad_port;
		snprintf(out->port, sizeof(out->port), "%lu", port);
	}
	for (const char *h = out->host; *h; h++)
		if (strchr("/?#%", *h))
			goto bad_host;
	return 0;
bad_host:
	*why = "the host name is malformed";
	return -EINVAL;
bad_port:
	*why = "the port is not a number in 1..65535";
	return -EINVAL;
}

/* The query: socket=PATH for a unix socket, nothing else. */
static int parse_query(const char *query, struct nbd_uri *out, const char **why)
{
	bool have_socket = false;

	while (query && *query) {
		const char *amp = strchr(query, '&');
		const char *end = amp ? amp : query + strlen(query);

		if (end - query > 7 && strncmp(query, "socket=", 7) == 0 && out->unix_socket && !have_socket) {
			if (percent_decode(query + 7, end, out->socket_path, sizeof(out->socket_path)) < 0) {
				*why = "the socket path is malformed or too long";
				return -EINVAL;
			}
			have_socket = true;
		} else if (end > query) {
			*why = out->unix_socket ? "the only query parameter taken is one socket=PATH"
						: "nbd:// takes no query parameters (socket= is for nbd+unix://)";
			return -EINVAL;
		}
		query = amp ? amp + 1 : NULL;
	}
	if (out->unix_socket && !have_socket) {
		*why = "nbd+unix:// needs ?socket=PATH";
		return -EINVAL;
	}
	return 0;
}

int nbd_uri_parse(const char *text, struct nbd_uri *out, const char **why)
{
	const char *rest, *authority_end, *path_end, *query = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	*why = "not an NBD URI (nbd://HOST[:PORT]/EXPORT or nbd+unix:///EXPORT?socket=PATH)";
	if (!text)
		return -EINVAL;
	if (after_scheme(text, "nbds:") || after_scheme(text, "nbds+unix:")) {
		*why = "TLS (nbds://) is not supported yet";
		return -EPROTONOSUPPORT;
	}
	if ((rest = after_scheme(text, "nbd+unix://")))
		out->unix_socket = true;
	else if (!(rest = after_scheme(text, "nbd://")))
		return -EINVAL;
	if (strchr(rest, '#')) {
		*why = "an NBD URI has no fragment (#)";
		return -EINVAL;
	}
	authority_end = rest + strcspn(rest, "/?");
	if (out->unix_socket) {
		if (authority_end != rest) {
			*why = "nbd+unix:// takes no host (nbd+unix:///EXPORT?socket=PATH)";
			return -EINVAL;
		}
	} else {
		if (authority_end == rest) {
			*why = "nbd:// needs a host (nbd://HOST[:PORT]/EXPORT)";
			return -EINVAL;
		}
		r = parse_authority(rest, authority_end, out, why);
		if (r < 0)
			return r;
	}
	path_end = authority_end + strcspn(authority_end, "?");
	if (*path_end == '?')
		query = path_end + 1;
	/* The path is "/" and the export name: "/" alone (or nothing) is the
	 * server's default export, "". */
	if (authority_end < path_end &&
	    percent_decode(authority_end + 1, path_end, out->export_name, sizeof(out->export_name)) < 0) {
		*why = "the export name is malformed or too long";
		return -EINVAL;
	}
	return parse_query(query, out, why);
}
