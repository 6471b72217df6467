/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * http-allow, first fed directly (what goes on for each kind of request,
 * byte for byte), then with real programs as qubes.UpdatesProxy has
 * them: tinyproxy as the destination, an origin server on 127.0.0.1,
 * curl -x and apt-get (Acquire::http::Proxy) as callers, each connection
 * through qrexec-proxy run with an http-allow chain (t/tcp-relay at both
 * ends), and a TLS server (openssl s_server) behind a CONNECT. Without
 * tinyproxy, curl, openssl, apt-get or python3 the suite skips, saying
 * which (t/quickstart.sh test installs them).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "hash.h"
#include "testutil.h"

static char tmp[256];

#define ASSERT_CONTAINS(hay, needle) \
	ck_assert_msg(strstr((hay), (needle)), "expected \"%s\" in:\n%s", (needle), (hay))

static int exit_code(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static pid_t start(char *const *argv, int in, int out, const char *errfile)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int e = open(errfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (in >= 0)
			dup2(in, 0);
		else
			dup2(open("/dev/null", O_RDONLY), 0);
		if (out >= 0)
			dup2(out, 1);
		else
			dup2(e, 1);
		dup2(e, 2);
		signal(SIGPIPE, SIG_DFL);
		setpgid(0, 0);
		/* a test that fails skips its teardown: the servers must not outlive it */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int await(pid_t pid, int64_t end)
{
	int st;
	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			ck_abort_msg("pid %d still running at the deadline", (int)pid);
		}
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		nanosleep(&ts, NULL); /* polling a child's end: waitpid has no timeout */
	}
	return st;
}

/* ---- fed directly ---- */

struct fed {
	int status;
	char *out;
	size_t outlen;
	char *err;
};

