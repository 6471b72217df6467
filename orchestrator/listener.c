/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "argcheck.h"
#include "descriptor.h"
#include "connlimits.h"
#include "listener.h"
#include "log.h"
#include "logrelay.h"
#include "reload.h"
#include "spare.h"
#include "status.h"
#include "summary.h"
#include "spawn.h"
#include "supervise.h"
#include "transparent.h"
#include "util.h"

int listener_bind(const char *path)
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

/* refusal: the caller sees an immediate EOF, the log says why */
static int refuse(int fd, const char *id, const char *what, const char *why)
{
	log_msg(LOG_WARNING, "connection %s: refused: %s: %s", id, what, why);
	shutdown(fd, SHUT_RDWR);
	close(fd);
	return 1;
}

/*
 * Builds the filters' sandbox of a connection before its chain is known,
 * under the daemon's isolation, with every filter of the configuration
 * allowed to start in it: it is set up while the descriptor is read and
 * the connector starts. Where it cannot be, the connection builds its own.
 */
void serve_prepare(const struct qp_config *cfg, const struct sock_fprog *seccomp, const struct listener_opts *o,
		   struct isolate_prepared *prep)
{
	const struct isolate_policy *pol = o->isolation;
	prep->ctl = -1;
	prep->sb.pid = -1;
	prep->sb.events = -1;
	if (!cfg || !pol || pol->mech == ISOLATE_NONE)
		return;
	size_t n = 0;
	for (size_t c = 0; c < cfg->nchains; c++)
		n += cfg->chains[c].nfilters;
	if (n == 0)
		return;
	const char **programs = calloc(n, sizeof(*programs));
	if (!programs)
		return;
	size_t k = 0;
	for (size_t c = 0; c < cfg->nchains; c++)
		for (size_t i = 0; i < cfg->chains[c].nfilters; i++) {
			const char *path = cfg->chains[c].filters[i].path;
			bool seen = false;
			for (size_t j = 0; j < k && !seen; j++)
				seen = !strcmp(programs[j], path);
			if (!seen)
				programs[k++] = path;
		}
	if (isolate_prepare(pol, ISOLATE_FILTERS, programs, k, seccomp, prep) < 0)
		log_sys(LOG_DEBUG, "unable to prepare a sandbox ahead of the connection");
	free(programs);
}

int serve_connection(int fd, int limits_fd, const char *id, const struct qp_config *cfg,
		     const struct sock_fprog *seccomp, const struct listener_opts *o, int64_t start_ns)
{
	struct isolate_prepared prep;
	serve_prepare(cfg, seccomp, o, &prep);
	int rc = serve_prepared(fd, limits_fd, id, cfg, seccomp, o, &prep, NULL, start_ns);
	isolate_discard(&prep);
	return rc;
}

int serve_prepared(int fd, int limits_fd, const char *id, const struct qp_config *cfg,
		   const struct sock_fprog *seccomp, const struct listener_opts *o, struct isolate_prepared *prep,
		   struct warm *warm, int64_t start_ns)
{
	int64_t start = start_ns ? start_ns : mono_ns();
	size_t len;
	const char *why;
	struct qp_descriptor d;
	struct qp_call call;
	char *owned = NULL; /* the destination service of a transparent call */
	char *buf = malloc(QP_DESCRIPTOR_MAX + 1);

	struct log_connection lc = { .id = id };
	log_set_connection(&lc);
	if (!buf) {
		log_sys(LOG_ERR, "connection %s: out of memory", id);
		close(fd);
		return 111;
	}

