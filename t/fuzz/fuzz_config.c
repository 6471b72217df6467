/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer: the configuration loader on arbitrary files. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	char path[64];
	if (!devnull && !(devnull = fopen("/dev/null", "w")))
		abort();
	int fd = memfd_create("fuzz-config", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	/* filters resolve against /bin, so valid files load all the way */
	struct qp_config *cfg = config_load(path, "/bin", devnull);
	if (cfg) {
		for (size_t i = 0; i < cfg->nchains; i++) {
			const struct qp_chain *ch = &cfg->chains[i];
			if (config_chain(cfg, ch->name) == NULL)
				abort();
			struct qp_placeholders ph = { "target", "svc", "src", ch->name };
			char **argv = config_expand_connector(config_connector(cfg, ch), &ph);
			config_free_argv(argv);
		}
		/* every transparent entry leads to a chain that exists */
		for (size_t i = 0; i < cfg->ntransparent; i++)
			if (!config_chain(cfg, cfg->transparent[i].chain) || !cfg->transparent[i].target)
				abort();
		config_free(cfg);
	}
	close(fd);
	return 0;
}
