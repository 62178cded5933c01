#!/usr/bin/env python3
"""scripts/layers.py: checks the #include "..." lines of src/ and fcgi/ against
the layer order written in docs/design.md.

A module is the base name of a file in src/ or fcgi/ (src/fetch.c and
src/fetch.h are the module fetch). docs/design.md lists the layers between
<!-- layers:begin --> and <!-- layers:end -->, from the lowest up, one a line:

    - base: banned, log, deadline

A module may include modules of its own line or of a line above it in the
list, never of a line below. Every module must be listed exactly once, every
listed module must exist, and the line named fcgi, which is the last, holds
exactly the modules of fcgi/.

Usage: scripts/layers.py [REPO]   (REPO defaults to the current directory)
Prints one line per problem and "layer-check: N modules, M includes, OK" or
exits 1.
"""

import os
import re
import sys

BEGIN = "<!-- layers:begin -->"
END = "<!-- layers:end -->"
DESIGN = "docs/design.md"
DIRS = ("src", "fcgi")
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')
LAYER = re.compile(r"^\s*[-*]\s*([A-Za-z0-9_-]+)\s*:\s*(.*?)\s*$")


class Layers:
    """The parsed list: names[i] is line i's name, line_of[module] = i."""

    def __init__(self):
        self.names = []
        self.modules = []
        self.line_of = {}

    def where(self, i):
        return "'- %s:' (line %d of %d, lowest first)" % (self.names[i], i + 1, len(self.names))


def read_layers(repo, errors):
    """Parses the marked block of docs/design.md; appends problems to errors."""
    layers = Layers()
    path = os.path.join(repo, DESIGN)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        errors.append("%s: cannot read: %s" % (DESIGN, e.strerror))
        return layers
    start = text.find(BEGIN)
    stop = text.find(END, start + 1)
    if start < 0 or stop < 0:
        errors.append("%s: no %s ... %s block" % (DESIGN, BEGIN, END))
        return layers
    first_line = text.count("\n", 0, start) + 1
    block = text[start + len(BEGIN):stop].split("\n")
    for offset, raw in enumerate(block):
        if not raw.strip():
            continue
        m = LAYER.match(raw)
        if not m:
            errors.append("%s:%d: not a layer line ('- name: module, module'): %s"
                          % (DESIGN, first_line + offset, raw.strip()))
            continue
        i = len(layers.names)
        layers.names.append(m.group(1))
        mods = [x.strip() for x in m.group(2).split(",") if x.strip()]
        layers.modules.append(mods)
        for mod in mods:
            if mod in layers.line_of:
                errors.append("%s:%d: module '%s' is listed twice (also on %s)"
                              % (DESIGN, first_line + offset, mod,
                                 layers.where(layers.line_of[mod])))
            layers.line_of[mod] = i
    if not layers.names:
        errors.append("%s: the layer block lists no layers" % DESIGN)
    return layers


def read_modules(repo, errors):
    """Returns ({module: directory}, {module: first file}, and
    [(file, line number, module, included module)])."""
    where = {}
    files = {}
    includes = []
    for d in DIRS:
        top = os.path.join(repo, d)
        for name in sorted(os.listdir(top)):
            if not name.endswith((".c", ".h")):
                continue
            mod = name[:-2]
            if where.get(mod, d) != d:
                errors.append("%s/%s: module '%s' exists in both %s/ and %s/"
                              % (d, name, mod, where[mod], d))
            where[mod] = d
            files.setdefault(mod, "%s/%s" % (d, name))
            with open(os.path.join(top, name), encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if m:
                        target = os.path.basename(m.group(1))
                        target = re.sub(r"\.h$", "", target)
                        includes.append(("%s/%s" % (d, name), n, mod, target))
    return where, files, includes


def check_fcgi_line(layers, where, errors):
    """The last line is named fcgi and holds exactly the modules of fcgi/."""
    if not layers.names:
        return
    last = len(layers.names) - 1
    if layers.names[last] != "fcgi":
        errors.append("%s: the last layer line must be '- fcgi: ...' (the modules of fcgi/)"
                      % DESIGN)
        return
    for mod in layers.modules[last]:
        if where.get(mod, "fcgi") != "fcgi":
            errors.append("%s: module '%s' is in %s/ but listed on the line %s: move it to a lower line"
                          % (DESIGN, mod, where[mod], layers.where(last)))
    for mod, d in sorted(where.items()):
        if d == "fcgi" and layers.line_of.get(mod, last) != last:
            errors.append("%s: module '%s' is in fcgi/ but listed on the line %s: move it to the line %s"
                          % (DESIGN, mod, layers.where(layers.line_of[mod]),
                             layers.where(last)))


def suggest(layers, mod, includes):
    """Says on which line an unlisted module belongs, from what it includes and
    what includes it."""
    low = [layers.line_of[t] for (_, _, m, t) in includes
           if m == mod and t != mod and t in layers.line_of]
    high = [layers.line_of[m] for (_, _, m, t) in includes
            if t == mod and m != mod and m in layers.line_of]
    need = max(low, default=0)
    limit = min(high, default=len(layers.names) - 1)
    if need == limit:
        return "add '%s' to the line %s" % (mod, layers.where(need))
    if need < limit:
        return "add '%s' to the line %s (the lowest it fits) or to a line up to %s" % (
            mod, layers.where(need), layers.where(limit))
    return ("no line fits '%s': it includes a module of the line %s but a module of the "
            "lower line %s includes it"
            % (mod, layers.where(need), layers.where(limit)))


def check(repo):
    errors = []
    layers = read_layers(repo, errors)
    where, files, includes = read_modules(repo, errors)
    if not layers.names:
        return errors, 0, 0
    for mod in sorted(where):
        if mod not in layers.line_of:
            errors.append("%s: module '%s' is not in the layer list of %s: %s"
                          % (files[mod], mod, DESIGN, suggest(layers, mod, includes)))
    for mod in sorted(layers.line_of):
        if mod not in where:
            errors.append("%s: module '%s' is listed on the line %s but no %s exists: "
                          "remove it from that line"
                          % (DESIGN, mod, layers.where(layers.line_of[mod]),
                             " or ".join("%s/%s.[ch]" % (d, mod) for d in DIRS)))
    check_fcgi_line(layers, where, errors)
    for path, n, mod, target in includes:
        if target == mod or mod not in layers.line_of:
            continue
        if target not in where:
            errors.append("%s:%d: includes \"%s.h\", which is no module of %s"
                          % (path, n, target, " or ".join(d + "/" for d in DIRS)))
        elif target in layers.line_of and layers.line_of[target] > layers.line_of[mod]:
            errors.append("%s:%d: module '%s' of the line %s includes module '%s' of the "
                          "higher line %s" % (path, n, mod, layers.where(layers.line_of[mod]),
                                              target, layers.where(layers.line_of[target])))
    return errors, len(where), len(includes)


def main():
    repo = sys.argv[1] if len(sys.argv) > 1 else "."
    errors, nmods, nincs = check(repo)
    for e in errors:
        print(e)
    if errors:
        print("layer-check: %d problems; the order is in %s between %s and %s"
              % (len(errors), DESIGN, BEGIN, END))
        return 1
    print("layer-check: %d modules, %d includes, OK" % (nmods, nincs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
