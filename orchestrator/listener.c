/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The listener (see listener.h): one poll loop over its signals, the
 * listening socket, the supervisors' admission channels, the control
 * socket and the log relay. What each wakes it for is a function here:
 * listener_on_signals, listener_accept, listener_spare_due,
 * listener_stop_due. It gives up nothing at start: it is the daemon; what
 * its children must not keep of it is listed once (serve_forget_*).
 */
#include <errno.h>
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
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "argcheck.h"
#include "connlimits.h"
#include "control.h"
#include "end.h"
#include "listener.h"
#include "log.h"
#include "logrelay.h"
#include "reload.h"
#include "spare.h"
#include "spawn.h"
#include "summary.h"
#include "supervise.h"
#include "util.h"

struct listener {
	const struct listener_opts *o;
	struct qp_config **cfg;
	const struct sock_fprog *seccomp;
	struct serve_ctx ctx;     /* what supervisors are forked with (ctx.cfg follows *cfg) */
	struct limits book;
	int listen_fd;
	int sigfd;
	struct control ctl;
	int relay[2];
	struct spare spare;
	int64_t spare_due;        /* when to fork the next spare (0: not due) */
	bool stopping;
	int kill_phase;
	int64_t stop_deadline;
	size_t max_supervisors;   /* running and waiting (each waits in its supervisor) */
	/* the poll set: pf[i] is who[i]'s channel from IRELAY on; sized for the book */
	struct pollfd *pf;
	struct limits_conn **who;
	size_t pfcap;
	nfds_t nchan, icontrol, ncontrol, irelay, ispare, npf;
	/* who may connect */
	uid_t peers[LISTENER_MAX_PEER_UIDS + 64];
	size_t npeers;
	bool have_qubes;
	gid_t qubes_gid;
	int64_t peers_read_ms;    /* when group qubes was last read */
};

/* ---- supervisors that ended ---- */

/* What outlived a supervisor that died (a process a filter detached, outside a PID namespace) ends here. */
static void end_strays(const struct limits *book, pid_t spare, const struct control *ctl)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	int pid;
	while (fscanf(f, "%d", &pid) == 1)
		if (pid > 0 && pid != spare && !limits_find(book, pid) && !control_answering(ctl, pid))
			kill(pid, SIGKILL);
	fclose(f);
}

static void sup_signal(const struct limits *book, int sig)
{
	for (size_t i = 0; i < book->nconns; i++)
		kill(book->conns[i]->pid, sig);
}

/*
 * A supervisor that died wrote no summary: the listener writes it, from
 * what the book knows. Its connector and sandbox died with it
 * (PR_SET_PDEATHSIG); what else it left comes here.
 */
static void summary_of_dead(const struct limits_conn *c, pid_t pid, int status)
{
	char buf[96], reason[160];
	struct log_connection lc = { .id = c->id };
	log_set_connection(&lc);
	log_msg(LOG_ERR, "supervisor %d %s", (int)pid, spawn_strstatus(status, buf, sizeof(buf)));
	snprintf(reason, sizeof(reason), "the supervisor (pid %d) %s", (int)pid, buf);
	struct summary s;
	end_book_summary(&s, c, qp_result_name(QP_FAILED), reason);
	summary_log(LOG_WARNING, &s);
	log_set_connection(NULL);
}

/* The listener is a subreaper too; supervisors are the only children it keeps. */
static void reap_supervisors(struct listener *L)
{
	bool strays = false;
	int status;
	pid_t pid;
	while ((pid = reap_any(&status)) > 0) {
		if (spare_reaped(&L->spare, pid))
			continue; /* it took no connection: another is forked when calls pause */
		if (control_reaped(&L->ctl, pid))
			continue;
		const struct limits_conn *c = limits_find(&L->book, pid);
		if (!c)
			continue; /* a stray that was ended */
		if (WIFSIGNALED(status)) {
			/* one the listener ended has its summary from end.c */
			if (!end_summary(c, status))
				summary_of_dead(c, pid, status);
			strays = true;
		}
		/* its slot, or its place in a queue, goes to the next */
		limits_remove(&L->book, pid, mono_ms());
	}
	if (strays)
		end_strays(&L->book, L->spare.pid, &L->ctl);
}

