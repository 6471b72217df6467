/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * uppercase: an example filter built on the kit that changes the data.
 * It copies stdin to stdout with every ASCII lower-case letter made upper
 * case; the length never changes, and every other byte passes as it is.
 * It takes no arguments, so its check mode only says "no arguments".
 *
 *	cc -o uppercase uppercase.c $(pkg-config --cflags --libs qrexec-proxy-filter)
 *	echo 'hello' | ./uppercase	# HELLO
 *
 * In a chain (qrexec-proxy.yaml(5)), one way only:
 *
 *	filters:
 *	  - name: /usr/local/lib/qrexec-proxy/uppercase
 *	    direction: dst2src
 */
#include <errno.h>
#include <unistd.h>

#include <qrexec-proxy/qpf.h>

/* main() calls qpf_init() first: the proxy may start it ahead of its call */
QPF_PRESTART;

int main(int argc, char **argv)
{
	static char buf[65536];

	qpf_init(argv[0]);
	if (argc != 1)
		qpf_usage("no arguments expected, got %s", argv[1]);
	qpf_lockdown(NULL); /* exits 0 here in check mode */
	for (;;) {
		ssize_t n = read(0, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			qpf_die_sys(111, "unable to read");
		if (n == 0) {
			qpf_done();
			close(1); /* EOF for the next hop now, not at exit */
			return 0;
		}
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] >= 'a' && buf[i] <= 'z')
				buf[i] = (char)(buf[i] - 'a' + 'A');
		if (qpf_write_all(1, buf, (size_t)n) < 0)
			qpf_die_sys(111, "unable to write");
	}
}
