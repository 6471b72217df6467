/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A chain as processes and pipes (see pipeline.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "pipeline.h"

size_t pipeline_hops(const struct qp_chain *ch, struct hop *hops, size_t *nup)
{
	size_t k = 0;
	for (size_t i = 0; i < ch->nfilters; i++)
		if (ch->filters[i].direction & QP_DIR_SRC2DST)
			hops[k++] = (struct hop){ &ch->filters[i], QP_DIR_SRC2DST, i + 1 };
	*nup = k;
	hops[k++] = (struct hop){ NULL, 0, 0 };
	for (size_t i = ch->nfilters; i-- > 0;)
		if (ch->filters[i].direction & QP_DIR_DST2SRC)
			hops[k++] = (struct hop){ &ch->filters[i], QP_DIR_DST2SRC, i + 1 };
	return k - 1;
}

char **pipeline_step_argv(const struct qp_step *s)
{
	char **argv = calloc(s->nargs + 2, sizeof(*argv));
	if (!argv)
		return NULL;
	argv[0] = s->name;
	for (size_t k = 0; k < s->nargs; k++)
		argv[k + 1] = s->args[k];
	return argv;
}

void pipeline_hop_tag(char *buf, size_t size, const struct hop *hp)
{
	if (!hp->step) {
		snprintf(buf, size, "connector");
		return;
	}
	snprintf(buf, size, "filter %s#%zu (%s)", hp->step->name, hp->pos,
		 hp->dir == QP_DIR_SRC2DST ? "src2dst" : "dst2src");
}

int pipeline_make_pipes(int (*pipes)[2], size_t n, int *paths)
{
	for (size_t i = 0; i < n; i++) {
		pipes[i][0] = pipes[i][1] = -1;
		if (paths)
			paths[i] = -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (pipe2(pipes[i], O_CLOEXEC) < 0) {
			int err = errno;
			pipeline_close_pipes(pipes, n);
			for (size_t k = 0; paths && k < i; k++) {
				close(paths[k]);
				paths[k] = -1;
			}
			errno = err;
			return -1;
		}
		if (!paths)
			continue;
		/* a handle on the pipe itself: no reader, no writer, so EOF and EPIPE stay as they are */
		char path[40];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", pipes[i][0]);
		paths[i] = open(path, O_PATH | O_CLOEXEC);
	}
	return 0;
}

void pipeline_close_pipes(int (*pipes)[2], size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (int e = 0; e < 2; e++)
			if (pipes[i][e] >= 0) {
				close(pipes[i][e]);
				pipes[i][e] = -1;
			}
}
