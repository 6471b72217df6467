/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Binding the daemon's UNIX sockets (see unixsock.h). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "unixsock.h"

int unixsock_bind(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		log_sys(LOG_ERR, "socket path %s", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_sys(LOG_ERR, "unable to create a socket");
		return -1;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_msg(LOG_ERR, "%s exists and is not a socket; remove it or choose another --socket", path);
			goto fail;
		}
		/* a socket nobody listens on is a leftover of a crashed daemon */
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			log_msg(LOG_ERR, "%s: another process is already listening there", path);
			goto fail;
		}
		if (errno != ECONNREFUSED) {
			log_sys(LOG_ERR, "%s: unable to tell whether the socket is stale", path);
			goto fail;
		}
		close(fd);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			log_sys(LOG_ERR, "unable to create a socket");
			return -1;
		}
		if (unlink(path) < 0 && errno != ENOENT) {
			log_sys(LOG_ERR, "unable to remove the stale socket %s", path);
			goto fail;
		}
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		log_sys(LOG_ERR, "unable to bind %s", path);
		goto fail;
	}
	/* qrexec-agent connects as root or as the default user (group qubes) */
	if (chmod(path, 0660) < 0) {
		log_sys(LOG_ERR, "unable to set the mode of %s", path);
		goto fail;
	}
	if (listen(fd, SOMAXCONN) < 0) {
		log_sys(LOG_ERR, "unable to listen on %s", path);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}