/* ---- who may connect ---- */

/*
 * The uids allowed by default: root, and the members of group qubes.
 * Read at start, again on every reload, and again before a peer would be
 * refused (at most once a second): a user added to the group is served
 * from its first call on, and one removed from it is refused from the
 * next reload on.
 */
#define PEERS_REREAD_MS 1000

static void default_peers(struct listener *L)
{
	size_t max = sizeof(L->peers) / sizeof(L->peers[0]);
	L->peers_read_ms = mono_ms();
	L->npeers = 0;
	L->peers[L->npeers++] = 0;
	struct group *gr = getgrnam("qubes");
	L->have_qubes = gr != NULL;
	if (!gr)
		return;
	L->qubes_gid = gr->gr_gid;
	for (char **m = gr->gr_mem; *m && L->npeers < max; m++) {
		struct passwd *pw = getpwnam(*m);
		if (pw)
			L->peers[L->npeers++] = pw->pw_uid;
	}
}

/*
 * Whether the peer on FD may call the proxy. The calling qube is known
 * only from the descriptor; the local peer must be qrexec-agent (root)
 * or its fork server (the default user, group qubes), never a process of
 * the daemon's own or of a filter. When it may not, WHY (SIZE bytes) says
 * which rule refused which uid.
 */
static bool peer_allowed_now(const struct listener *L, const struct ucred *cred, char *why, size_t size);

static bool peer_allowed(struct listener *L, int fd, struct ucred *cred, char *why, size_t size)
{
	const struct listener_opts *o = L->o;
	socklen_t len = sizeof(*cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &len) < 0) {
		int err = errno;
		log_sys(LOG_WARNING, "unable to tell who connected (SO_PEERCRED)");
		*cred = (struct ucred){ .pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1 };
		snprintf(why, size, "the peer could not be told (SO_PEERCRED: %s)", strerror(err));
		return false;
	}
	if (peer_allowed_now(L, cred, why, size))
		return true;
	/* group qubes may have a new member since it was read */
	if (o->npeer_uids || mono_ms() - L->peers_read_ms < PEERS_REREAD_MS)
		return false;
	default_peers(L);
	return peer_allowed_now(L, cred, why, size);
}

static bool peer_allowed_now(const struct listener *L, const struct ucred *cred, char *why, size_t size)
{
	const struct listener_opts *o = L->o;
	if (o->serve.isolation && cred->uid == o->serve.isolation->uid) {
		snprintf(why, size, "peer uid %u (pid %d) is the uid the sandboxes run as: never a caller",
			 (unsigned)cred->uid, (int)cred->pid);
		return false;
	}
	if (cred->uid == geteuid() && geteuid() != 0) {
		snprintf(why, size, "peer uid %u (pid %d) is the daemon's own: never a caller", (unsigned)cred->uid,
			 (int)cred->pid);
		return false;
	}
	for (size_t i = 0; i < L->npeers; i++)
		if (L->peers[i] == cred->uid)
			return true;
	if (!o->npeer_uids && L->have_qubes && cred->gid == L->qubes_gid)
		return true;
	if (o->npeer_uids)
		snprintf(why, size, "peer uid %u (gid %u, pid %d) is not one of serve --allow-peer-uid",
			 (unsigned)cred->uid, (unsigned)cred->gid, (int)cred->pid);
	else
		snprintf(why, size, "peer uid %u (gid %u, pid %d) is not qrexec-agent: only root%s may call the proxy",
			 (unsigned)cred->uid, (unsigned)cred->gid, (int)cred->pid,
			 L->have_qubes ? " and group qubes" : " (there is no group qubes)");
	return false;
}

