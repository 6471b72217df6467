#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Checks schema/qrexec-proxy.schema.json against the shipped examples.

Every conf/*.yaml and conf/examples/*.yaml must validate, and a set of
documents that qrexec-proxy refuses must be refused by the schema too, so
that an editor using the schema tells the truth. The C loader stays the
authority (it also looks filters up on disk); t/check_config tests it.

Exit status: 0 pass, 1 fail, 77 skip (python3-jsonschema or python3-yaml
missing), as the automake test harness expects.
"""
import glob
import json
import os
import sys

try:
    import jsonschema
    import yaml
except ImportError as e:
    print(f"SKIP: {e}; install python3-jsonschema and python3-yaml")
    sys.exit(77)


class StrictLoader(yaml.SafeLoader):
    """PyYAML keeps the last of duplicate keys silently; qrexec-proxy refuses them."""


def _mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)

# Templates filled in by the build (conf/demo.yaml) get plausible values.
TEMPLATE_VALUES = {"@B@": "/build", "@STATE@": "/var/lib/qrexec-proxy/count"}

GOOD = {
    "minimal": "chains: {a: {filters: []}}",
    "every form": """
connector: [/usr/lib/qubes/qrexec-client-vm, "{target}", "x{service}", 5]
filter_path: /usr/local/lib/qrexec-proxy/filters
chains:
  a.b_c-1:
    filters:
      - pass
      - /usr/local/bin/my-filter
      - {name: byte-limit, args: [0], direction: dst2src}
      - {name: timeout, args: [--seconds, 1.5], direction: both}
    admit:
      - count
      - {name: count, args: [--limit, 10, --per-source]}
    connector: [/bin/true]
""",
    "transparent": """
chains: {one-way: {filters: []}}
transparent:
  - {service: qubes.Filecopy, sources: [work, personal], target: vault, chain: one-way}
  - {service: my.Service, target: sys-net, chain: one-way}
""",
    "transparent empty": "chains: {a: {filters: []}}\ntransparent: []",
    "resources": """
chains:
  a: {filters: [], memory_max: 256M, tasks_max: 32, cpu_weight: 50, log_lines_per_second: 1000, log_bytes: 1G}
  b: {filters: [], memory_max: 1073741824, log_bytes: 65536}
""",
}

BAD = {
    "empty document": "",
    "not a mapping": "[chains]",
    "no chains": "connector: [/bin/true]",
    "chains empty": "chains: {}",
    "unknown top-level key": "chains: {a: {filters: []}}\nextra: 1",
    "unknown chain key": "chains: {a: {filters: [], admits: []}}",
    "chain without filters": "chains: {a: {admit: []}}",
    "filters a mapping": "chains: {a: {filters: {}}}",
    "args a scalar": "chains: {a: {filters: [{name: pass, args: 5}]}}",
    "args with a mapping": "chains: {a: {filters: [{name: pass, args: [{x: 1}]}]}}",
    "args with null": "chains: {a: {filters: [{name: pass, args: [~]}]}}",
    "item without name": "chains: {a: {filters: [{args: [x]}]}}",
    "unknown item key": "chains: {a: {filters: [{name: pass, arg: [x]}]}}",
    "bad direction": "chains: {a: {filters: [{name: pass, direction: up}]}}",
    "direction in admit": "chains: {a: {filters: [], admit: [{name: count, direction: both}]}}",
    "relative filter path": "chains: {a: {filters: [./pass]}}",
    "bad short name": "chains: {a: {filters: [-pass]}}",
    "bad chain name": "chains: {-a: {filters: []}}",
    "chain name with a space": "chains: {'a b': {filters: []}}",
    "chain name too long": "chains: {%s: {filters: []}}" % ("x" * 256),
    "empty connector": "connector: []\nchains: {a: {filters: []}}",
    "relative connector": "connector: [qrexec-client-vm]\nchains: {a: {filters: []}}",
    "connector a string": "connector: /bin/true\nchains: {a: {filters: []}}",
    "placeholder in program": "connector: ['/usr/lib/{target}']\nchains: {a: {filters: []}}",
    "unknown placeholder": "connector: [/bin/true, '{targte}']\nchains: {a: {filters: []}}",
    "lone brace": "connector: [/bin/true, 'a{b']\nchains: {a: {filters: []}}",
    "bad chain connector": "chains: {a: {filters: [], connector: [x]}}",
    "relative filter_path": "filter_path: [lib/filters]\nchains: {a: {filters: []}}",
    "filter_path a mapping": "filter_path: {a: b}\nchains: {a: {filters: []}}",
    "duplicate chain": "chains:\n  a: {filters: []}\n  a: {filters: [pass]}",
    "duplicate key": "chains: {a: {filters: [], filters: [pass]}}",
    "transparent a mapping": "chains: {a: {filters: []}}\ntransparent: {service: s, target: t, chain: a}",
    "transparent without target": "chains: {a: {filters: []}}\ntransparent: [{service: s, chain: a}]",
    "transparent without chain": "chains: {a: {filters: []}}\ntransparent: [{service: s, target: t}]",
    "transparent service with argument": "chains: {a: {filters: []}}\ntransparent: [{service: s+x, target: t, chain: a}]",
    "transparent qrexec-proxy": "chains: {a: {filters: []}}\ntransparent: [{service: qrexec-proxy, target: t, chain: a}]",
    "transparent bad target": "chains: {a: {filters: []}}\ntransparent: [{service: s, target: '@dispvm', chain: a}]",
    "transparent empty sources": "chains: {a: {filters: []}}\ntransparent: [{service: s, sources: [], target: t, chain: a}]",
    "transparent sources a string": "chains: {a: {filters: []}}\ntransparent: [{service: s, sources: work, target: t, chain: a}]",
    "transparent unknown key": "chains: {a: {filters: []}}\ntransparent: [{service: s, target: t, chain: a, targets: [t]}]",
    "memory_max with a unit of its own": "chains: {a: {filters: [], memory_max: 1MB}}",
    "memory_max negative": "chains: {a: {filters: [], memory_max: -1}}",
    "tasks_max zero": "chains: {a: {filters: [], tasks_max: 0}}",
    "cpu_weight too big": "chains: {a: {filters: [], cpu_weight: 10001}}",
    "log_lines_per_second a string": "chains: {a: {filters: [], log_lines_per_second: many}}",
}


def main():
    srcdir = os.environ.get("QP_SRCDIR") or os.environ.get("srcdir") or \
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    schema_file = os.path.join(srcdir, "schema", "qrexec-proxy.schema.json")
    failures = 0

    def result(ok, what, detail=""):
        nonlocal failures
        print(f"{'PASS' if ok else 'FAIL'}: {what}{': ' + detail if detail else ''}")
        failures += not ok

    with open(schema_file, encoding="utf-8") as f:
        schema = json.load(f)
    cls = jsonschema.Draft7Validator
    try:
        cls.check_schema(schema)
        result(True, f"{schema_file} is a valid draft-07 schema")
    except jsonschema.exceptions.SchemaError as e:
        result(False, f"{schema_file} is not a valid schema", e.message)
        return 1
    validator = cls(schema)

    def errors_of(text):
        try:
            doc = yaml.load(text, Loader=StrictLoader)
        except yaml.YAMLError as e:
            return [f"YAML: {e}"]
        return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
                for e in validator.iter_errors(doc)]

    files = sorted(glob.glob(os.path.join(srcdir, "conf", "*.yaml")) +
                   glob.glob(os.path.join(srcdir, "conf", "examples", "*.yaml")))
    if not files:
        result(False, f"no example files found under {srcdir}/conf")
    for path in files:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for k, v in TEMPLATE_VALUES.items():
            text = text.replace(k, v)
        errs = errors_of(text)
        result(not errs, f"{os.path.relpath(path, srcdir)} validates", "; ".join(errs))

    for what, text in GOOD.items():
        errs = errors_of(text)
        result(not errs, f"accepted: {what}", "; ".join(errs))
    for what, text in BAD.items():
        errs = errors_of(text)
        result(bool(errs), f"refused: {what}", "" if errs else "the schema accepts it")

    print(f"{'FAIL' if failures else 'PASS'}: check-schema: {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
