#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A reader of the Qubes dom0 qrexec policy format (v5), and what
qrexec-proxy policy writes, read with it.

The reader follows the grammar of qubes-core-qrexec's parser
(qrexec/policy/parser.py, doc/multifile-policy.markdown):

- a line is stripped; empty lines and lines starting with '#' are comments;
- '!include PATH', '!include-dir PATH', '!include-service SERVICE ARGUMENT
  PATH' and '!compat-4.0' are directives (the generator writes none);
- anything else is a rule: whitespace-separated fields
  SERVICE ARGUMENT SOURCE TARGET ACTION [PARAM=VALUE ...];
- SERVICE is '*' or a name from [A-Za-z0-9_.-] (no '+');
- ARGUMENT is '*' or '+' followed by [A-Za-z0-9_.+-]*, and a '*' service
  takes only a '*' argument;
- SOURCE is a qube name, uuid:UUID, @adminvm, @anyvm, @tag:T, @type:T,
  @dispvm:Q or @dispvm:@tag:T;
- TARGET is any of those, or @default or @dispvm;
- ACTION is allow, deny or ask; parameters KEY=VALUE, each key once:
  deny takes notify; allow target, user, notify, autostart; ask those and
  default_target; notify and autostart are yes or no; target= and
  default_target= are a qube name, @adminvm, @dispvm or @dispvm:...;
- allow towards @default needs target=.

On top of the format, the generator's own convention: a comment whose '#'
is followed directly by a word is a rule left to complete, and must be a
valid rule once the '#' is removed.

Checked here: every golden file in t/policy/ and what qrexec-proxy policy
writes for t/policy/allowlists.yaml reads without an error; lines that the
format refuses are refused by the reader; and the rules, evaluated as qrexec
does (the first rule that matches decides), allow exactly the calls the
chains allow.