/* A peer refused before any supervisor: its summary is the listener's. */
static void summary_of_refused_peer(const char *id, const char *why)
{
	struct log_connection lc = { .id = id };
	log_set_connection(&lc);
	summary_log_refused(id, NULL, NULL, NULL, NULL, why, 0);
	log_set_connection(NULL);
}

/*
 * The peer check of an accepted connection ID, with its summary when it
 * is refused: the listener's, and its spare's (spare.h). *UID: who it is.
 */
static bool peer_check(void *arg, int fd, const char *id, uid_t *uid)
{
	struct listener *L = arg;
	struct ucred cred = { 0 };
	char why[200];
	bool ok = peer_allowed(L, fd, &cred, why, sizeof(why));
	*uid = cred.uid;
	if (!ok)
		summary_of_refused_peer(id, why);
	return ok;
}

/* ---- the configuration ---- */

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

static void drop_spare(struct listener *L);

/* Returns the number of chains now loaded, or RELOAD_REJECTED when the previous configuration stays. */
static int reload_config(struct listener *L)
{
	const struct listener_opts *o = L->o;
	const char *file = o->config_file;
	char *text = NULL;
	size_t size = 0;
	sd_notify(0, "RELOADING=1");
	FILE *errf = open_memstream(&text, &size);
	if (!errf) {
		log_sys(LOG_ERR, "unable to reload the configuration");
		announce(*L->cfg, o, "READY=1");
		return RELOAD_REJECTED;
	}
	struct qp_config *n = config_load(file, NULL, errf);
	/* every step checks its own arguments before the new file is trusted */
	if (n && o->serve.isolation && argcheck_config(n, o->serve.isolation, L->seccomp, errf, NULL) != 0) {
		config_free(n);
		n = NULL;
	}
	fclose(errf);
	if (!n) {
		log_lines(LOG_ERR, text);
		log_msg(LOG_ERR, "configuration not reloaded: %s; fix %s and send SIGHUP again",
			*L->cfg ? "keeping the previous one" : "still refusing every call", file);
	} else {
		bool had = *L->cfg != NULL;
		config_free(*L->cfg);
		*L->cfg = n;
		L->ctx.cfg = n;
		/*
		 * The spare holds the configuration it was forked with, and
		 * accepts calls: it goes before anyone hears of the reload (log,
		 * verdict), so that every call made after has the new one.
		 */
		if (L->spare.pid > 0 || (!had && o->spare)) {
			drop_spare(L);
			L->spare_due = mono_ms();
		}
		log_msg(LOG_NOTICE, "configuration reloaded from %s: %zu chains, %zu transparent entries", file,
			n->nchains, n->ntransparent);
	}
	free(text);
	announce(*L->cfg, o, "READY=1");
	return n ? (int)n->nchains : RELOAD_REJECTED;
}

/* ---- the spare ---- */

static void count_in(struct listener *L, const char *id, pid_t pid, int chan, int64_t start, bool alone,
		     uid_t peer_uid);

/*
 * While it is there, the spare accepts the next connection, not the
 * listener: one more supervisor, so only below the most there may be.
 */
static void spare_fork(struct listener *L)
{
	if (L->spare.pid >= 0 || !*L->cfg || L->listen_fd < 0 || L->book.nconns >= L->max_supervisors)
		return;
	if (spare_start(&L->spare, &L->ctx, L->book.last_chain, L->listen_fd, peer_check, L) < 0)
		log_sys(LOG_WARNING, "unable to fork a spare supervisor");
	else if (L->book.nconns == 0)
		spare_tell_alone(&L->spare);
}

/* Drops the spare (reload, stop, a stale guess); what it took meanwhile is served, and counted in the book. */
static void drop_spare(struct listener *L)
{
	struct spare_took t;
	if (spare_drop(&L->spare, &t))
		count_in(L, t.id, t.pid, t.chan, t.start_ns, t.alone, t.peer_uid);
}

/* The spare's control socket: it may be set up now, or have taken a connection. */
static void listener_spare_read(struct listener *L)
{
	struct spare_took t;
	if (spare_read(&L->spare, &t))
		count_in(L, t.id, t.pid, t.chan, t.start_ns, t.alone, t.peer_uid);
}

