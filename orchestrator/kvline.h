/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_KVLINE_H
#define QP_KVLINE_H

#include <stddef.h>
#include <stdint.h>

/* how much of a caller-controlled value (the service's argument) a log line carries */
#define KVLINE_FIELD_MAX 256

/*
 * Appends " KEY=VALUE" (no space when *OFF is 0) to BUF at *OFF. VALUE is
 * cut after MAX bytes, with a marker saying how much was left out
 * ("...[+N bytes]"), and written bare only when it holds nothing but
 * printable ASCII other than space, '"', '\' and '='; otherwise in double
 * quotes with '"' and '\' escaped by a backslash and every other byte
 * outside printable ASCII as \xNN. So a line of these pairs parses back
 * unambiguously, and nothing a caller sends can end it or forge a pair.
 * Never writes past SIZE; a pair that does not fit is left out whole.
 */
void kvline_add(char *buf, size_t size, size_t *off, const char *key, const char *value, size_t max);

/* the same for a number */
void kvline_add_u64(char *buf, size_t size, size_t *off, const char *key, uint64_t value);

/* VALUE cut and escaped as kvline_add does, without a key, for a journal field or a log prefix */
const char *kvline_bounded(char *buf, size_t size, const char *value, size_t max);

/*
 * VALUE as a journal field of its own carries it: cut after MAX bytes with
 * the same marker, every byte outside printable ASCII as \xNN (a field
 * holds no newline, nothing a terminal acts on), and nothing else escaped
 * or quoted, so that `journalctl QP_REASON="..."` matches the value as
 * the line shows it unquoted.
 */
const char *kvline_field(char *buf, size_t size, const char *value, size_t max);

#endif