	enum descriptor_status st = descriptor_read(fd, buf, QP_DESCRIPTOR_MAX + 1,
						    o->descriptor_timeout_ms, &len);
	if (st != DESC_OK) {
		int rc = refuse(fd, id, "descriptor", descriptor_strstatus(st));
		free(buf);
		return rc;
	}
	bool proxy_form = false;
	if (descriptor_parse(buf, len, &d, &why) < 0 ||
	    ((proxy_form = !strcmp(d.service_name, QP_PROXY_SERVICE)) && argument_parse(d.argument, &call, &why) < 0)) {
		int rc = refuse(fd, id, "malformed service descriptor", why);
		free(buf);
		return rc;
	}
	/*
	 * No configuration: it did not load at start (socket activation keeps
	 * the socket). The descriptor is read all the same, so the caller
	 * sees a clean EOF, and the log says who was refused.
	 */
	if (!cfg) {
		int rc = refuse(fd, id, "every call", "the configuration did not load; fix it, then reload");
		free(buf);
		return rc;
	}
	/* any other service name was redirected here by dom0: the configuration says where it goes */
	if (!proxy_form && !transparent_route(cfg, d.service_name, d.argument, d.source, &call, &owned, &why)) {
		char what[NAME_SERVICE_MAX + NAME_QUBE_MAX + 32];
		snprintf(what, sizeof(what), "call for %s from %s", d.service_name, d.source);
		int rc = refuse(fd, id, what, why);
		free(buf);
		return rc;
	}
	lc.source = d.source;
	lc.target = call.target;
	lc.service = call.service;
	lc.chain = call.chain;
	log_set_connection(&lc);

	const struct qp_chain *chain = config_chain(cfg, call.chain);
	if (!chain) {
		char what[300];
		snprintf(what, sizeof(what), "chain '%s'", call.chain);
		int rc = refuse(fd, id, what, "no such chain in the configuration");
		free(owned);
		free(buf);
		return rc;
	}
	/* where the chain may lead: checked before any admission check or filter runs */
	if (!config_chain_allows(chain, d.source, call.target, call.service, &why)) {
		char what[300];
		snprintf(what, sizeof(what), "chain '%s'", call.chain);
		int rc = refuse(fd, id, what, why);
		free(owned);
		free(buf);
		return rc;
	}
	struct qp_placeholders ph = {
		.target = call.target, .service = call.service, .source = d.source, .chain = call.chain,
	};
	char **connector = config_expand_connector(config_connector(cfg, chain), &ph);
	if (!connector) {
		log_sys(LOG_ERR, "connection %s: unable to prepare the connector", id);
		close(fd);
		free(owned);
		free(buf);
		return 111;
	}

	struct supervise_args a = {
		.chain = chain,
		.source = d.source,
		.target = call.target,
		.service = call.service,
		.conn_id = id,
		.connector = connector,
		.in_fd = fd,
		.out_fd = fd,
		.seccomp = seccomp,
		.isolation = o->isolation,
		.admit_timeout_ms = o->admit_timeout_ms,
		.idle_timeout_ms = o->idle_timeout_ms,
		.pipe_size = o->pipe_size,
		.limits_fd = limits_fd,
		.start_ns = start,
		.prepared = prep,
		.warm = warm,
	};
	struct supervise_result res;
	enum qp_result r = supervise_connection(&a, &res);
	close(fd);
	config_free_argv(connector);
	free(owned);
	free(buf);
	return r == QP_OK ? 0 : r == QP_FAILED ? 111 : 1;
}

/*
 * The listener is a subreaper too: what outlived a supervisor that died
 * (a process a filter detached, outside a PID namespace) comes here, and
 * is ended here. Supervisors are the only children it keeps.
 */
/* What a child of the listener closes and frees of it first (a spare, or a supervisor). */
struct in_child {
	int *listen_fd;
	int sigfd;
	int control;
	int relay;
	struct limits *book;
	struct pollfd **pf;
	struct limits_conn ***who;
};

static void forget_in_child(void *arg)
{
	struct in_child *f = arg;
	if (*f->listen_fd >= 0)
		close(*f->listen_fd);
	close(f->sigfd);
	if (f->control >= 0)
		close(f->control);
	close(f->relay);
	limits_forget_in_child(f->book);
	free(*f->pf);
	free(*f->who);
}