/*
 * The next spare is forked as soon as no connection is being set up or
 * running for a caller that still waits for its EOF (limits_busy), a
 * moment after the last caller had it (SPARE_EOF_MS), or, while one is,
 * once none has arrived for SPARE_BUSY_MS: forked at once, it would take
 * the CPU from the connection just handed over, whose set-up and answer
 * it is meant to spare. After that moment, it still waits a little for
 * the connections that have not asked for a slot yet: the chain of the
 * last to ask is the one it starts ahead (warm.h).
 */
static void listener_spare_due(struct listener *L, bool accept_ready)
{
	int64_t now = mono_ms();
	if (L->stopping || !L->spare_due || accept_ready)
		return;
	/* a caller that has just had its EOF takes it first (spare.h: SPARE_EOF_MS) */
	if (now < L->book.last_done_ms + SPARE_EOF_MS)
		return;
	if (limits_busy(&L->book) &&
	    !(now >= L->spare_due && (!limits_any_new(&L->book) || now >= L->spare_due + SPARE_HINT_WAIT_MS)))
		return;
	L->spare_due = 0;
	spare_fork(L);
}

/*
 * A spare set up for another chain than the last call asked for (forked
 * before that call had said which): replaced, once no connection is being
 * set up or running, so the next call finds its own chain's filters
 * started ahead. Only a spare that is ready: one still setting up would
 * hold the listener up while it ends.
 */
static void listener_spare_stale(struct listener *L)
{
	if (L->stopping || L->spare.pid <= 0 || !L->spare.ready || !L->book.last_chain[0] ||
	    !strcmp(L->spare.hint, L->book.last_chain) || limits_busy(&L->book))
		return;
	log_msg(LOG_DEBUG, "the spare started chain '%s' ahead, the last call asked for '%s': replacing it",
		L->spare.hint, L->book.last_chain);
	drop_spare(L);
	L->spare_due = mono_ms();
}

/* ---- signals ---- */

static void begin_stop(struct listener *L)
{
	L->stopping = true;
	L->stop_deadline = mono_ms() + L->o->grace_ms;
	sd_notify(0, "STOPPING=1");
	log_msg(LOG_NOTICE, "stopping: no new connections; waiting for %zu running ones", L->book.nconns);
	close(L->listen_fd);
	L->listen_fd = -1;
	drop_spare(L);
}

static void on_reload_signal(struct listener *L, const struct signalfd_siginfo *si)
{
	if (L->stopping) {
		if (reload_wants_verdict(si))
			reload_send_verdict(si, RELOAD_REJECTED);
		return;
	}
	if (!L->o->npeer_uids)
		default_peers(L);
	int verdict = reload_config(L);
	if (reload_wants_verdict(si))
		reload_send_verdict(si, verdict);
}

