/* The progress bar: one line on stderr, redrawn in place with '\r'. */
#include "cli/progress.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/size.h"

#define REDRAW_INTERVAL_NS 100000000ull /* 0.1 s: smooth without flooding a slow terminal */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void append(char *buf, unsigned size, unsigned *len, const char *text)
{
	size_t n = strlen(text);

	if (*len + 1 >= size)
		return;
	if (n > size - 1 - *len)
		n = size - 1 - *len;
	memcpy(buf + *len, text, n);
	*len += (unsigned)n;
	buf[*len] = '\0';
}

void progress_format(char *buf, unsigned size, const char *what, uint64_t done, uint64_t total,
		     uint64_t elapsed_ns)
{
	char part[64];
	unsigned len = 0;

	if (size == 0)
		return;
	buf[0] = '\0';
	append(buf, size, &len, what);
	append(buf, size, &len, ": ");
	size_format(done, part, sizeof(part));
	append(buf, size, &len, part);
	if (total > 0) {
		append(buf, size, &len, " / ");
		size_format(total, part, sizeof(part));
		append(buf, size, &len, part);
		snprintf(part, sizeof(part), "  %3u%%",
			 (unsigned)(done >= total ? 100 : (done * 100.0) / (double)total));
		append(buf, size, &len, part);
	}
	if (elapsed_ns > 0 && done > 0) {
		double seconds = (double)elapsed_ns / 1e9;
		uint64_t rate = (uint64_t)((double)done / seconds);

		append(buf, size, &len, "  ");
		size_format(rate, part, sizeof(part));
		append(buf, size, &len, part);
		append(buf, size, &len, "/s");
		if (total > done && rate > 0) {
			uint64_t left = (total - done) / rate;

			snprintf(part, sizeof(part), "  %llu:%02llu left", (unsigned long long)(left / 60),
				 (unsigned long long)(left % 60));
			append(buf, size, &len, part);
		}
	}
}

static void draw(struct progress *p, const char *suffix)
{
	char line[160];
	unsigned width;

	progress_format(line, sizeof(line), p->what, p->done, p->total, now_ns() - p->started_ns);
	width = (unsigned)strlen(line) + (unsigned)strlen(suffix);
	fprintf(p->out, "\r%s%s", line, suffix);
	/* Blank what a longer previous line left on the right. */
	for (unsigned i = width; i < p->width; i++)
		fputc(' ', p->out);
	p->width = width;
	fflush(p->out);
}

void progress_start(struct progress *p, enum progress_mode mode, const char *what, uint64_t total)
{
	memset(p, 0, sizeof(*p));
	if (mode == PROGRESS_ON || (mode == PROGRESS_AUTO && isatty(STDERR_FILENO)))
		p->out = stderr;
	snprintf(p->what, sizeof(p->what), "%s", what);
	p->total = total;
	p->started_ns = now_ns();
}

void progress_update(struct progress *p, uint64_t done)
{
	uint64_t now;

	p->done = done;
	if (!p->out)
		return;
	now = now_ns();
	if (now - p->drawn_ns < REDRAW_INTERVAL_NS)
		return;
	p->drawn_ns = now;
	draw(p, "");
}

void progress_finish(struct progress *p, bool ok)
{
	if (!p->out)
		return;
	draw(p, ok ? "  done" : "  failed");
	fputc('\n', p->out);
	fflush(p->out);
	p->out = NULL;
}
