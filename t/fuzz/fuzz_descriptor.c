/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer: the service descriptor, the proxy's argument and a full service name, as a caller sends them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "descriptor.h"
#include "transparent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > QP_DESCRIPTOR_MAX)
		return 0;
	char *buf = malloc(size + 1);
	char *arg = malloc(size + 1);
	if (!buf || !arg)
		abort();
	memcpy(buf, data, size);
	buf[size] = '\0';
	memcpy(arg, buf, size + 1);

	struct qp_descriptor d;
	struct qp_call c;
	const char *why = NULL;
	if (descriptor_parse(buf, size, &d, &why) == 0) {
		/* what was accepted must hold what the parser promises */
		if (!name_qube(d.source))
			abort();
		if (argument_parse(d.argument, &c, &why) == 0) {
			if (!name_qube(c.target) || !name_valid(c.chain, NAME_SERVICE_MAX) ||
			    c.service[0] == '-' || !c.service[0])
				abort();
		}
	} else if (!why || !*why) {
		abort();
	}
	/* the executable-service mode takes the argument alone */
	why = NULL;
	if (argument_parse(arg, &c, &why) < 0 && (!why || !*why))
		abort();
	/* and, under another name, QREXEC_SERVICE_FULL_NAME */
	memcpy(arg, data, size);
	arg[size] = '\0';
	char *service, *argument;
	why = NULL;
	if (transparent_split_full_name(arg, &service, &argument, &why) == 0) {
		if (!*service || strlen(service) > NAME_SERVICE_MAX || strchr(service, '+') || strchr(service, ' '))
			abort();
	} else if (!why || !*why) {
		abort();
	}
	free(buf);
	free(arg);
	return 0;
}
