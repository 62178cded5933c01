#!/usr/bin/env python3
"""Writes docs/settings.md, the table of every setting, from `imgfcgi --print-env`.

Usage: scripts/settings-doc.py ENV_FILE > docs/settings.md

ENV_FILE is conf/env.example (or the output of `imgfcgi --print-env`): a comment
block of the setting's meaning, then NAME=default, one setting after another.
`make env-check` fails when docs/settings.md is not what this prints.
"""
import sys

HEAD = """# Settings

Every setting imgfcgi reads, with its default and meaning, in the order of
`imgfcgi --print-env` (which prints the same list as `conf/env.example`). This
page is generated from that output by `scripts/settings-doc.py`; `make
env-check` fails when it is out of date. `IMGPROXY_*` variables mean what they
mean in imgproxy v3; `IMGFCGI_*` are imgfcgi's own. A value that does not parse
or is out of range stops start-up with a message naming it.

| variable | default | meaning |
|---|---|---|
"""


def cell(text):
    return text.replace("|", "\\|")


def main(path):
    out = [HEAD]
    comment = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#"):
                comment.append(line[1:].strip())
            elif "=" in line:
                name, default = line.split("=", 1)
                meaning = " ".join(comment)
                shown = "`%s`" % cell(default) if default else "(empty)"
                out.append("| `%s` | %s | %s |\n" % (name, shown, cell(meaning)))
                comment = []
            else:
                comment = []
    sys.stdout.write("".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
