/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <linux/capability.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pipecap.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

int pipecap_keep(enum pipecap *out)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = { { 0, 0, 0 } };
	const unsigned idx = CAP_SYS_RESOURCE / 32;
	const uint32_t bit = UINT32_C(1) << (CAP_SYS_RESOURCE % 32);

	*out = PIPECAP_NONE;
	if (geteuid() == 0) {
		*out = PIPECAP_ROOT;
		return 0;
	}
	if (syscall(SYS_capget, &h, d) < 0)
		return -1;
	bool have = (d[idx].permitted & bit) != 0;
	bool any = false;
	for (unsigned i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		any = any || d[i].permitted || d[i].inheritable || d[i].effective;
	if (any) {
		struct __user_cap_data_struct keep[_LINUX_CAPABILITY_U32S_3] = { { 0, 0, 0 } };
		if (have)
			keep[idx].permitted = keep[idx].effective = bit;
		/*
		 * Dropping capabilities needs no privilege, but the unit's
		 * SystemCallFilter=~@privileged refuses capset itself (EPERM):
		 * then the others stay with the daemon, and the ambient set,
		 * emptied below, is what keeps them from what it starts.
		 */
		if (syscall(SYS_capset, &h, keep) < 0 && errno != EPERM)
			return -1;
	}
	/*
	 * Ambient capabilities (systemd's AmbientCapabilities=) survive
	 * execve for an unprivileged user: emptied, no filter and no
	 * connector gets one. (An inheritable set emptied above takes the
	 * ambient set with it; this is for kernels and paths where it does
	 * not, and says so if it cannot be done.) EINVAL: a kernel without
	 * ambient capabilities, so none to inherit.
	 */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -1;
	/* what is effective now */
	if (have && syscall(SYS_capget, &h, d) == 0 && (d[idx].effective & bit))
		*out = PIPECAP_KEPT;
	return 0;
}

const char *pipecap_describe(enum pipecap c)
{
	switch (c) {
	case PIPECAP_ROOT:
		return "as root, past the kernel's per-user limit";
	case PIPECAP_KEPT:
		return "with CAP_SYS_RESOURCE, past the kernel's per-user limit (no program started gets it)";
	case PIPECAP_NONE:
		break;
	}
	return "within the user's fs.pipe-user-pages-soft, which filters' own pipes take from too (no CAP_SYS_RESOURCE)";
}
