"""Stage 1, corpus: where the inputs live (REPO, the janeaustenr package JANEAUSTENR, the six NOVELS), a
minimal reader for R's XDR serialization and lazy-load databases (.rdx/.rdb: _RReader, _r_unserialize,
_rdb_blob, read_r_lazyload; R itself is not needed), and the split of each novel into cleaned prose
paragraphs with the last val_frac held out (novel_paragraphs, load_corpus)."""

import bz2
import gzip
import lzma
import os
import re
import struct
import zlib


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JANEAUSTENR = "/usr/lib/R/site-library/janeaustenr"
NOVELS = [  # (R object name, title)
    ("sensesensibility", "Sense and Sensibility"),
    ("prideprejudice", "Pride and Prejudice"),
    ("mansfieldpark", "Mansfield Park"),
    ("emma", "Emma"),
    ("northangerabbey", "Northanger Abbey"),
    ("persuasion", "Persuasion"),
]


class _RReader:
    def __init__(self, buf):
        self.b, self.p, self.refs = buf, 0, []

    def i32(self):
        v = struct.unpack_from(">i", self.b, self.p)[0]
        self.p += 4
        return v

    def header(self):
        assert self.b[:2] == b"X\n", "only XDR-format R serialization is supported"
        self.p = 2
        version = self.i32()
        self.i32()  # writer R version
        self.i32()  # min reader version
        if version == 3:
            n = self.i32()
            self.p += n  # native encoding name
        return self

    def length(self):
        n = self.i32()
        if n == -1:
            hi, lo = self.i32(), self.i32()
            n = (hi << 32) + lo
        return n

    def item(self):
        flags = self.i32()
        t = flags & 0xFF
        has_attr, has_tag = bool(flags & (1 << 9)), bool(flags & (1 << 10))
        if t in (254, 253, 252, 251, 250, 242, 241):  # NULL, global/empty/base env, missing, ...
            return None
        if t == 255:  # REFSXP
            idx = flags >> 8 or self.i32()
            return self.refs[idx - 1]
        if t in (247, 249):  # PERSISTSXP, NAMESPACESXP
            self.i32()
            v = [self.item() for _ in range(self.i32())]
            self.refs.append(v)
            return v
        if t == 4:  # ENVSXP
            self.i32()
            env = {}
            self.refs.append(env)
            self.item()
            env["frame"], env["hashtab"] = self.item(), self.item()
            self.item()
            return env
        if t == 1:  # SYMSXP
            s = self.item()
            self.refs.append(s)
            return s
        if t in (2, 3, 5, 6, 17, 239, 240):  # pairlist-like: (tag, value) list
            if has_attr:
                self.item()
            tag = self.item() if has_tag else None
            car, cdr = self.item(), self.item()
            out = [(tag, car)]
            if isinstance(cdr, list) and cdr and isinstance(cdr[0], tuple):
                out += cdr
            return out
        if t == 9:  # CHARSXP
            n = self.i32()
            if n == -1:
                return None
            s = self.b[self.p:self.p + n]
            self.p += n
            levels = flags >> 12  # LATIN1_MASK = 4, UTF8_MASK = 8
            return s.decode("latin-1" if levels & 4 else "utf-8", errors="replace")
        if t in (10, 13):  # logical, integer
            n = self.length()
            v = list(struct.unpack_from(">%di" % n, self.b, self.p))
            self.p += 4 * n
        elif t in (14, 15):  # double, complex
            n = self.length() * (2 if t == 15 else 1)
            v = list(struct.unpack_from(">%dd" % n, self.b, self.p))
            self.p += 8 * n
        elif t in (16, 19, 20):  # character vector, list, expression
            v = [self.item() for _ in range(self.length())]
        elif t == 24:  # raw
            n = self.length()
            v = self.b[self.p:self.p + n]
            self.p += n
        else:
            raise ValueError("unsupported R SEXP type %d" % t)
        if has_attr:
            attr = self.item()
            names = dict(attr).get("names") if isinstance(attr, list) else None
            if names is not None and t == 19:
                return dict(zip(names, v))
        return v


def _r_unserialize(buf):
    return _RReader(buf).header().item()


def _rdb_blob(buf, off, length):
    c = buf[off:off + length]
    n = struct.unpack(">I", c[:4])[0]
    kind = c[4:5]
    if kind == b"Z":
        out = zlib.decompress(c[5:])
    elif kind == b"2":
        out = bz2.decompress(c[5:])
    elif kind == b"X":
        out = lzma.decompress(c[5:])
    elif kind == b"0":
        out = c[5:]
    else:  # plain zlib (R's default lazy-load compression)
        out = zlib.decompress(c[4:])
    assert len(out) == n, "corrupt R lazy-load blob"
    return out


def read_r_lazyload(prefix):
    raw = open(prefix + ".rdx", "rb").read()
    idx = _r_unserialize(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else _rdb_blob(raw, 0, len(raw)))
    rdb = open(prefix + ".rdb", "rb").read()
    return {name: _r_unserialize(_rdb_blob(rdb, off, ln)) for name, (off, ln) in idx["variables"].items()}


_HEADING = re.compile(r"^(CHAPTER|Chapter|VOLUME|Volume)\b|^(THE )?END\b|^\(?[0-9]{4}\)?$")


def novel_paragraphs(lines):
    """Lines of one novel -> cleaned prose paragraphs (front matter and chapter headings dropped)."""
    paras, cur = [], []
    for line in lines + [""]:
        line = (line or "").strip()
        if line:
            cur.append(line)
        elif cur:
            paras.append(" ".join(cur))
            cur = []
    # drop everything before the first chapter heading (title page, advertisement)
    first = next(i for i, p in enumerate(paras) if re.match(r"^(CHAPTER|Chapter)\b", p))
    out = []
    for p in paras[first:]:
        if _HEADING.match(p) or not re.search(r"[a-z]", p):
            continue
        p = p.replace("_", "")  # Gutenberg italics markers
        p = re.sub(r"\s+", " ", p).strip()
        if p:
            out.append(p)
    return out


def load_corpus(val_frac):
    data = read_r_lazyload(os.path.join(JANEAUSTENR, "data", "Rdata"))
    train, val = {}, {}
    for key, title in NOVELS:
        paras = novel_paragraphs(data[key])
        n_val = max(1, int(round(len(paras) * val_frac)))
        train[title], val[title] = paras[:-n_val], paras[-n_val:]
    return train, val