/* What the child answering a status client closes first: the sockets (it keeps its copy of the book). */
struct in_status_child {
	int *listen_fd;
	int sigfd;
	int control;
	int relay;
};

static void forget_in_status_child(void *arg)
{
	struct in_status_child *f = arg;
	if (*f->listen_fd >= 0)
		close(*f->listen_fd);
	close(f->sigfd);
	close(f->control);
	close(f->relay);
}

static void end_strays(const struct limits *book, pid_t spare)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	int pid;
	while (fscanf(f, "%d", &pid) == 1)
		if (pid > 0 && pid != spare && !limits_find(book, pid))
			kill(pid, SIGKILL);
	fclose(f);
}

static void sup_signal(const struct limits *book, int sig)
{
	for (size_t i = 0; i < book->nconns; i++)
		kill(book->conns[i]->pid, sig);
}

static void reap_supervisors(struct limits *book, struct spare *spare)
{
	bool strays = false;
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid <= 0) {
			if (pid < 0 && errno == EINTR)
				continue;
			break;
		}
		if (spare_reaped(spare, pid))
			continue; /* it took no connection: another is forked when calls pause */
		const struct limits_conn *c = limits_find(book, pid);
		if (!c)
			continue; /* a stray that was ended */
		if (WIFSIGNALED(status)) {
			/*
			 * A supervisor that died wrote no summary: the listener
			 * writes it. Its connector and sandbox died with it
			 * (PR_SET_PDEATHSIG); what else it left comes here.
			 */
			char buf[96], reason[160];
			struct log_connection lc = { .id = c->id };
			log_set_connection(&lc);
			log_msg(LOG_ERR, "supervisor %d %s", (int)pid, spawn_strstatus(status, buf, sizeof(buf)));
			snprintf(reason, sizeof(reason), "the supervisor (pid %d) %s", (int)pid, buf);
			struct summary s;
			summary_init(&s, c->id);
			s.text[SUMMARY_SOURCE] = c->source[0] ? c->source : NULL;
			s.text[SUMMARY_TARGET] = c->target[0] ? c->target : NULL;
			s.text[SUMMARY_SERVICE] = c->service[0] ? c->service : NULL;
			s.text[SUMMARY_CHAIN] = c->chain[0] ? c->chain : NULL;
			s.text[SUMMARY_RESULT] = qp_result_name(QP_FAILED);
			s.text[SUMMARY_REASON] = reason;
			s.num[SUMMARY_DURATION] = (mono_ns() - c->accepted_ns) / 1000;
			s.num[SUMMARY_SRC2DST] = (int64_t)c->bytes_src2dst;
			s.num[SUMMARY_DST2SRC] = (int64_t)c->bytes_dst2src;
			summary_log(LOG_WARNING, &s);
			log_set_connection(NULL);
			strays = true;
		}
		/* its slot, or its place in a queue, goes to the next */
		limits_remove(book, pid, mono_ms());
	}
	if (strays)
		end_strays(book, spare->pid);
}

/* The uids allowed by default: root, and the members of group qubes. */
static size_t default_peers(uid_t *out, size_t max, gid_t *qubes_gid, bool *have_qubes)
{
	size_t n = 0;
	out[n++] = 0;
	struct group *gr = getgrnam("qubes");
	*have_qubes = gr != NULL;
	if (!gr)
		return n;
	*qubes_gid = gr->gr_gid;
	for (char **m = gr->gr_mem; *m && n < max; m++) {
		struct passwd *pw = getpwnam(*m);
		if (pw)
			out[n++] = pw->pw_uid;
	}
	return n;
}

/*
 * Whether the peer on FD may call the proxy. The calling qube is known
 * only from the descriptor; the local peer must be qrexec-agent (root)
 * or its fork server (the default user, group qubes), never a process of
 * the daemon's own or of a filter.
 */
