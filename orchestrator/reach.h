/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_REACH_H
#define QP_REACH_H

#include <stdio.h>

#include "config.h"
#include "isolate.h"

/*
 * Whether what a configuration names can be used by whoever uses it,
 * before the first call finds out: the connector, which the daemon runs
 * itself, by the daemon's user (the one running this); every filter and
 * admission check, which run in the sandboxes, by the sandbox user
 * (POL: nobody when the daemon runs as root, else the daemon's user);
 * and the state directory, where the admission checks keep their state,
 * writable by that user (when STATE_DIRECTORY is set and a chain has
 * admission checks). A program that does not exist, is not executable
 * by its user, or lies beyond a directory its user cannot search is an
 * error at its place in the file (FILE:LINE:COLUMN), naming the path,
 * the directory that blocks it, its mode and owner, and what to do.
 *
 * A connector the file does not name (the default, qrexec-client-vm)
 * that does not exist is only a warning (to WARNINGS, when not NULL): a
 * build machine or a test has none.
 *
 * Returns the number of errors written to ERRF, or -1 when the checks
 * could not run (a system call failed; said on ERRF).
 */
int reach_config(const struct qp_config *cfg, const struct isolate_policy *pol, FILE *errf, FILE *warnings);

#endif