And every dom0 policy line the documentation shows (README, doc/*.md,
the man pages doc/*.1, *.5, *.7, the comments of conf/**/*.yaml): a line
that looks like a rule (SERVICE, then '*' or '+ARGUMENT', then an action
among the next fields) must read without an error and be one that
qrexec-proxy policy writes, for one of the example configurations
(conf/, conf/examples/, t/policy/*.yaml) and the proxy qube the line
names: a rule of its output, or one of its commented-out rules completed
(TARGET, SERVICE, NAME, ARGUMENT filled in, @anyvm narrowed to a qube),
or one of its transparent redirects for callers that ask for @default or
come from a group of qubes (@anyvm, @type:, @tag:), which the generator
cannot write (it writes one per listed source, towards the entry's target).
A rule that sends the caller's call to @default, or to any other qube
than the proxy, matches nothing, and fails.

Exit status: 0 pass, 1 fail, as the automake test harness expects.
"check-policy.py --read FILE" reads one policy file with the reader alone;
"check-policy.py --docs" checks the documentation's lines alone.
"""
import glob
import os
import re
import subprocess
import sys
import tempfile

RPCNAME = re.compile(r"^[A-Za-z0-9_.+-]*$")
QUBE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,30}$")
UUID = re.compile(r"^uuid:[0-9a-fA-F-]{36}$")

PARAMS = {
    "deny": {"notify"},
    "allow": {"target", "user", "notify", "autostart"},
    "ask": {"target", "default_target", "user", "notify", "autostart"},
}


class PolicyError(Exception):
    pass


def _qube_or_keyword(token, allowed_exact, allowed_prefixes, what):
    if not token:
        raise PolicyError(f"empty {what}")
    if token.startswith("@") or token == "*":
        if token in allowed_exact:
            return
        for prefix in allowed_prefixes:
            if token.startswith(prefix):
                # the parser wants a value, and one that is not another keyword
                rest = token[len(prefix):]
                if rest and not rest.startswith("@") and re.match(r"^[A-Za-z0-9_.-]+$", rest):
                    return
        raise PolicyError(f"invalid {what} token {token!r}")
    if not (QUBE.match(token) or UUID.match(token)):
        raise PolicyError(f"{what} {token!r} is not a qube name")


def check_source(token):
    _qube_or_keyword(token, {"@adminvm", "@anyvm"},
                     ["@dispvm:@tag:", "@dispvm:", "@tag:", "@type:"], "source")


def check_target(token):
    _qube_or_keyword(token, {"@adminvm", "@anyvm", "@default", "@dispvm"},
                     ["@dispvm:@tag:", "@dispvm:", "@tag:", "@type:"], "target")


def check_redirect(token):
    _qube_or_keyword(token, {"@adminvm", "@dispvm"}, ["@dispvm:"], "target= value")


class Rule:
    def __init__(self, fields, lineno):
        if len(fields) < 5:
            raise PolicyError("wrong number of fields")
        self.service, self.argument, self.source, self.target, self.action = fields[:5]
        self.params = {}
        self.lineno = lineno
        if self.service != "*":
            if not self.service or not RPCNAME.match(self.service) or "+" in self.service:
                raise PolicyError(f"service {self.service!r} contains invalid characters")
        if self.argument != "*":
            if not RPCNAME.match(self.argument):
                raise PolicyError(f"argument {self.argument!r} contains invalid characters")
            if not self.argument.startswith("+"):
                raise PolicyError(f"argument {self.argument!r} does not start with +")
            if self.service == "*":
                raise PolicyError("only * argument allowed for * service")
        check_source(self.source)
        check_target(self.target)
        if self.action not in PARAMS:
            raise PolicyError(f"invalid action: {self.action}")
        for p in fields[5:]:
            if "=" not in p:
                raise PolicyError(f"invalid action parameter syntax: {p!r}")
            k, v = p.split("=", 1)
            if k in self.params:
                raise PolicyError(f"parameter given twice: {k!r}")
            if k not in PARAMS[self.action]:
                raise PolicyError(f"invalid parameter {k!r} for action {self.action}")
            if k in ("notify", "autostart") and v not in ("yes", "no"):
                raise PolicyError(f"{k!r} is {v!r}, but can be only 'yes' or 'no'")
            if k in ("target", "default_target"):
                check_redirect(v)
            self.params[k] = v
        if self.target == "@default" and self.action == "allow" and "target" not in self.params:
            raise PolicyError("allow action for @default rule must specify target= option")

    def matches(self, service, argument, source, target):
        """As qrexec evaluates a call, for the tokens the generator uses."""
        if self.service != "*" and self.service != service:
            return False
        if self.argument != "*" and self.argument != argument:
            return False
        if self.source == "@anyvm":
            if source == "dom0":
                return False
        elif self.source != source:
            return False
        if self.target == "@anyvm":
            return target != "dom0"
        return self.target == target


def read_policy(text):
    """Returns (rules, commented-out rules, errors); errors as 'LINE: message'."""
    rules, templates, errors = [], [], []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        try:
            if not line:
                continue
            if line.startswith("#"):
                # the generator's rules left to complete: '#' then a word
                if len(line) > 1 and line[1] not in " #":
                    templates.append(Rule(line[1:].split(), lineno))
                continue
            if line.startswith("!"):
                directive, *params = line.split()
                n = {"!include": 1, "!include-dir": 1, "!include-service": 3, "!compat-4.0": 0}.get(directive)
                if n is None:
                    raise PolicyError("invalid directive")
                if len(params) != n:
                    raise PolicyError("invalid number of params")
                continue
            rules.append(Rule(line.split(), lineno))
        except PolicyError as e:
            errors.append(f"{lineno}: {e}: {raw!r}")
    return rules, templates, errors


def decide(rules, service, argument, source, target):
    for r in rules:
        if r.matches(service, argument, source, target):
            return r.action
    return "deny (no rule)"


GOOD_LINES = [
    "qrexec-proxy +c+vault+qubes.Filecopy work sys-proxy allow",
    "qrexec-proxy * @anyvm sys-proxy deny",
    "qubes.Filecopy + sys-proxy vault allow",
    "my.Service +a+b.c-d_e sys-proxy vault allow",
    "* * @anyvm @anyvm deny notify=no",
    "x.Y * @tag:t @default allow target=vault",
    "x.Y * @type:AppVM @dispvm:dvm-template ask default_target=vault user=root",
    "x.Y +  work  @adminvm  allow  autostart=no",
    "!include-dir include",
    "!compat-4.0",
]

BAD_LINES = {
    "too few fields": "qrexec-proxy +a work sys-proxy",
    "'+' in the service": "qrexec+proxy +a work sys-proxy allow",
    "argument without '+'": "qrexec-proxy a work sys-proxy allow",
    "argument with a space-less bad character": "qrexec-proxy +a/b work sys-proxy allow",
    "argument with '*' service": "* +a work sys-proxy allow",
    "unknown action": "x.Y + work vault permit",
    "parameter without '='": "x.Y + work vault allow target",
    "parameter twice": "x.Y + work vault allow user=a user=b",
    "parameter of another action": "x.Y + work vault deny target=vault",
    "notify not yes or no": "x.Y + work vault deny notify=1",
    "@default as source": "x.Y + @default vault allow",
    "@dispvm as source": "x.Y + @dispvm vault allow",
    "unknown keyword": "x.Y + @anything vault allow",
    "empty tag": "x.Y + @tag: vault allow",
    "@default allow without target=": "x.Y + work @default allow",
    "@anyvm as target=": "x.Y + work vault allow target=@anyvm",
    "unknown directive": "!include-all x",
    "directive without its path": "!include",
}


def read_file(path):
    """--read FILE: reads one policy file; exit 0 when it has no error."""
    with open(path, encoding="utf-8") as f:
        rules, templates, errors = read_policy(f.read())
    for e in errors:
        print(f"{path}:{e}")
    if not errors:
        print(f"{len(rules)} rules, {len(templates)} left to complete, no error")
    return 1 if errors else 0


# ---- the documentation's policy lines ----

ACTIONS = ("allow", "deny", "ask")
PLACEHOLDERS = {"TARGET": r"[A-Za-z0-9_.-]+", "SERVICE": r"[A-Za-z0-9_.-]+",
                "NAME": r"[A-Za-z0-9_.-]+", "ARGUMENT": r"[A-Za-z0-9_.+-]*"}


def unroff(line):
    line = line.replace("\\-", "-").replace("\\(dq", '"').replace("\\e", "\\").replace("\\&", "")
    return re.sub(r"\\f[BIRP]", "", line)


def looks_like_rule(text):
    """Whether TEXT is meant as a policy rule: SERVICE, '*' or '+ARG', and an action after them."""
    f = text.split()
    return (len(f) >= 3 and re.match(r"^(\*|[A-Za-z0-9_.-]+)$", f[0]) is not None and
            (f[1] == "*" or f[1].startswith("+")) and any(a in f[2:6] for a in ACTIONS))


def doc_lines(srcdir):
    """(where, text) of every line of the documentation that looks like a policy rule."""
    found = []

    def add(path, n, text):
        text = text.strip().rstrip("\\").strip()
        if looks_like_rule(text):
            found.append((f"{os.path.relpath(path, srcdir)}:{n}", text))

    texts = [os.path.join(srcdir, "README")] + sorted(glob.glob(os.path.join(srcdir, "doc", "*.md")))
    for path in texts:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                add(path, n, line)
                # inline code: `...` within a sentence
                for span in re.findall(r"`([^`]+)`", line):
                    if span.strip() != line.strip():
                        add(path, n, span)
    for path in sorted(glob.glob(os.path.join(srcdir, "doc", "*.[157]"))):
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.startswith((".", "'")):
                    add(path, n, unroff(line))
    confs = sorted(glob.glob(os.path.join(srcdir, "conf", "**", "*.yaml"), recursive=True))
    for path in confs:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if "#" in line:
                    add(path, n, line.split("#", 1)[1])
    return found


def example_configs(srcdir):
    return (sorted(glob.glob(os.path.join(srcdir, "conf", "**", "*.yaml"), recursive=True)) +
            sorted(glob.glob(os.path.join(srcdir, "t", "policy", "*.yaml"))))


def template_matches(template, rule):
    """Whether RULE is TEMPLATE (a rule the generator left to complete) completed."""
    t, r = template.split(), rule.split()
    if len(t) != len(r):
        return False
    for i, (a, b) in enumerate(zip(t, r)):
        if i == 2 and a == "@anyvm":
            continue  # a source narrowed to one qube (the grammar checks the name)
        pattern = "".join(PLACEHOLDERS.get(part, re.escape(part))
                          for part in re.split(r"(TARGET|SERVICE|NAME|ARGUMENT)", a))
        if not re.fullmatch(pattern, b):
            return False
    return True


def with_filter_path(config, builddir, tmp):
    """A copy of CONFIG that finds the built filters, as installed ones would be."""
    with open(config, encoding="utf-8") as f:
        text = f.read()
    head = f'filter_path: ["{os.path.join(builddir, "filters")}"]'
    if re.search(r"^filter_path:", text, flags=re.M):
        text = re.sub(r"^filter_path:.*$", head, text, flags=re.M)
    else:
        text = head + "\n" + text
    path = os.path.join(tmp, f"{len(os.listdir(tmp))}-{os.path.basename(config)}")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def redirect_matches(generated, rule):
    """Whether RULE is the redirect GENERATED (SERVICE ARG SOURCE TARGET allow
    target=PROXY) for callers that ask for @default instead of the entry's
    target (qubes-updates-proxy-forwarder calls @default), or from a group
    of qubes (@anyvm, @type:, @tag:) instead of the entry's listed sources:
    the proxy's entry still takes only its own sources. The generator writes
    one redirect per listed source, towards the entry's target."""
    g, r = generated.split(), rule.split()
    if len(g) != 6 or len(r) != 6 or not g[5].startswith("target="):
        return False
    if g[0] != r[0] or g[1] != r[1] or g[4] != r[4] or g[5] != r[5]:
        return False
    source_ok = r[2] == g[2] or r[2] == "@anyvm" or r[2].startswith(("@type:", "@tag:"))
    target_ok = r[3] == g[3] or r[3] == "@default"
    return source_ok and target_ok


def check_docs(srcdir, builddir, result):
    builddir = os.path.abspath(builddir)
    prog = os.path.join(builddir, "qrexec-proxy")
    lines = doc_lines(srcdir)
    result(len(lines) >= 8, f"{len(lines)} policy lines in the documentation")
    with tempfile.TemporaryDirectory() as tmp:
        configs = [(c, with_filter_path(c, builddir, tmp)) for c in example_configs(srcdir)]
        check_doc_lines(srcdir, prog, configs, lines, result)


def check_doc_lines(srcdir, prog, configs, lines, result):
    cache = {}

    def generated(config, qube):
        if (config, qube) not in cache:
            p = subprocess.run([prog, "policy", "--config", config, "--proxy-qube", qube],
                               capture_output=True, text=True, check=False,
                               env=dict(os.environ, SOURCE_DATE_EPOCH="0"))
            rules, templates = [], []
            if p.returncode == 0:
                rules = [" ".join(ln.split()) for ln in p.stdout.splitlines()
                         if ln.strip() and not ln.startswith("#")]
                templates = [" ".join(ln[1:].split()) for ln in p.stdout.splitlines()
                             if len(ln) > 1 and ln[0] == "#" and ln[1] not in " #"]
            cache[(config, qube)] = (rules, templates)
        return cache[(config, qube)]

    for where, text in lines:
        _, _, errs = read_policy(text)
        if errs:
            result(False, f"{where}: {text}", "; ".join(e.split(": ", 1)[1] for e in errs))
            continue
        rule = " ".join(text.split())
        # the proxy qube is one of the qubes the line names
        qubes = {tok.split("=", 1)[-1] for tok in rule.split()[2:]
                 if QUBE.match(tok.split("=", 1)[-1]) and tok.split("=", 1)[-1] not in ACTIONS}
        # a rule written as it is, else a rule left to complete, completed,
        # else a redirect for callers that ask for @default
        source = None
        ways = {
            "": lambda rules, templates: rule in rules,
            ", completed": lambda rules, templates: any(template_matches(t, rule) for t in templates),
            ", a redirect for callers asking @default": lambda rules, templates:
                any(redirect_matches(g, rule) for g in rules),
        }
        for how, matches in ways.items():
            for qube in sorted(qubes):
                for config, copy in configs:
                    if matches(*generated(copy, qube)):
                        source = f"{os.path.relpath(config, srcdir)}, --proxy-qube {qube}{how}"
                        break
                if source:
                    break
            if source:
                break
        result(source is not None, f"{where}: {text}" + (f" (written for {source})" if source else ""),
               "" if source else "qrexec-proxy policy writes no such rule for any example configuration and "
               f"proxy qube ({', '.join(sorted(qubes)) or 'none named'})")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--read":
        return read_file(sys.argv[2])
    docs_only = len(sys.argv) == 2 and sys.argv[1] == "--docs"
    srcdir = os.environ.get("QP_SRCDIR") or os.environ.get("srcdir") or \
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    builddir = os.environ.get("QP_BUILDDIR")
    failures = 0

    def result(ok, what, detail=""):
        nonlocal failures
        print(f"{'PASS' if ok else 'FAIL'}: {what}{': ' + detail if detail else ''}")
        failures += not ok

    if docs_only:
        if not builddir:
            print("SKIP: QP_BUILDDIR not set")
            return 77
        check_docs(srcdir, builddir, result)
        print(f"{'FAIL' if failures else 'PASS'}: check-policy --docs: {failures} failure(s)")
        return 1 if failures else 0

    for line in GOOD_LINES:
        _, _, errs = read_policy(line)
        result(not errs, f"accepted: {line}", "; ".join(errs))
    for what, line in BAD_LINES.items():
        _, _, errs = read_policy(line)
        result(bool(errs), f"refused: {what}", "" if errs else f"the reader accepts {line!r}")

    goldens = sorted(glob.glob(os.path.join(srcdir, "t", "policy", "*.policy")))
    result(len(goldens) >= 4, f"{len(goldens)} golden files in t/policy")
    for path in goldens:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        rules, templates, errs = read_policy(text)
        name = os.path.relpath(path, srcdir)
        result(not errs, f"{name}: {len(rules)} rules, {len(templates)} left to complete", "; ".join(errs))
        directives = [ln for ln in text.splitlines() if ln.strip().startswith("!")]
        result(not directives, f"{name}: no directive", "; ".join(directives))
        # no wildcard allow: only the closing deny may have a '*' argument
        wide = [f"line {r.lineno}" for r in rules if r.action != "deny" and
                ("*" in (r.service,) or r.argument == "*" and r.service == "qrexec-proxy" or
                 r.source == "@anyvm" and r.service != "qrexec-proxy")]
        result(not wide, f"{name}: no wildcard allow towards the proxy", ", ".join(wide))
        result(bool(rules) and rules[-1].action == "deny" and rules[-1].argument == "*" and
               rules[-1].service == "qrexec-proxy",
               f"{name}: ends with the deny for anything else")

    if not builddir:
        print("SKIP: QP_BUILDDIR not set: the generator itself is not run")
    else:
        prog = os.path.join(builddir, "qrexec-proxy")
        conf = os.path.join(srcdir, "t", "policy", "allowlists.yaml")
        env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000")
        p = subprocess.run([prog, "policy", "--config", conf, "--proxy-qube", "proxy"],
                           capture_output=True, text=True, env=env, check=False)
        result(p.returncode == 0, "qrexec-proxy policy exits 0", p.stderr[-2000:] if p.returncode else "")
        rules, templates, errs = read_policy(p.stdout)
        result(not errs and rules, f"qrexec-proxy policy: {len(rules)} rules, {len(templates)} left to complete",
               "; ".join(errs))
        # what qrexec would decide, first match wins: (service, argument, source, target) -> allowed?
        calls = [
            # towards the proxy, as the callers ask
            (("qrexec-proxy", "+exact+vault+qubes.Filecopy", "work", "proxy"), True),
            (("qrexec-proxy", "+exact+backup+my.Service+arg1", "personal", "proxy"), True),
            (("qrexec-proxy", "+exact+backup+my.Service+arg2", "personal", "proxy"), False),
            (("qrexec-proxy", "+exact+backup+my.Service", "personal", "proxy"), False),
            (("qrexec-proxy", "+exact+vault+qubes.Filecopy", "stranger", "proxy"), False),
            (("qrexec-proxy", "+exact+dom0+qubes.Filecopy", "work", "proxy"), False),
            (("qrexec-proxy", "+exact+vault+qubes.Filecopy", "work", "other-proxy"), False),
            (("qrexec-proxy", "+any-argument+vault+my.Any", "work", "proxy"), True),
            (("qrexec-proxy", "+any-argument+vault+my.Any+x", "work", "proxy"), False),
            (("qrexec-proxy", "+any-argument+vault+my.Deep+sub", "work", "proxy"), True),
            (("qrexec-proxy", "+prefix+vault+my.prefix", "work", "proxy"), False),
            (("qrexec-proxy", "+prefix+vault+my.Service", "work", "proxy"), True),
            (("qrexec-proxy", "+from-anyone+vault+qubes.Filecopy", "stranger", "proxy"), True),
            (("qrexec-proxy", "+from-anyone+vault+qubes.Filecopy", "dom0", "proxy"), False),
            (("qrexec-proxy", "+no-targets+vault+my.Service", "work", "proxy"), False),
            (("qrexec-proxy", "+no-services+vault+x.Y", "work", "proxy"), False),
            (("qrexec-proxy", "+open+vault+x.Y", "work", "proxy"), False),
            (("qrexec-proxy", "+", "work", "proxy"), False),
            # from the proxy to the destinations
            (("qubes.Filecopy", "+", "proxy", "vault"), True),
            (("qubes.Filecopy", "+", "proxy", "backup"), True),
            (("qubes.Filecopy", "+x", "proxy", "vault"), False),
            (("qubes.Filecopy", "+", "work", "vault"), False),
            (("my.Service", "+arg1", "proxy", "vault"), True),
            (("my.Service", "+", "proxy", "vault"), True),
            (("my.Any", "+whatever", "proxy", "vault"), True),
            (("my.Any", "+", "proxy", "vault"), True),
            (("my.Any", "+", "proxy", "backup"), False),
            (("my.Deep", "+sub", "proxy", "vault"), True),
            (("my.Deep", "+sub+x", "proxy", "vault"), False),
            (("my.prefix", "+", "proxy", "vault"), False),
        ]
        for (service, argument, source, target), want in calls:
            got = decide(rules, service, argument, source, target)
            result((got == "allow") == want,
                   f"{source} -> {target} {service} {argument}: {'allowed' if want else 'refused'}",
                   f"the rules say {got}")

        # the policy lines of README, the man pages and the example configurations
        check_docs(srcdir, builddir, result)

    print(f"{'FAIL' if failures else 'PASS'}: check-policy: {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