static bool peer_allowed(int fd, const struct listener_opts *o, const uid_t *allowed, size_t nallowed,
			 bool have_qubes, gid_t qubes_gid, struct ucred *cred)
{
	socklen_t len = sizeof(*cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &len) < 0) {
		log_sys(LOG_WARNING, "unable to tell who connected (SO_PEERCRED)");
		return false;
	}
	if (o->isolation && cred->uid == o->isolation->uid)
		return false;
	if (cred->uid == geteuid() && geteuid() != 0)
		return false;
	for (size_t i = 0; i < nallowed; i++)
		if (allowed[i] == cred->uid)
			return true;
	return !o->npeer_uids && have_qubes && cred->gid == qubes_gid;
}

/*
 * What systemctl status says, after start and after every reload. With no
 * configuration (it did not load at start, under socket activation), every
 * call is refused until one does.
 */
static void announce(const struct qp_config *cfg, const struct listener_opts *o, const char *state)
{
	if (cfg) {
		sd_notifyf(0, "%s\nSTATUS=serving %zu chains and %zu transparent entries from %s", state, cfg->nchains,
			   cfg->ntransparent, o->config_file);
		log_msg(LOG_NOTICE, "serving %zu chains and %zu transparent entries from %s", cfg->nchains,
			cfg->ntransparent, o->config_file);
	} else {
		sd_notifyf(0, "%s\nSTATUS=refusing every call: %s is invalid; fix it, then reload", state,
			   o->config_file);
		log_msg(LOG_ERR, "refusing every call: %s is invalid; fix it, then reload (systemctl reload qrexec-proxy, or SIGHUP)",
			o->config_file);
	}
}

/* Returns the number of chains now loaded, or RELOAD_REJECTED when the previous configuration stays. */
static int reload_config(struct qp_config **cfg, const char *file, const struct sock_fprog *seccomp,
			 const struct listener_opts *o)
{
	char *text = NULL;
	size_t size = 0;
	sd_notify(0, "RELOADING=1");
	FILE *errf = open_memstream(&text, &size);
	if (!errf) {
		log_sys(LOG_ERR, "unable to reload the configuration");
		announce(*cfg, o, "READY=1");
		return RELOAD_REJECTED;
	}
	struct qp_config *n = config_load(file, NULL, errf);
	/* every step checks its own arguments before the new file is trusted */
	if (n && o->isolation && argcheck_config(n, o->isolation, seccomp, errf, NULL) != 0) {
		config_free(n);
		n = NULL;
	}
	fclose(errf);
	if (!n) {
		char *save = NULL;
		for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			log_msg(LOG_ERR, "%s", line);
		if (*cfg)
			log_msg(LOG_ERR, "configuration not reloaded: keeping the previous one; fix %s and send SIGHUP again", file);
		else
			log_msg(LOG_ERR, "configuration not reloaded: still refusing every call; fix %s and send SIGHUP again", file);
	} else {
		config_free(*cfg);
		*cfg = n;
		log_msg(LOG_NOTICE, "configuration reloaded from %s: %zu chains, %zu transparent entries", file,
			n->nchains, n->ntransparent);
	}
	free(text);
	announce(*cfg, o, "READY=1");
	return n ? (int)n->nchains : RELOAD_REJECTED;
}

/* A new connection's admission channel: the listener's end non-blocking, both close-on-exec. */
static int make_channel(int sv[2])
{
	/* SEQPACKET: one message per send, and EOF when the supervisor is gone */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	if (fd_set_nonblock(sv[0], true) < 0) {
		int err = errno;
		close(sv[0]);
		close(sv[1]);
		errno = err;
		return -1;
	}
	return 0;
}