static void feed(const char *const *args, const void *in, size_t inlen, struct fed *f)
{
	char path[512], errfile[400];
	snprintf(path, sizeof(path), "%s/filters/http-allow", builddir());
	snprintf(errfile, sizeof(errfile), "%s/feed.err", tmp);
	unlink(errfile);
	char *argv[32] = { path };
	size_t n = 1;
	for (; args && *args && n < 31; args++)
		argv[n++] = (char *)*args;
	argv[n] = NULL;
	int ip[2], op[2];
	ck_assert_int_eq(pipe2(ip, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(op, O_CLOEXEC), 0);
	pid_t pid = start(argv, ip[0], op[1], errfile);
	close(ip[0]);
	close(op[1]);
	signal(SIGPIPE, SIG_IGN);
	fcntl(ip[1], F_SETFL, O_NONBLOCK);
	size_t off = 0;
	int in_fd = ip[1];
	if (!inlen) {
		close(in_fd);
		in_fd = -1;
	}
	f->out = calloc(1, 1);
	f->outlen = 0;
	int64_t end = now_ms() + wait_ms(0);
	for (int out_fd = op[0]; out_fd >= 0;) {
		struct pollfd p[2] = { { .fd = out_fd, .events = POLLIN }, { .fd = in_fd, .events = POLLOUT } };
		int left = (int)(end - now_ms());
		ck_assert_msg(left > 0 && poll(p, 2, left) > 0, "http-allow hangs");
		if (p[1].revents) {
			ssize_t w = write(in_fd, (const char *)in + off, inlen - off);
			if (w > 0)
				off += (size_t)w;
			if (w < 0 && errno != EAGAIN)
				off = inlen;
			if (off == inlen) {
				close(in_fd);
				in_fd = -1;
			}
		}
		if (p[0].revents) {
			char buf[65536];
			ssize_t got = read(out_fd, buf, sizeof(buf));
			if (got <= 0) {
				close(out_fd);
				out_fd = -1;
			} else {
				f->out = realloc(f->out, f->outlen + (size_t)got + 1);
				memcpy(f->out + f->outlen, buf, (size_t)got);
				f->outlen += (size_t)got;
				f->out[f->outlen] = '\0';
			}
		}
	}
	if (in_fd >= 0)
		close(in_fd);
	f->status = await(pid, end);
	f->err = file_read(errfile);
}

static void fed_free(struct fed *f)
{
	free(f->out);
	free(f->err);
}

static void tmp_setup(void)
{
	make_tmpdir(tmp, sizeof(tmp));
}

static void tmp_teardown(void)
{
	rm_rf(tmp);
}

static const char *const rules[] = { "--allow-host", "deb.debian.org", "--allow-host", "*.fedoraproject.org",
				     "--allow-host", "127.0.0.1", "--allow-port", "80,443", NULL };

#define GET(host, path) "GET http://" host path " HTTP/1.1\r\nHost: " host "\r\nUser-Agent: t\r\n\r\n"

/* everything let through, in order, byte for byte: bodies, chunks, a tunnel */
START_TEST(passes_unchanged)
{
	static const char in[] =
		GET("deb.debian.org", "/debian/dists/bookworm/InRelease")
		"POST http://deb.debian.org/x HTTP/1.1\r\nHost: deb.debian.org\r\nContent-Length: 5\r\n\r\nGET /"
		"PUT http://DL.FedoraProject.ORG./y HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
		"4;ext=1\r\nGET \r\n0\r\nX-Trailer: 1\r\n\r\n"
		GET("127.0.0.1", "/")
		"CONNECT mirrors.fedoraproject.org:443 HTTP/1.1\r\nHost: mirrors.fedoraproject.org:443\r\n\r\n"
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 GET http://evil/ HTTP/1.1\r\n\r\n";
	struct fed f;
	feed(rules, in, sizeof(in) - 1, &f);
	ck_assert_msg(exit_code(f.status) == 0, "%s", f.err);
	ck_assert_uint_eq(f.outlen, sizeof(in) - 1);
	ck_assert(!memcmp(f.out, in, sizeof(in) - 1));
	ASSERT_CONTAINS(f.err, "GET deb.debian.org:80/debian/dists/bookworm/InRelease");
	ASSERT_CONTAINS(f.err, "PUT dl.fedoraproject.org:80/y");
	ASSERT_CONTAINS(f.err, "CONNECT mirrors.fedoraproject.org:443");
	ASSERT_CONTAINS(f.err, "done: requests=5 (the last a tunnel)");
	fed_free(&f);
}
END_TEST

/* a refused or bad request: what came before it goes on, nothing of it */
struct refusal {
	const char *request;
	const char *log;
};

static const struct refusal refusals[] = {
	{ GET("evil.example", "/"), "refused: GET evil.example:80/ (--allow-host: host evil.example)" },
	{ GET("fedoraproject.org", "/"), "(--allow-host: host fedoraproject.org)" },
	{ GET("deb.debian.org.evil.example", "/"), "(--allow-host" },
	{ GET("127.0.0.2", "/"), "(--allow-host: address 127.0.0.2)" },
	{ GET("127.1", "/"), "(--allow-host: address 127.1)" },
	{ GET("2130706433", "/"), "(--allow-host: address 2130706433)" },
	{ GET("[::1]", "/"), "(--allow-host: address [::1])" },
	{ GET("deb.debian.org:8080", "/"), "(--allow-port: port 8080)" },
	{ "CONNECT deb.debian.org:22 HTTP/1.1\r\n\r\n", "(--allow-port: port 22)" },
	{ "CONNECT evil.example:443 HTTP/1.1\r\n\r\n", "(--allow-host: host evil.example)" },
	{ "GET http://deb.debian.org/ HTTP/1.1\r\nHost: evil.example\r\n\r\n", "names another host" },
	{ "GET http://deb.debian.org/ HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
	  "both Content-Length and Transfer-Encoding" },
	{ "GET http://deb.debian.org/ HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "other than chunked" },
	{ "GET http://deb.debian.org/ HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", "disagree" },
	{ "GET http://deb.debian.org/ HTTP/1.1\r\nX: a\r\n b\r\n\r\n", "folded" },
	{ "GET http://deb.debian.org/ HTTP/1.1\nHost: deb.debian.org\n\n", "bare LF" },
	{ "GET http://deb.debian.org/ HTTP/1.1\r\nX\r: y\r\n\r\n", "CR not followed by LF" },
	{ "GET /relative HTTP/1.1\r\nHost: deb.debian.org\r\n\r\n", "absolute form" },
	{ "GET https://deb.debian.org/ HTTP/1.1\r\n\r\n", "absolute form" },
	{ "GET http://user@deb.debian.org/ HTTP/1.1\r\n\r\n", "user information" },
	{ "GET http://deb.debian.org/ HTTP/2.0\r\n\r\n", "not HTTP/1.0 or HTTP/1.1" },
	{ "GET  http://deb.debian.org/ HTTP/1.1\r\n\r\n", "without a target" },
	{ "\r\n", "an empty line where a request was due" },
	{ "CONNECT deb.debian.org:443 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", "a CONNECT with a body" },
};

START_TEST(refused_before_a_byte)
{
	static const char first[] = GET("deb.debian.org", "/first");
	const struct refusal *r = &refusals[_i];
	char in[20000];
	int n = snprintf(in, sizeof(in), "%s%s%s", first, r->request, GET("deb.debian.org", "/after"));
	struct fed f;
	feed(rules, in, (size_t)n, &f);
	ck_assert_msg(exit_code(f.status) == 1, "%s: %d %s", r->request, exit_code(f.status), f.err);
	ck_assert_msg(f.outlen == sizeof(first) - 1 && !memcmp(f.out, first, f.outlen), "%s: passed:\n%s",
		      r->request, f.out);
	ASSERT_CONTAINS(f.err, r->log);
	fed_free(&f);
}
END_TEST

static void limit_case(const char *in, size_t len, const char *log)
{
	struct fed f;
	feed(rules, in, len, &f);
	ck_assert_msg(exit_code(f.status) == 1, "%d %s", exit_code(f.status), f.err);
	ck_assert_uint_eq(f.outlen, 0);
	ASSERT_CONTAINS(f.err, log);
	fed_free(&f);
}

START_TEST(limits)
{
	static char in[2000000];
	/* a request line over 8 KiB */
	int n = snprintf(in, sizeof(in), "GET http://deb.debian.org/%09000d HTTP/1.1\r\n\r\n", 0);
	limit_case(in, (size_t)n, "a line over 8192 bytes");
	/* a header line over 8 KiB */
	n = snprintf(in, sizeof(in), "GET http://deb.debian.org/ HTTP/1.1\r\nX: %09000d\r\n\r\n", 0);
	limit_case(in, (size_t)n, "a line over 8192 bytes");
	/* a header line of exactly 8 KiB passes */
	n = snprintf(in, sizeof(in), "GET http://deb.debian.org/ HTTP/1.1\r\nX: %08185d\r\n\r\n", 0);
	struct fed f;
	feed(rules, in, (size_t)n, &f);
	ck_assert_msg(exit_code(f.status) == 0 && f.outlen == (size_t)n, "%s", f.err);
	fed_free(&f);
	/* 100 headers pass, 101 do not */
	n = snprintf(in, sizeof(in), "GET http://deb.debian.org/ HTTP/1.1\r\n");
	for (int i = 0; i < 100; i++)
		n += snprintf(in + n, sizeof(in) - (size_t)n, "X-%d: %d\r\n", i, i);
	memcpy(in + n, "\r\n", 3);
	feed(rules, in, (size_t)n + 2, &f);
	ck_assert_msg(exit_code(f.status) == 0 && f.outlen == (size_t)n + 2, "%s", f.err);
	fed_free(&f);
	n += snprintf(in + n, sizeof(in) - (size_t)n, "X-last: 1\r\n\r\n");
	limit_case(in, (size_t)n, "more than 100 header lines");
	/* a long stream of bytes without a line end: ended, never held */
	memset(in, 'A', sizeof(in));
	limit_case(in, sizeof(in), "a line over 8192 bytes");
}
END_TEST

START_TEST(path_prefix)
{
	const char *args[] = { "--allow-host", "deb.debian.org", "--allow-path-prefix", "/debian/", NULL };
	static const char ok[] = GET("deb.debian.org", "/debian/pool/main/h/hello.deb");
	struct fed f;
	feed(args, ok, sizeof(ok) - 1, &f);
	ck_assert_msg(exit_code(f.status) == 0 && f.outlen == sizeof(ok) - 1, "%s", f.err);
	fed_free(&f);
	static const char *const bad[] = { GET("deb.debian.org", "/other/"), GET("deb.debian.org", "/debian/../etc"),
					   GET("deb.debian.org", "/debian/%2e%2e/etc"),
					   GET("deb.debian.org", "/debian/..%2Fetc") };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		feed(args, bad[i], strlen(bad[i]), &f);
		ck_assert_msg(exit_code(f.status) == 1 && f.outlen == 0, "%s: %s", bad[i], f.err);
		ASSERT_CONTAINS(f.err, "--allow-path-prefix");
		fed_free(&f);
	}
	/* CONNECT is not a path */
	static const char c[] = "CONNECT deb.debian.org:443 HTTP/1.1\r\n\r\nxyz";
	feed(args, c, sizeof(c) - 1, &f);
	ck_assert_msg(exit_code(f.status) == 0 && f.outlen == sizeof(c) - 1, "%s", f.err);
	fed_free(&f);
}
END_TEST

START_TEST(check_mode)
{
	setenv("QREXEC_PROXY_DIRECTION", "check", 1);
	struct fed f;
	feed(rules, GET("evil.example", "/"), strlen(GET("evil.example", "/")), &f);
	ck_assert_msg(exit_code(f.status) == 0 && f.outlen == 0, "%s", f.err);
	fed_free(&f);
	unsetenv("QREXEC_PROXY_DIRECTION");
}
END_TEST

/* ---- with real programs ---- */

static char *missing_tools(void)
{
	static char why[512];
	static const char *const tools[] = { "tinyproxy", "curl", "openssl", "apt-get", "dpkg-deb", "python3" };
	why[0] = '\0';
	for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]); i++) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tools[i]);
		if (system(cmd) != 0) {
			strcat(why, " ");
			strcat(why, tools[i]);
		}
	}
	return why[0] ? why : NULL;
}

