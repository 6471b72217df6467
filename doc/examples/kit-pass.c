/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The smallest filter built on the installed kit: a confined copy. */
#include <unistd.h>
#include <qrexec-proxy/qpf.h>
int main(int argc, char **argv)
{
	qpf_init(argv[0]);
	if (argc != 1)
		qpf_usage("no arguments expected");
	qpf_lockdown(NULL);
	struct qpf_copy c = QPF_COPY_INIT;
	if (qpf_copy(0, 1, &c) < 0)
		qpf_die_sys(111, "unable to copy");
	qpf_done();
	close(1); /* EOF for the next hop now, not at exit */
	return 0;
}