int listener_run(int listen_fd, struct qp_config **cfg, const struct sock_fprog *seccomp,
		 const struct listener_opts *o)
{
	struct limits book;
	struct limits_opts lo = {
		.max_connections = o->max_connections,
		.max_per_source = o->max_per_source,
		.max_queued = o->max_queued,
		.max_queued_per_source = o->max_queued_per_source,
		.queue_timeout_ms = o->queue_timeout_ms,
		.pipe_memory = o->pipe_memory,
		.pipe_size = o->pipe_size,
	};
	/* supervisors at once: those running and those waiting (each waits in its supervisor) */
	size_t max_supervisors = (size_t)o->max_connections + (size_t)o->max_queued;
	struct pollfd *pf = NULL;
	struct limits_conn **who = NULL;
	size_t pfcap = 0;
	sigset_t mask;
	int sigfd;
	bool stopping = false;
	int kill_phase = 0;
	int64_t stop_deadline = 0;
	int rc = 0;

	if (limits_init(&book, &lo) < 0)
		die_sys(111, "unable to set up the limits");
	/* a peer that goes away must be an error code, never the listener's death */
	signal(SIGPIPE, SIG_IGN);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		log_sys(LOG_WARNING, "unable to become a subreaper");
	uid_t peers[LISTENER_MAX_PEER_UIDS + 64];
	size_t npeers = 0;
	bool have_qubes = false;
	gid_t qubes_gid = 0;
	if (o->npeer_uids) {
		memcpy(peers, o->peer_uids, o->npeer_uids * sizeof(uid_t));
		npeers = o->npeer_uids;
	} else {
		npeers = default_peers(peers, sizeof(peers) / sizeof(peers[0]), &qubes_gid, &have_qubes);
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		die_sys(111, "unable to block signals");
	sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sigfd < 0)
		die_sys(111, "unable to create a signalfd");
	if (fd_set_nonblock(listen_fd, true) < 0)
		die_sys(111, "unable to make the listening socket non-blocking");
	int relay[2];
	if (logrelay_open(relay) < 0)
		die_sys(111, "unable to create the supervisors' log relay");
	log_set_relay(relay[1]);

	int control = -1;
	if (o->control_path) {
		control = status_bind(o->control_path);
		if (control < 0)
			log_sys(LOG_WARNING, "unable to bind the control socket %s: qrexec-proxy status will not answer",
				o->control_path);
	}
	struct in_status_child status_forget = { &listen_fd, sigfd, control, relay[0] };
	struct spare spare = { .pid = -1, .ctl = -1, .chan = -1 };
	int64_t spare_due = 0; /* when to fork the next spare (0: not due) */
	/* what a spare must not keep of the listener: the sockets, the book, the other connections' channels */
	struct in_child forget = { &listen_fd, sigfd, control, relay[0], &book, &pf, &who };
	if (o->spare && *cfg && spare_start(&spare, *cfg, seccomp, o, book.last_chain, forget_in_child, &forget) < 0)
		log_sys(LOG_WARNING, "unable to fork a spare supervisor");

	announce(*cfg, o, "READY=1");

	for (;;) {
		if (stopping && book.nconns == 0)
			break;
		if (pfcap < book.nconns + 4) {
			size_t cap = (book.nconns + 4) * 2;
			struct pollfd *npf = realloc(pf, cap * sizeof(*npf));
			if (npf)
				pf = npf;
			struct limits_conn **nwho = realloc(who, cap * sizeof(*nwho));
			if (nwho)
				who = nwho;
			if (!npf || !nwho)
				die_sys(111, "unable to grow the connection table");
			pfcap = cap;
		}
		nfds_t n = 0;
		pf[n++] = (struct pollfd){ .fd = sigfd, .events = POLLIN };
		/*
		 * At the limit of supervisors (running and waiting), connections
		 * wait in the backlog instead of being refused (tcpserver -c).
		 */
		bool accepting = !stopping && book.nconns < max_supervisors;
		pf[n++] = (struct pollfd){ .fd = accepting ? listen_fd : -1, .events = POLLIN };
		for (size_t i = 0; i < book.nconns; i++) {
			if (book.conns[i]->chan < 0)
				continue;
			who[n] = book.conns[i];
			pf[n++] = (struct pollfd){ .fd = book.conns[i]->chan, .events = POLLIN };
		}
		nfds_t nchan = n; /* pf[2..nchan): the supervisors' channels */
		nfds_t icontrol = n;
		if (control >= 0)
			pf[n++] = (struct pollfd){ .fd = control, .events = POLLIN };
		nfds_t irelay = n;
		pf[n++] = (struct pollfd){ .fd = relay[0], .events = POLLIN };
		int timeout = limits_expire(&book, mono_ms());
		int64_t until = stopping ? stop_deadline : spare_due;
		/* due, but waiting for a connection to name its chain: its message wakes us, or this */
		if (!stopping && spare_due && mono_ms() >= spare_due && limits_any_new(&book))
			until = spare_due + SPARE_HINT_WAIT_MS;
		if (until) {
			int64_t left = until - mono_ms();
			int t = left > 0 ? (int)left : 0;
			if (timeout < 0 || t < timeout)
				timeout = t;
		}
		int r = poll(pf, n, timeout);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die_sys(111, "unable to poll");
		}
		if (stopping && mono_ms() >= stop_deadline) {
			/* grace over: SIGTERM makes supervisors abort; if even that hangs, SIGKILL */
			if (kill_phase == 0) {
				log_msg(LOG_WARNING, "grace period over: ending %zu running connections", book.nconns);
				sup_signal(&book, SIGTERM);
			} else {
				log_msg(LOG_ERR, "%zu supervisors did not end: killing them", book.nconns);
				sup_signal(&book, SIGKILL);
			}
			kill_phase++;
			stop_deadline = mono_ms() + 5000;
		}
		/* before the endings of supervisors are reaped: their messages come first */
		if (pf[irelay].revents & POLLIN)
			logrelay_drain(relay[0]);
		/* what supervisors said, before any of them is reaped (and forgotten) below */
		for (nfds_t i = 2; i < nchan; i++)
			if (pf[i].revents)
				limits_on_readable(&book, who[i], mono_ms());
		/*
		 * The next spare is forked once no connection has arrived for a
		 * moment, or as soon as none is being set up or running: forked
		 * at once, it would take the CPU from the connection just handed
		 * over, whose set-up it is meant to spare. After a moment, it
		 * still waits a little for the connections that have not asked
		 * for a slot yet: the chain of the last to ask is the one it
		 * starts ahead (warm.h).
		 */
		int64_t now = mono_ms();
		if (!stopping && spare_due && !(pf[1].revents & POLLIN) &&
		    (!limits_busy(&book) ||
		     (now >= spare_due && (!limits_any_new(&book) || now >= spare_due + SPARE_HINT_WAIT_MS)))) {
			spare_due = 0;
			if (spare.pid < 0 && *cfg && spare_start(&spare, *cfg, seccomp, o, book.last_chain, forget_in_child, &forget) < 0)
				log_sys(LOG_WARNING, "unable to fork a spare supervisor");
		}
		if (control >= 0 && (pf[icontrol].revents & POLLIN))
			status_serve(control, &book, forget_in_status_child, &status_forget);
		if (pf[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				switch (si.ssi_signo) {
				case SIGCHLD:
					break;
				case SIGHUP:
					if (!stopping) {
						const struct qp_config *before = *cfg;
						int verdict = reload_config(cfg, o->config_file, seccomp, o);
						if (reload_wants_verdict(&si))
							reload_send_verdict(&si, verdict);
						/* the spare holds the configuration it was forked with */
						if (*cfg != before && (spare.pid > 0 || (!before && o->spare))) {
							spare_drop(&spare);
							spare_due = mono_ms();
						}
					} else if (reload_wants_verdict(&si)) {
						reload_send_verdict(&si, RELOAD_REJECTED);
					}
					break;
				default:
					if (!stopping) {
						stopping = true;
						stop_deadline = mono_ms() + o->grace_ms;
						sd_notify(0, "STOPPING=1");
						log_msg(LOG_NOTICE, "stopping: no new connections; waiting for %zu running ones",
							book.nconns);
						close(listen_fd);
						listen_fd = -1;
						spare_drop(&spare);
					} else {
						log_msg(LOG_NOTICE, "second signal: ending %zu running connections", book.nconns);
						sup_signal(&book, SIGTERM);
						kill_phase = 1;
						stop_deadline = mono_ms() + 5000;
					}
					break;
				}
			}
			reap_supervisors(&book, &spare);
		}
		if (accepting && listen_fd >= 0 && (pf[1].revents & POLLIN)) {
			int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd < 0) {
				if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
					log_sys(LOG_ERR, "unable to accept a connection");
				/* EMFILE and friends: back off instead of spinning */
				if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
					poll(NULL, 0, 100);
				continue;
			}
			char id[17];
			make_connection_id(id);
			struct ucred cred;
			if (!peer_allowed(fd, o, peers, npeers, have_qubes, qubes_gid, &cred)) {
				log_msg(LOG_WARNING, "connection %s: refused: the peer (uid %u, gid %u, pid %d) is not qrexec-agent: only root%s may call the proxy (serve --allow-peer-uid)",
					id, (unsigned)cred.uid, (unsigned)cred.gid, (int)cred.pid,
					have_qubes ? " and group qubes" : "");
				close(fd);
				continue;
			}
			int64_t start = mono_ns();
			/* the spare, forked and set up ahead, takes it; else a supervisor is forked now */
			int chan0 = -1;
			pid_t pid = spare_take(&spare, fd, id, start, &chan0);
			if (pid > 0) {
				close(fd);
				if (!limits_add(&book, id, pid, chan0, start)) {
					log_msg(LOG_ERR, "connection %s: out of memory for the connection table", id);
					close(chan0);
					kill(pid, SIGKILL);
				}
				spare_due = mono_ms() + SPARE_IDLE_MS;
				continue;
			}
			int chan[2];
			if (make_channel(chan) < 0) {
				log_sys(LOG_ERR, "connection %s: unable to create its admission channel", id);
				close(fd);
				poll(NULL, 0, 100);
				continue;
			}
			pid = fork();
			if (pid < 0) {
				log_sys(LOG_ERR, "unable to fork a supervisor");
				close(fd);
				close(chan[0]);
				close(chan[1]);
				poll(NULL, 0, 100);
				continue;
			}
			if (pid == 0) {
				/* nothing of the other connections: not their channels, not the book */
				close(listen_fd);
				close(sigfd);
				close(chan[0]);
				if (control >= 0)
					close(control);
				close(relay[0]);
				if (spare.ctl >= 0)
					close(spare.ctl);
				if (spare.chan >= 0)
					close(spare.chan);
				limits_forget_in_child(&book);
				free(pf);
				free(who);
				int code = serve_connection(fd, chan[1], id, *cfg, seccomp, o, start);
				config_free(*cfg);
				exit(code);
			}
			close(fd);
			close(chan[1]);
			if (!limits_add(&book, id, pid, chan[0], start)) {
				/* without a place in the book it can never be admitted: end it now */
				log_msg(LOG_ERR, "connection %s: out of memory for the connection table", id);
				close(chan[0]);
				kill(pid, SIGKILL);
			}
			if (o->spare)
				spare_due = mono_ms() + SPARE_IDLE_MS;
		}
	}
	spare_drop(&spare);
	if (control >= 0) {
		close(control);
		unlink(o->control_path);
	}
	/* what the last supervisors said before they ended */
	logrelay_drain(relay[0]);
	log_set_relay(-1);
	close(relay[0]);
	close(relay[1]);
	close(sigfd);
	if (listen_fd >= 0)
		close(listen_fd);
	limits_free(&book);
	free(pf);
	free(who);
	log_msg(LOG_NOTICE, "stopped");
	return rc;
}