static pid_t p_origin, p_tinyproxy, p_listener, p_tls;
static unsigned origin_port, tinyproxy_port, listen_port, tls_port;
static char tinylog[400], www[400];

static unsigned free_port(void)
{
	char cmd[1024], file[400];
	snprintf(file, sizeof(file), "%s/port", tmp);
	snprintf(cmd, sizeof(cmd),
		 "python3 -c 'import socket;s=socket.socket();s.bind((\"127.0.0.1\",0));print(s.getsockname()[1])' > %s",
		 file);
	ck_assert_int_eq(system(cmd), 0);
	char *s = file_read(file);
	unsigned p = (unsigned)atoi(s);
	free(s);
	ck_assert_uint_gt(p, 0);
	return p;
}

static unsigned wait_port_file(const char *file)
{
	int64_t end = now_ms() + wait_ms(0);
	while (access(file, R_OK) != 0) {
		ck_assert_msg(now_ms() < end, "%s never came", file);
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL); /* waiting for a file the server writes once it listens */
	}
	char *s = file_read(file);
	unsigned p = (unsigned)atoi(s);
	free(s);
	return p;
}

/* waits until something accepts on 127.0.0.1:PORT */
static void wait_listening(unsigned port)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "python3 -c 'import socket;socket.create_connection((\"127.0.0.1\",%u),1)' 2>/dev/null",
		 port);
	int64_t end = now_ms() + wait_ms(0);
	while (system(cmd) != 0) {
		ck_assert_msg(now_ms() < end, "nothing listens on %u", port);
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

static const char origin_py[] =
	"import http.server, sys, os, urllib.parse\n"
	"root = sys.argv[2]\n"
	"class H(http.server.SimpleHTTPRequestHandler):\n"
	"    protocol_version = 'HTTP/1.1'\n"
	"    def __init__(self, *a, **k):\n"
	"        super().__init__(*a, directory=root, **k)\n"
	"    def translate_path(self, path):\n"
	"        u = urllib.parse.urlsplit(path)\n"
	"        return super().translate_path(u.path if u.scheme else path)\n"
	"    def log_message(self, fmt, *args):\n"
	"        sys.stderr.write('origin: ' + (fmt % args) + '\\n'); sys.stderr.flush()\n"
	"s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)\n"
	"open(sys.argv[1] + '.tmp', 'w').write(str(s.server_address[1]))\n"
	"os.rename(sys.argv[1] + '.tmp', sys.argv[1])\n"
	"s.serve_forever()\n";

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void random_file(const char *path, size_t size, uint64_t seed)
{
	char *buf = malloc(size);
	fill_random(&seed, buf, size);
	write_file(path, buf, size);
	free(buf);
}

static uint64_t file_hash(const char *path, size_t *size)
{
	uint64_t h = HASH_INIT;
	*size = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	char buf[65536];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		h = hash_update(h, buf, (size_t)n);
		*size += (size_t)n;
	}
	close(fd);
	return h;
}