static void listener_on_signals(struct listener *L)
{
	struct signalfd_siginfo si;
	while (read(L->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			continue;
		if (si.ssi_signo == SIGHUP) {
			on_reload_signal(L, &si);
		} else if (!L->stopping) {
			begin_stop(L);
		} else {
			log_msg(LOG_NOTICE, "second signal: ending %zu running connections", L->book.nconns);
			sup_signal(&L->book, SIGTERM);
			L->kill_phase = 1;
			L->stop_deadline = mono_ms() + 5000;
		}
	}
	reap_supervisors(L);
}

/* Grace over: SIGTERM makes supervisors abort; if even that hangs, SIGKILL. */
static void listener_stop_due(struct listener *L)
{
	if (!L->stopping || mono_ms() < L->stop_deadline)
		return;
	if (L->kill_phase == 0) {
		log_msg(LOG_WARNING, "grace period over: ending %zu running connections", L->book.nconns);
		sup_signal(&L->book, SIGTERM);
	} else {
		log_msg(LOG_ERR, "%zu supervisors did not end: killing them", L->book.nconns);
		sup_signal(&L->book, SIGKILL);
	}
	L->kill_phase++;
	L->stop_deadline = mono_ms() + 5000;
}

/* ---- accepting ---- */

/*
 * Connections that have not sent their descriptor yet do not count
 * against the supervisors' limit (listener_poll_set): a local peer that
 * connects and says nothing cannot hold up the others. They are bounded
 * per peer uid instead, by the same number: past it, that peer's oldest
 * silent one goes, once it has been silent SILENT_DROP_MS (a descriptor
 * takes microseconds to arrive; a burst of calls is not dropped), and at
 * twice that number whatever its age.
 */
#define SILENT_DROP_MS 1000

static void drop_silent(struct listener *L, uid_t uid)
{
	struct limits_conn *oldest;
	size_t n = limits_count_new(&L->book, uid, &oldest);
	if (n < L->max_supervisors || !oldest)
		return;
	if (n < 2 * L->max_supervisors && mono_ms() - oldest->accepted_ms < SILENT_DROP_MS)
		return;
	char reason[128];
	snprintf(reason, sizeof(reason),
		 "no descriptor after %lld ms, and peer uid %u has %zu connections without one (max %zu): the oldest goes",
		 (long long)(mono_ms() - oldest->accepted_ms), (unsigned)uid, n, L->max_supervisors);
	end_connection(oldest, qp_result_name(QP_REFUSED), reason);
}

/*
 * Supervisor PID of connection ID, accepted at START from PEER_UID, with
 * the listener's end CHAN of its admission channel, goes into the book.
 * ALONE: the spare took it knowing the book empty (spare_tell_alone), so
 * it is admitted now, before it asks (limits_pregrant).
 */
static void count_in(struct listener *L, const char *id, pid_t pid, int chan, int64_t start, bool alone,
		     uid_t peer_uid)
{
	drop_silent(L, peer_uid);
	struct limits_conn *c = limits_add(&L->book, id, pid, chan, start);
	if (!c) {
		/* without a place in the book it can never be admitted: end it now */
		log_msg(LOG_ERR, "connection %s: out of memory for the connection table", id);
		close(chan);
		kill(pid, SIGKILL);
	} else {
		c->peer_uid = peer_uid;
		if (alone && !limits_pregrant(&L->book, c)) {
			/* cannot be: it was alone; a supervisor that runs uncounted must not */
			log_msg(LOG_ERR, "connection %s: admitted ahead but not alone in the book: ending it", id);
			kill(pid, SIGKILL);
		}
	}
	if (L->o->spare)
		L->spare_due = mono_ms() + SPARE_BUSY_MS;
}

/* No spare: a supervisor is forked for connection FD now. */
static void hand_over(struct listener *L, int fd, const char *id, uid_t peer_uid)
{
	int64_t start = mono_ns();
	int chan = -1;
	pid_t pid = serve_fork(&L->ctx, fd, id, start, &chan, NULL, NULL);
	if (pid < 0) {
		log_sys(LOG_ERR, "connection %s: unable to fork its supervisor", id);
		close(fd);
		poll(NULL, 0, 100);
		return;
	}
	close(fd);
	count_in(L, id, pid, chan, start, false, peer_uid);
}

static void listener_accept(struct listener *L)
{
	int fd = accept4(L->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_sys(LOG_ERR, "unable to accept a connection");
		/* EMFILE and friends: back off instead of spinning */
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
			poll(NULL, 0, 100);
		return;
	}
	char id[17];
	make_connection_id(id);
	uid_t uid;
	if (!peer_check(L, fd, id, &uid)) {
		close(fd);
		return;
	}
	hand_over(L, fd, id, uid);
}

/* ---- the loop ---- */

/* the listener's memory of other connections, which no child of it keeps */
static void forget_tables(void *arg)
{
	struct listener *L = arg;
	limits_forget_in_child(&L->book);
	free(L->pf);
	free(L->who);
}

static void listener_init(struct listener *L, int listen_fd)
{
	const struct listener_opts *o = L->o;
	struct limits_opts lo = {
		.max_connections = o->max_connections,
		.max_per_source = o->max_per_source,
		.max_queued = o->max_queued,
		.max_queued_per_source = o->max_queued_per_source,
		.queue_timeout_ms = o->queue_timeout_ms,
		.pipe_memory = o->pipe_memory,
		.pipe_size = o->serve.pipe_size,
	};
	L->listen_fd = listen_fd;
	L->spare = (struct spare){ .pid = -1, .ctl = -1, .chan = -1 };
	L->max_supervisors = (size_t)o->max_connections + (size_t)o->max_queued;
	L->ctx = (struct serve_ctx){ .cfg = *L->cfg, .seccomp = L->seccomp, .o = &o->serve };
	if (limits_init(&L->book, &lo) < 0)
		die_sys(111, "unable to set up the limits");
	/* a peer that goes away must be an error code, never the listener's death */
	signal(SIGPIPE, SIG_IGN);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		log_sys(LOG_WARNING, "unable to become a subreaper");
	if (o->npeer_uids) {
		memcpy(L->peers, o->peer_uids, o->npeer_uids * sizeof(uid_t));
		L->npeers = o->npeer_uids;
	} else {
		default_peers(L);
	}
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		die_sys(111, "unable to block signals");
	L->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (L->sigfd < 0)
		die_sys(111, "unable to create a signalfd");
	if (fd_set_nonblock(listen_fd, true) < 0)
		die_sys(111, "unable to make the listening socket non-blocking");
	if (logrelay_open(L->relay) < 0)
		die_sys(111, "unable to create the supervisors' log relay");
	log_set_relay(L->relay[1]);
	/* what no child of the listener keeps: the sockets, the book, the other connections' channels */
	control_open(&L->ctl, o->control_path);
	serve_forget_fd(&L->listen_fd);
	serve_forget_fd(&L->sigfd);
	serve_forget_fd(&L->relay[0]);
	serve_forget_fd(&L->spare.ctl);
	serve_forget_fd(&L->spare.chan);
	serve_forget_memory(forget_tables, L);
}

/* The poll set for this round, and how long poll may wait; false when out of memory. */
static int listener_poll_set(struct listener *L)
{
	size_t need = L->book.nconns + 5 + 1 + CONTROL_MAX_CLIENTS;
	if (L->pfcap < need) {
		size_t cap = need * 2;
		struct pollfd *npf = realloc(L->pf, cap * sizeof(*npf));
		if (npf)
			L->pf = npf;
		struct limits_conn **nwho = realloc(L->who, cap * sizeof(*nwho));
		if (nwho)
			L->who = nwho;
		if (!npf || !nwho)
			die_sys(111, "unable to grow the connection table");
		L->pfcap = cap;
	}
	struct pollfd *pf = L->pf;
	nfds_t n = 0;
	pf[n++] = (struct pollfd){ .fd = L->sigfd, .events = POLLIN };
	/*
	 * At the limit of supervisors (running and waiting), connections wait
	 * in the backlog (tcpserver -c). Those still without a descriptor are
	 * not counted: they are bounded per peer (drop_silent).
	 */
	size_t named = L->book.nconns - limits_count_new(&L->book, (uid_t)-1, NULL);
	/* while the spare is there, it accepts (spare.h) */
	bool accepting = !L->stopping && named < L->max_supervisors && L->listen_fd >= 0 && L->spare.pid < 0;
	pf[n++] = (struct pollfd){ .fd = accepting ? L->listen_fd : -1, .events = POLLIN };
	for (size_t i = 0; i < L->book.nconns; i++) {
		if (L->book.conns[i]->chan < 0)
			continue;
		L->who[n] = L->book.conns[i];
		pf[n++] = (struct pollfd){ .fd = L->book.conns[i]->chan, .events = POLLIN };
	}
	L->nchan = n;
	L->icontrol = n;
	L->ncontrol = control_pollfds(&L->ctl, pf + n);
	n += L->ncontrol;
	L->irelay = n;
	pf[n++] = (struct pollfd){ .fd = L->relay[0], .events = POLLIN };
	/* the spare says when it is set up, and when it took a connection */
	L->ispare = n;
	pf[n++] = (struct pollfd){ .fd = L->spare.pid > 0 ? L->spare.ctl : -1, .events = POLLIN };
	L->npf = n;

	int timeout = limits_expire(&L->book, mono_ms());
	int tc = control_timeout(&L->ctl, mono_ms());
	if (tc >= 0 && (timeout < 0 || tc < timeout))
		timeout = tc;
	int64_t until = L->stopping ? L->stop_deadline : L->spare_due;
	/* due, but waiting for a connection to name its chain: its message wakes us, or this */
	if (!L->stopping && L->spare_due && mono_ms() >= L->spare_due && limits_any_new(&L->book))
		until = L->spare_due + SPARE_HINT_WAIT_MS;
	if (!L->stopping && L->spare_due && mono_ms() < L->book.last_done_ms + SPARE_EOF_MS &&
	    (!until || L->book.last_done_ms + SPARE_EOF_MS < until))
		until = L->book.last_done_ms + SPARE_EOF_MS;
	if (until) {
		int64_t left = until - mono_ms();
		int t = left > 0 ? (int)left : 0;
		if (timeout < 0 || t < timeout)
			timeout = t;
	}
	return timeout;
}

static void listener_free(struct listener *L)
{
	struct spare_took t;
	/* dropped when the stop began: nothing can be taken now */
	if (spare_drop(&L->spare, &t)) {
		kill(t.pid, SIGKILL);
		close(t.chan);
	}
	control_close(&L->ctl);
	/* what the last supervisors said before they ended */
	logrelay_drain(L->relay[0]);
	log_set_relay(-1);
	close(L->relay[0]);
	close(L->relay[1]);
	close(L->sigfd);
	if (L->listen_fd >= 0)
		close(L->listen_fd);
	limits_free(&L->book);
	free(L->pf);
	free(L->who);
}

int listener_run(int listen_fd, struct qp_config **cfg, const struct sock_fprog *seccomp,
		 const struct listener_opts *o)
{
	static struct listener L; /* its address is in the forget list: it outlives every fork */
	L = (struct listener){ .o = o, .cfg = cfg, .seccomp = seccomp };
	listener_init(&L, listen_fd);
	if (o->spare)
		spare_fork(&L);
	announce(*cfg, o, "READY=1");

	while (!(L.stopping && L.book.nconns == 0)) {
		int timeout = listener_poll_set(&L);
		if (poll(L.pf, L.npf, timeout) < 0) {
			if (errno == EINTR)
				continue;
			die_sys(111, "unable to poll");
		}
		struct pollfd *pf = L.pf;
		listener_stop_due(&L);
		/* before the endings of supervisors are reaped: their messages come first */
		if (pf[L.irelay].revents & POLLIN)
			logrelay_drain(L.relay[0]);
		/* what supervisors said, before any of them is reaped (and forgotten) below */
		for (nfds_t i = 2; i < L.nchan; i++)
			if (pf[i].revents)
				limits_on_readable(&L.book, L.who[i], mono_ms());
		/* the connection the spare took goes into the book before its end could be reaped */
		if (pf[L.ispare].fd >= 0 && pf[L.ispare].revents)
			listener_spare_read(&L);
		listener_spare_due(&L, pf[1].revents & POLLIN);
		control_on_poll(&L.ctl, pf + L.icontrol, L.ncontrol, &L.book, &L.spare, mono_ms());
		listener_spare_stale(&L);
		if (pf[0].revents & POLLIN)
			listener_on_signals(&L);
		if (pf[1].fd >= 0 && L.listen_fd >= 0 && L.spare.pid < 0 && (pf[1].revents & POLLIN))
			listener_accept(&L);
		/* the book emptied: the spare's connection will be alone */
		if (L.book.nconns == 0)
			spare_tell_alone(&L.spare);
	}
	listener_free(&L);
	log_msg(LOG_NOTICE, "stopped");
	return 0;
}
