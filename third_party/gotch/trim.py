#!/usr/bin/env python3
"""trim.py: cut this vendored gotch v0.7.0 down to the functions whet reaches.

Run from the repository root after adding a gotch call to whet's code that the trimmed copy lacks:

    go mod download -json github.com/sugarme/gotch@v0.7.0   # prints Dir, the upstream copy
    python3 third_party/gotch/trim.py <Dir> && gofmt -w third_party

It starts again from upstream's ts/, libtch/ and pickle/ files that this copy keeps (TRIMMED; the folder's other
files are whet's own and left alone), keeps every top-level Go function or C/C++ function whose name whet's cgo
code (cmd/, native/) or an already-kept function mentions, and drops the rest. Names are matched as words, so it
keeps a little more than needed, never less. Header declarations follow the kept definitions. Three rewrites of
upstream's Go text: log.Fatal calls become fatal/fatalf (ts/fatal.go), a panic whet can recover, not a process
exit; and `*(*int)(unsafe.Pointer(&x))` becomes `int(x)` (upstream reads a 4-byte C int as an 8-byte Go int: the
top half is whatever lay beside it on the stack, so GradSetEnabled could report grad mode off when it was on and
ts.NoGrad then left it off); and each op's C.malloc(0) output pointer is freed on return (OUTPTR).
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
# Files copied from upstream and trimmed by this tool (the others in this folder are whet's own edits).
TRIMMED = [
    "ts/tensor-generated.go", "ts/must-tensor-generated.go", "ts/tensor.go", "ts/util.go", "ts/patch.go",
    "ts/print.go", "ts/data.go", "ts/index.go", "ts/iter.go", "ts/other.go", "ts/scalar.go", "ts/error.go",
    "libtch/c-generated.go", "libtch/tensor.go", "libtch/patch.go",
    "libtch/torch_api.cpp", "libtch/torch_api.h", "libtch/torch_api_generated.cpp.h", "libtch/torch_api_generated.h",
    "pickle/pickle.go", "pickle/serialization.go", "pickle/storage.go", "pickle/type.go", "pickle/util.go",
]
# Lines dropped wherever they appear: TorchScript, image and optimizer support that whet does not use.
DROP = re.compile(r'#include.*(jit/|stb_image|script\.h|engine\.h)|#define STB_|"github.com/sugarme/gotch/nn"|'
                  r'typedef torch::(optim|jit)')
# Text put first in a trimmed file: the C++ is compiled by cgo except in the whet_layer build, where it lives in
# libwhet_torch.so (scripts/build-layer.sh) instead.
PREPEND = {"libtch/torch_api.cpp": "//go:build !whet_layer\n\n"}
# Functions dropped although their names are common words elsewhere (they need parts of gotch this copy lacks).
EXCLUDE = {"pickle/serialization.go": {"Encode"}}
# Upstream ends the process with log.Fatal where a libtorch call fails (every Must* wrapper); whet's copy panics with
# ts.Fatal instead (ts/fatal.go) so that native/torch.Recover can turn it into an error at whet's public boundary.
FATAL = re.compile(r"^([ \t]*|.*\{ )log\.Fatal(f?)\(", re.M)
# Upstream converts a C int result to a Go int by reading 8 bytes at its address, 4 of them past its end.
CINT = re.compile(r"\*\(\*int\)\(unsafe\.Pointer\(&(\w+)\)\)")
# Upstream's generated ops take the C output pointer from C.malloc(0) and never free it: 32 bytes of malloc lost per
# op, ~2.3 KB per training step of a tiny BERT (native/train TestPretrainMemoryFlat). whet's copy frees it on return.
OUTPTR = re.compile(r"^([ \t]*)(\w+) := \(\*lib\.Ctensor\)\(unsafe\.Pointer\(C\.malloc\(0\)\)\)$", re.M)
WORD = re.compile(r"[A-Za-z_]\w*")
COMMENT = re.compile(r"//[^\n]*|^\s*/\*.*?\*/", re.S | re.M)


def words(text):
    """The identifiers text mentions outside line comments."""
    return WORD.findall(COMMENT.sub("", text))


def go_chunks(text):
    """Splits Go source into (name, text) chunks: one per top-level func (name set), the rest with name None."""
    lines = text.splitlines(keepends=True)
    out, cur, name, depth_func = [], [], None, False
    pending = []  # comment lines waiting for the next declaration
    for line in lines:
        if not depth_func:
            m = re.match(r"func\s*(?:\([^)]*\)\s*)?(\w+)", line)
            if m:
                if cur:
                    out.append((None, "".join(cur)))
                cur, name, depth_func = pending + [line], m.group(1), True
                pending = []
                if line.rstrip().endswith("}") and line.count("{") == line.count("}"):
                    out.append((name, "".join(cur)))
                    cur, name, depth_func = [], None, False
                continue
            if line.startswith("//") and not line.startswith("//go:") and not line.startswith("//#"):
                pending.append(line)
                continue
            cur += pending + [line]
            pending = []
            continue
        cur.append(line)
        if line.startswith("}"):
            out.append((name, "".join(cur)))
            cur, name, depth_func = [], None, False
    cur += pending
    if cur:
        out.append((None, "".join(cur)))
    return out


def c_chunks(text):
    """Splits C++ source into chunks: one per top-level function definition (named), the rest unnamed."""
    out, cur, name = [], [], None
    pending = []  # a `template <...>` line waiting for its function
    for line in text.splitlines(keepends=True):
        if name is None and re.match(r"template\s*<[^>]*>\s*$", line):
            pending.append(line)
            continue
        if name is None:
            m = re.match(r"[A-Za-z_][\w:<>\s\*&,]*?\b(\w+)\s*\(", line)
            if m and not line.startswith(("#", "//", " ", "\t", "}")) and not line.rstrip().endswith(";"):
                if cur:
                    out.append((None, "".join(cur)))
                cur, name, pending = pending + [line], m.group(1), []
                if line.rstrip().endswith("}") and line.count("{") == line.count("}"):
                    out.append((name, "".join(cur)))
                    cur, name = [], None
                continue
            cur += pending + [line]
            pending = []
            continue
        cur.append(line)
        if line.startswith("}"):
            out.append((name, "".join(cur)))
            cur, name = [], None
    if cur:
        out.append((None, "".join(cur)))
    return out


def header_chunks(text):
    """Splits a C header into declarations (named by the declared function) and other text."""
    out, cur = [], []
    for line in text.splitlines(keepends=True):
        cur.append(line)
        if line.rstrip().endswith(";") or not line.strip() or line.startswith(("#", "//", "}", "extern", "typedef")):
            chunk = "".join(cur)
            m = re.search(r"\b(\w+)\s*\(", chunk)
            named = m and chunk.rstrip().endswith(");") and not chunk.lstrip().startswith(("#", "//", "typedef"))
            out.append((m.group(1) if named else None, chunk))
            cur = []
    if cur:
        out.append((None, "".join(cur)))
    return out


def drop_unused_imports(text):
    """Removes imports whose package name no longer appears in the file (trimming can orphan them)."""
    code = COMMENT.sub("", text)

    def keep(line):
        m = re.match(r'\s*(\w+\s+)?"([^"]+)"\s*$', line)
        if not m or m.group(2) == "C":
            return True
        name = (m.group(1) or m.group(2).rsplit("/", 1)[-1]).strip()
        if name == "_":
            return True
        return re.search(r"\b%s\." % re.escape(name), code) is not None
    m = re.search(r"\nimport ?\(", text)  # generated files are not gofmt'ed: "import("
    if not m:
        return text
    head, sep, rest = text[:m.start()], m.group(0), text[m.end():]
    block, sep2, tail = rest.partition("\n)")
    block = "\n".join(l for l in block.split("\n") if keep(l))
    return head + sep + block + sep2 + tail


def whet_words():
    found = set()
    for top in ("cmd", "native"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, top)):
            for f in files:
                if f.endswith(".go"):
                    found.update(words(open(os.path.join(dirpath, f)).read()))
    return found


def main(upstream):
    chunked = {}
    for rel in TRIMMED:
        text = open(os.path.join(upstream, rel)).read()
        if rel.endswith(".go"):
            chunked[rel] = go_chunks(text)
        elif rel.endswith(".h") and not rel.endswith(".cpp.h"):
            chunked[rel] = header_chunks(text)
        else:
            chunked[rel] = c_chunks(text)
    used = whet_words()
    # Files of this folder not trimmed here (whet's edits) are roots too.
    for dirpath, _, files in os.walk(HERE):
        for f in files:
            rel = os.path.relpath(os.path.join(dirpath, f), HERE)
            if rel not in TRIMMED and f.endswith((".go", ".cpp", ".h")):
                used.update(words(open(os.path.join(dirpath, f)).read()))
    for chunks in chunked.values():
        for name, text in chunks:
            if name is None:
                used.update(words(text))
    while True:
        n = len(used)
        for rel, chunks in chunked.items():
            if rel.endswith(".h") and not rel.endswith(".cpp.h"):
                continue
            for name, text in chunks:
                if name is not None and name in used and name not in EXCLUDE.get(rel, ()):
                    used.update(words(text))
        if len(used) == n:
            break
    for rel, chunks in chunked.items():
        kept = "".join(text for name, text in chunks
                       if name is None or (name in used and name not in EXCLUDE.get(rel, ())))
        kept = "".join(l for l in kept.splitlines(keepends=True) if not DROP.search(l))
        kept = re.sub(r"\n{3,}", "\n\n", kept)
        if rel.endswith(".go"):
            kept = OUTPTR.sub(r"\g<0>\n\1defer C.free(unsafe.Pointer(\2))", kept)
            kept = drop_unused_imports(CINT.sub(r"int(\1)", FATAL.sub(r"\1fatal\2(", kept)))
        with open(os.path.join(HERE, rel), "w") as f:
            f.write(PREPEND.get(rel, "") + kept)
    print("trimmed %d files" % len(chunked))


if __name__ == "__main__":
    main(sys.argv[1])