static void real_setup(void)
{
	tmp_setup();
	char path[512], file[512], log[512];
	/* the origin, serving www/ over HTTP/1.1 with persistent connections */
	snprintf(www, sizeof(www), "%s/www", tmp);
	ck_assert_int_eq(mkdir(www, 0755), 0);
	snprintf(path, sizeof(path), "%s/origin.py", tmp);
	write_file(path, origin_py, strlen(origin_py));
	snprintf(file, sizeof(file), "%s/origin.port", tmp);
	snprintf(log, sizeof(log), "%s/origin.log", tmp);
	char *oargv[] = { "python3", path, file, www, NULL };
	p_origin = start(oargv, -1, -1, log);
	origin_port = wait_port_file(file);

	/* tinyproxy, as in sys-net, logging every request */
	tinyproxy_port = free_port();
	snprintf(tinylog, sizeof(tinylog), "%s/tinyproxy.log", tmp);
	char conf[1024], confpath[512];
	int n = snprintf(conf, sizeof(conf),
			 "Port %u\nListen 127.0.0.1\nAllow 127.0.0.1\nLogFile \"%s\"\nLogLevel Info\n"
			 "MaxClients 50\nTimeout 600\n", tinyproxy_port, tinylog);
	snprintf(confpath, sizeof(confpath), "%s/tinyproxy.conf", tmp);
	write_file(confpath, conf, (size_t)n);
	snprintf(log, sizeof(log), "%s/tinyproxy.out", tmp);
	char *targv[] = { "tinyproxy", "-d", "-c", confpath, NULL };
	p_tinyproxy = start(targv, -1, -1, log);
	wait_listening(tinyproxy_port);

	/* a TLS server, for CONNECT */
	char cert[512], key[512], cmd[2048];
	snprintf(cert, sizeof(cert), "%s/cert.pem", tmp);
	snprintf(key, sizeof(key), "%s/key.pem", tmp);
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
		 "-addext subjectAltName=DNS:localhost -keyout %s -out %s >/dev/null 2>&1", key, cert);
	ck_assert_int_eq(system(cmd), 0);
	tls_port = free_port();
	char portarg[64];
	snprintf(portarg, sizeof(portarg), "127.0.0.1:%u", tls_port);
	snprintf(log, sizeof(log), "%s/tls.log", tmp);
	char *sargv[] = { "openssl", "s_server", "-accept", portarg, "-cert", cert, "-key", key, "-www", "-quiet", NULL };
	p_tls = start(sargv, -1, -1, log);
	wait_listening(tls_port);

	/* the caller's side: each connection through qrexec-proxy run and an http-allow chain to tinyproxy */
	char cfg[512], body[2048];
	snprintf(cfg, sizeof(cfg), "%s/chains.yaml", tmp);
	snprintf(body, sizeof(body),
		 "filter_path: [\"@B@/filters\"]\n"
		 "chains:\n"
		 "  updates:\n"
		 "    filters:\n"
		 "      - name: http-allow\n"
		 "        args: [--allow-host, localhost, --allow-host, \"*.debian.org\", --allow-port, \"%u,%u\"]\n"
		 "        direction: src2dst\n", origin_port, tls_port);
	write_config(cfg, body);
	char qp[512], relay[512], tport[16];
	snprintf(qp, sizeof(qp), "%s/qrexec-proxy", builddir());
	snprintf(relay, sizeof(relay), "%s/t/tcp-relay", builddir());
	snprintf(tport, sizeof(tport), "%u", tinyproxy_port);
	snprintf(file, sizeof(file), "%s/listen.port", tmp);
	snprintf(log, sizeof(log), "%s/proxy.log", tmp);
	char *largv[] = { relay, "listen", file, qp, "run", "--config", cfg, "updates", "--",
			  relay, "connect", "127.0.0.1", tport, NULL };
	p_listener = start(largv, -1, -1, log);
	listen_port = wait_port_file(file);
}

