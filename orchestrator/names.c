/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The names qrexec lets through (see names.h). */
#include <string.h>

#include "names.h"

bool name_char(char ch)
{
	unsigned char c = (unsigned char)ch;
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == '-' || c == '.';
}

bool name_valid(const char *s, size_t max)
{
	if (!s)
		return false;
	size_t len = strnlen(s, max + 1);
	if (len == 0 || len > max || s[0] == '-' || s[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!name_char(s[i]))
			return false;
	return true;
}

bool name_qube(const char *s)
{
	return s && ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')) && name_valid(s, NAME_QUBE_MAX);
}

bool name_service_pattern(const char *s)
{
	size_t n = strlen(s);
	if (n > 0 && s[n - 1] == '*')
		n--;
	if (n == 0 || n > 65000 || s[0] == '+' || s[0] == '-' || s[0] == '.')
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-+") == n;
}

bool name_argument(const char *arg)
{
	size_t n = 0;
	for (const char *p = arg; *p; p++, n++)
		if (!name_char(*p) && *p != '+')
			return false;
	return n <= NAME_ARGUMENT_MAX;
}
