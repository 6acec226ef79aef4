#!/usr/bin/env python3
"""Regenerates the tables of docs/directives.md and docs/daemon-options.md from the code.

The tables come from the built module itself: `apache2 -t -D DUMP_WSGI_DIRECTIVES` with
mod_gantry.so loaded prints the directive table of module/directives.cpp (status, as the
code has it) with the catalog of module/directive_catalog.cpp, and the option table of
core/daemon_options.cpp. Each doc keeps its prose; only the text between its
`<!-- BEGIN GENERATED: NAME -->` and `<!-- END GENERATED: NAME -->` lines is replaced.

  python3 scripts/directive-docs.py            # rewrite the docs (after a build)
  python3 scripts/directive-docs.py --check    # exit 1, with a diff, if a doc is stale
  --module PATH                                # mod_gantry.so (default build/modules/)

tests/integration/test_directive_docs.py runs --check, so a change to a table without
regenerating the docs fails the tests. Stdlib only; needs Debian's apache2.
"""
from __future__ import annotations

import argparse
import difflib
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
APACHE_BIN = "/usr/sbin/apache2"
MPM = "/usr/lib/apache2/modules/mod_mpm_event.so"
# Marker printed by the module before each table -> the doc that holds it.
DOCS = {"directives": REPO / "docs" / "directives.md",
        "daemon-options": REPO / "docs" / "daemon-options.md"}


def dump_tables(module: Path) -> dict[str, str]:
    """The module's generated tables, by name."""
    with tempfile.TemporaryDirectory(prefix="gantry-directive-docs-") as root:
        conf = Path(root) / "httpd.conf"
        conf.write_text(
            f"ServerRoot {root}\nDefaultRuntimeDir {root}\nPidFile {root}/httpd.pid\n"
            f"ErrorLog {root}/error.log\nServerName 127.0.0.1\nListen 127.0.0.1:9\n"
            f"LoadModule mpm_event_module {MPM}\nLoadModule wsgi_module {module}\n")
        run = subprocess.run([APACHE_BIN, "-t", "-D", "DUMP_WSGI_DIRECTIVES", "-f", str(conf)],
                             capture_output=True, text=True, timeout=60)
    if run.returncode != 0 or "<!-- directives -->" not in run.stdout:
        sys.exit(f"directive-docs: {APACHE_BIN} -t -D DUMP_WSGI_DIRECTIVES with {module} "
                 f"failed (rc {run.returncode}):\n{run.stdout}{run.stderr}")
    tables: dict[str, str] = {}
    for name, body in re.findall(r"<!-- ([a-z-]+) -->\n(.*?)(?=<!-- [a-z-]+ -->\n|\Z)",
                                 run.stdout, re.S):
        tables[name] = body
    missing = set(DOCS) - set(tables)
    if missing:
        sys.exit(f"directive-docs: the module printed no table for {sorted(missing)}")
    return tables


def regenerate(text: str, name: str, table: str) -> str:
    begin = f"<!-- BEGIN GENERATED: {name} (scripts/directive-docs.py; do not edit) -->\n"
    end = f"<!-- END GENERATED: {name} -->\n"
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        sys.exit(f"directive-docs: markers for '{name}' not found; expected the lines\n"
                 f"{begin}{end}")
    return text[:start + len(begin)] + table + text[stop:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if stale")
    parser.add_argument("--module", type=Path, default=REPO / "build" / "modules" / "mod_gantry.so")
    args = parser.parse_args()
    tables = dump_tables(args.module.resolve())
    stale = False
    for name, doc in DOCS.items():
        old = doc.read_text()
        new = regenerate(old, name, tables[name])
        if new == old:
            continue
        stale = True
        if args.check:
            sys.stdout.writelines(difflib.unified_diff(
                old.splitlines(True), new.splitlines(True), f"{doc} (in the repository)",
                f"{doc} (from the code)"))
        else:
            doc.write_text(new)
            print(f"directive-docs: regenerated {doc.relative_to(REPO)}")
    if args.check and stale:
        print("directive-docs: docs are stale; run: python3 scripts/directive-docs.py",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