static void real_teardown(void)
{
	pid_t *pids[] = { &p_listener, &p_tls, &p_tinyproxy, &p_origin };
	for (size_t i = 0; i < 4; i++) {
		if (*pids[i] > 0) {
			kill(-*pids[i], SIGKILL);
			waitpid(*pids[i], NULL, 0);
		}
	}
	tmp_teardown();
}

static int run_cmd(char *const *argv, const char *outfile, char **err)
{
	char errfile[512];
	snprintf(errfile, sizeof(errfile), "%s/cmd.err", tmp);
	unlink(errfile);
	int out = outfile ? open(outfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
	pid_t pid = start(argv, -1, out, errfile);
	if (out >= 0)
		close(out);
	int st = await(pid, now_ms() + wait_ms(0));
	if (err)
		*err = file_read(errfile);
	return exit_code(st);
}

static void proxy_url(char *buf, size_t size)
{
	snprintf(buf, size, "http://127.0.0.1:%u", listen_port);
}

START_TEST(curl_allowed)
{
	char src[512], out[512], url[512], proxy[128];
	snprintf(src, sizeof(src), "%s/big.bin", www);
	random_file(src, 5 << 20, 11);
	snprintf(out, sizeof(out), "%s/got.bin", tmp);
	snprintf(url, sizeof(url), "http://localhost:%u/big.bin", origin_port);
	proxy_url(proxy, sizeof(proxy));
	char *argv[] = { "curl", "-sS", "--fail", "-x", proxy, url, NULL };
	char *err;
	int rc = run_cmd(argv, out, &err);
	char *plog = file_read(tinylog);
	ck_assert_msg(rc == 0, "curl: %d %s\ntinyproxy:\n%s", rc, err, plog);
	size_t a, b;
	ck_assert_uint_eq(file_hash(src, &a), file_hash(out, &b));
	ck_assert_uint_eq(a, b);
	ck_assert_uint_eq(b, 5 << 20);
	ASSERT_CONTAINS(plog, "GET http://localhost:");
	free(err);
	free(plog);
}
END_TEST

START_TEST(curl_refused)
{
	char url[512], proxy[128];
	proxy_url(proxy, sizeof(proxy));
	const char *hosts[] = { "refused.invalid", "127.0.0.1", "evil.example" };
	for (size_t i = 0; i < 3; i++) {
		snprintf(url, sizeof(url), "http://%s:%u/a", hosts[i], origin_port);
		char *argv[] = { "curl", "-sS", "-x", proxy, url, NULL };
		char *err;
		int rc = run_cmd(argv, NULL, &err);
		ck_assert_msg(rc != 0, "curl %s: %d", url, rc);
		free(err);
	}
	/* the refusals are logged (the chain's log), and none reached tinyproxy */
	char log[512];
	snprintf(log, sizeof(log), "%s/proxy.log", tmp);
	ck_assert(file_wait_for(log, "refused: GET evil.example", wait_ms(0)));
	char *plog = file_read(tinylog);
	ck_assert_msg(!strstr(plog, "refused.invalid") && !strstr(plog, "evil.example") && !strstr(plog, "Request"),
		      "tinyproxy saw:\n%s", plog);
	free(plog);
	/* an allowed host after them still works */
	char src[512], out[512];
	snprintf(src, sizeof(src), "%s/a.txt", www);
	write_file(src, "hello\n", 6);
	snprintf(out, sizeof(out), "%s/a.out", tmp);
	snprintf(url, sizeof(url), "http://localhost:%u/a.txt", origin_port);
	char *argv[] = { "curl", "-sS", "--fail", "-x", proxy, url, NULL };
	ck_assert_int_eq(run_cmd(argv, out, NULL), 0);
	char *got = file_read(out);
	ck_assert_str_eq(got, "hello\n");
	free(got);
}
END_TEST

START_TEST(connect_tls)
{
	char url[512], proxy[128], cert[512], out[512];
	proxy_url(proxy, sizeof(proxy));
	snprintf(cert, sizeof(cert), "%s/cert.pem", tmp);
	snprintf(out, sizeof(out), "%s/tls.out", tmp);
	snprintf(url, sizeof(url), "https://localhost:%u/", tls_port);
	char *argv[] = { "curl", "-sS", "--fail", "--cacert", cert, "-x", proxy, url, NULL };
	char *err;
	int rc = run_cmd(argv, out, &err);
	char *body = file_read(out), *plog = file_read(tinylog);
	ck_assert_msg(rc == 0, "curl: %d %s\ntinyproxy:\n%s", rc, err, plog);
	/* s_server -www answers with its view of the session: the handshake went through the tunnel */
	ASSERT_CONTAINS(body, "Ciphers supported in s_server binary");
	ASSERT_CONTAINS(plog, "CONNECT localhost:");
	free(err);
	free(body);
	free(plog);
	/* a CONNECT to a port not listed never reaches tinyproxy */
	snprintf(url, sizeof(url), "https://localhost:%u/", tinyproxy_port);
	char *argv2[] = { "curl", "-sS", "--cacert", cert, "-x", proxy, url, NULL };
	ck_assert_int_ne(run_cmd(argv2, NULL, NULL), 0);
	plog = file_read(tinylog);
	char needle[64];
	snprintf(needle, sizeof(needle), "localhost:%u", tinyproxy_port);
	ck_assert_msg(!strstr(plog, needle), "%s", plog);
	free(plog);
}
END_TEST

/* pipelined requests on one connection: all go on, in order; answered in order */
START_TEST(pipelined)
{
	char names[3][64];
	uint64_t hashes[3];
	size_t sizes[3] = { 1000, 200000, 3 };
	for (int i = 0; i < 3; i++) {
		char p[700];
		snprintf(names[i], sizeof(names[i]), "p%d.bin", i);
		snprintf(p, sizeof(p), "%s/%s", www, names[i]);
		random_file(p, sizes[i], (uint64_t)i + 20);
		size_t s;
		hashes[i] = file_hash(p, &s);
	}
	char req[4096];
	int n = 0;
	for (int i = 0; i < 3; i++)
		n += snprintf(req + n, sizeof(req) - (size_t)n,
			      "GET http://localhost:%u/%s HTTP/1.1\r\nHost: localhost:%u\r\n\r\n", origin_port, names[i],
			      origin_port);
	/*
	 * Straight to the origin (persistent, as a proxy that keeps
	 * connections would be): tinyproxy 1.11 answers one request per
	 * connection and closes, and apt then sends the rest again.
	 */
	char cfg[512], body[1024], qp[512], relay[512], oport[16], in[512], outf[512], errf[512];
	snprintf(cfg, sizeof(cfg), "%s/direct.yaml", tmp);
	snprintf(body, sizeof(body),
		 "filter_path: [\"@B@/filters\"]\nchains:\n  updates:\n    filters:\n"
		 "      - name: http-allow\n        args: [--allow-host, localhost, --allow-port, \"%u\"]\n"
		 "        direction: src2dst\n", origin_port);
	write_config(cfg, body);
	snprintf(qp, sizeof(qp), "%s/qrexec-proxy", builddir());
	snprintf(relay, sizeof(relay), "%s/t/tcp-relay", builddir());
	snprintf(oport, sizeof(oport), "%u", origin_port);
	snprintf(in, sizeof(in), "%s/pipelined.in", tmp);
	snprintf(outf, sizeof(outf), "%s/pipelined.out", tmp);
	snprintf(errf, sizeof(errf), "%s/pipelined.err", tmp);
	write_file(in, req, (size_t)n);
	/* the caller sends its three requests at once and waits for the answers before it closes */
	char script[2048];
	snprintf(script, sizeof(script), "cat %s; sleep 600", in);
	int sp[2], rp[2];
	ck_assert_int_eq(pipe2(sp, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(rp, O_CLOEXEC), 0);
	char *sargv[] = { "sh", "-c", script, NULL };
	pid_t sender = start(sargv, -1, sp[1], errf);
	char *pargv[] = { qp, "run", "--config", cfg, "updates", "--", relay, "connect", "127.0.0.1", oport, NULL };
	pid_t proxy = start(pargv, sp[0], rp[1], errf);
	close(sp[0]);
	close(sp[1]);
	close(rp[1]);
	/* read the three answers, each by its Content-Length */
	static char resp[1 << 20];
	size_t got = 0;
	int64_t end = now_ms() + wait_ms(0);
	int done = 0;
	size_t at = 0;
	while (done < 3) {
		struct pollfd p = { .fd = rp[0], .events = POLLIN };
		ck_assert_msg(poll(&p, 1, (int)(end - now_ms())) == 1, "no answer");
		ssize_t r = read(rp[0], resp + got, sizeof(resp) - got);
		ck_assert_int_gt(r, 0);
		got += (size_t)r;
		for (;;) {
			char *hend = memmem(resp + at, got - at, "\r\n\r\n", 4);
			if (!hend)
				break;
			char *cl = strcasestr(resp + at, "Content-Length: ");
			ck_assert_ptr_nonnull(cl);
			size_t len = (size_t)atol(cl + 16);
			size_t bstart = (size_t)(hend + 4 - resp);
			if (got < bstart + len)
				break;
			ck_assert_uint_eq(len, sizes[done]);
			ck_assert_uint_eq(hash_update(HASH_INIT, resp + bstart, len), hashes[done]);
			at = bstart + len;
			done++;
			if (done == 3)
				break;
		}
	}
	kill(-sender, SIGKILL);
	kill(-proxy, SIGKILL);
	waitpid(sender, NULL, 0);
	waitpid(proxy, NULL, 0);
	close(rp[0]);
	char *e = file_read(errf);
	ASSERT_CONTAINS(e, "p0.bin");
	ck_assert_ptr_nonnull(strstr(strstr(e, "p0.bin"), "p2.bin"));
	free(e);
}
END_TEST

START_TEST(apt_get)
{
	/* a repository with one package, served by the origin */
	char cmd[4096], pkgdir[512], deb[512];
	snprintf(pkgdir, sizeof(pkgdir), "%s/pkg", tmp);
	snprintf(deb, sizeof(deb), "%s/qp-test-hello_1.0_all.deb", www);
	snprintf(cmd, sizeof(cmd),
		 "set -e; mkdir -p %s/DEBIAN %s/usr/share/doc/qp-test-hello; "
		 "printf 'Package: qp-test-hello\\nVersion: 1.0\\nArchitecture: all\\nMaintainer: t <t@t>\\n"
		 "Description: test\\n' > %s/DEBIAN/control; "
		 "head -c 300000 /dev/urandom > %s/usr/share/doc/qp-test-hello/blob; "
		 "dpkg-deb --build --root-owner-group %s %s >/dev/null; "
		 "cd %s; size=$(stat -c %%s qp-test-hello_1.0_all.deb); sha=$(sha256sum qp-test-hello_1.0_all.deb | cut -d' ' -f1); "
		 "printf 'Package: qp-test-hello\\nVersion: 1.0\\nArchitecture: all\\nMaintainer: t <t@t>\\n"
		 "Filename: ./qp-test-hello_1.0_all.deb\\nSize: %%s\\nSHA256: %%s\\nDescription: test\\n\\n' $size $sha > Packages",
		 pkgdir, pkgdir, pkgdir, pkgdir, pkgdir, deb, www);
	ck_assert_int_eq(system(cmd), 0);
	char state[512], list[512], proxyopt[256];
	snprintf(state, sizeof(state), "%s/apt", tmp);
	snprintf(list, sizeof(list), "%s/sources.list", tmp);
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p %s/lists/partial %s/cache/archives/partial && "
		 "echo 'deb [trusted=yes] http://localhost:%u/ ./' > %s && "
		 "echo 'deb [trusted=yes] http://refused.invalid:%u/ ./' >> %s",
		 state, state, origin_port, list, origin_port, list);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(proxyopt, sizeof(proxyopt), "Acquire::http::Proxy=http://127.0.0.1:%u", listen_port);
	char o_list[600], o_parts[64] = "Dir::Etc::SourceParts=/nonexistent", o_lists[600], o_cache[600];
	snprintf(o_list, sizeof(o_list), "Dir::Etc::SourceList=%s", list);
	snprintf(o_lists, sizeof(o_lists), "Dir::State::Lists=%s/lists", state);
	snprintf(o_cache, sizeof(o_cache), "Dir::Cache=%s/cache", state);
	char *upd[] = { "apt-get", "-o", proxyopt, "-o", o_list, "-o", o_parts, "-o", o_lists, "-o", o_cache,
			"-o", "Debug::NoLocking=1", "-o", "APT::Sandbox::User=root", "-o", "Acquire::Retries=0",
			"update", NULL };
	char *err;
	int rc = run_cmd(upd, NULL, &err);
	/* the refused repository fails, the allowed one is fetched */
	char *plog = file_read(tinylog);
	ck_assert_msg(strstr(plog, "GET http://localhost:"), "apt update: %d %s\ntinyproxy:\n%s", rc, err, plog);
	ck_assert_msg(!strstr(plog, "refused.invalid"), "%s", plog);
	free(err);
	free(plog);
	/* apt-get download: the package, byte for byte */
	char cwd[512];
	snprintf(cwd, sizeof(cwd), "%s/dl", tmp);
	ck_assert_int_eq(mkdir(cwd, 0777), 0);
	char *dl[] = { "sh", "-c", "cd \"$0\" && exec \"$@\"", cwd, "apt-get", "-o", proxyopt, "-o", o_list,
		       "-o", o_parts, "-o", o_lists, "-o", o_cache, "-o", "Debug::NoLocking=1",
		       "-o", "APT::Sandbox::User=root", "download", "qp-test-hello", NULL };
	rc = run_cmd(dl, NULL, &err);
	ck_assert_msg(rc == 0, "apt-get download: %d %s", rc, err);
	char got[600];
	snprintf(got, sizeof(got), "%s/qp-test-hello_1.0_all.deb", cwd);
	size_t a, b;
	ck_assert_uint_eq(file_hash(deb, &a), file_hash(got, &b));
	ck_assert_uint_eq(a, b);
	free(err);
}
END_TEST

static Suite *http_suite(bool real)
{
	Suite *s = suite_create("http-allow");
	TCase *tc = tcase_create("fed");
	tcase_set_timeout(tc, 300);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, passes_unchanged);
	tcase_add_loop_test(tc, refused_before_a_byte, 0, (int)(sizeof(refusals) / sizeof(refusals[0])));
	tcase_add_test(tc, limits);
	tcase_add_test(tc, path_prefix);
	tcase_add_test(tc, check_mode);
	suite_add_tcase(s, tc);
	if (real) {
		tc = tcase_create("real");
		tcase_set_timeout(tc, 600);
		tcase_add_checked_fixture(tc, real_setup, real_teardown);
		tcase_add_test(tc, curl_allowed);
		tcase_add_test(tc, curl_refused);
		tcase_add_test(tc, connect_tls);
		tcase_add_test(tc, pipelined);
		tcase_add_test(tc, apt_get);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	const char *missing = missing_tools();
	if (missing)
		printf("check_http_allow: skipping the tests with real programs: not installed:%s "
		       "(sh t/quickstart.sh test installs them)\n", missing);
	SRunner *sr = srunner_create(http_suite(!missing));
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
