"""Corpora built from real files of this machine: docs, source, office.

build(name, root, seed, quick) fills `root` and returns the line state: the reserve pool of
further real files (not in the tree) that routine life adds later. Everything is chosen from
sorted lists with random.Random derived from the seed, so a (name, seed, quick) triple always
gives the same tree (contents, names and mtimes).
"""

import datetime as dt
import gzip
import os
import re
import sqlite3
import subprocess
import zipfile
from xml.sax.saxutils import escape

from common import copy_real, list_dirs, list_files, sub_rng, is_text_name

MAX_FILE = 4 << 20  # bigger real files are skipped
CORPORA = ("docs", "source", "office")

# ---------------------------------------------------------------- real inputs


def _walk_real(top, pred=None):
    out = []
    if not os.path.isdir(top):
        return out
    for d, dirs, files in os.walk(top):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(d, f)
            if os.path.islink(p) or not os.path.isfile(p):
                continue
            try:
                s = os.path.getsize(p)
            except OSError:
                continue
            if 0 < s <= MAX_FILE and os.access(p, os.R_OK) and (pred is None or pred(p)):
                out.append(p)
    out.sort()
    return out


_cache = {}


def cached(fn):
    def w(*a):
        k = (fn.__name__,) + a
        if k not in _cache:
            _cache[k] = fn(*a)
        return _cache[k]
    return w


def read_text(path, limit=1 << 20):
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                b = f.read(limit)
        else:
            with open(path, "rb") as f:
                b = f.read(limit)
    except (OSError, EOFError, gzip.BadGzipFile):
        return ""
    if b"\0" in b[:8192]:
        return ""
    return b.decode("utf-8", "replace")


@cached
def doc_text_sources():
    """Plain-text documents: copyright files, READMEs, Debian changelogs."""
    def pred(p):
        n = os.path.basename(p).lower()
        return n == "copyright" or n.startswith("readme") or n.startswith("changelog")
    return _walk_real("/usr/share/doc", pred)


@cached
def dpkg_packages():
    pkgs, cur = [], {}
    try:
        text = open("/var/lib/dpkg/status", encoding="utf-8", errors="replace").read()
    except OSError:
        text = ""
    for para in text.split("\n\n"):
        cur = {}
        for line in para.splitlines():
            m = re.match(r"^([A-Za-z-]+): ?(.*)$", line)
            if m:
                cur[m.group(1)] = m.group(2)
        if "Package" in cur:
            pkgs.append({
                "name": cur.get("Package", ""), "version": cur.get("Version", ""),
                "size": int(cur.get("Installed-Size", "0") or 0),
                "section": cur.get("Section", "misc").replace("/", "-"),
                "priority": cur.get("Priority", ""), "arch": cur.get("Architecture", ""),
                "maintainer": cur.get("Maintainer", ""),
                "description": cur.get("Description", ""),
            })
    pkgs.sort(key=lambda p: (p["name"], p["version"]))
    if not pkgs:  # no dpkg: fall back on the doc directory names
        for n in sorted(os.listdir("/usr/share/doc")):
            pkgs.append({"name": n, "version": "1", "size": 1, "section": "misc", "priority": "",
                         "arch": "all", "maintainer": "", "description": n})
    return pkgs


@cached
def log_bodies():
    """Real log line bodies (timestamps stripped) from /var/log."""
    out = []
    for p in ("/var/log/dpkg.log", "/var/log/alternatives.log", "/var/log/apt/history.log",
              "/var/log/apt/term.log", "/var/log/fontconfig.log"):
        for line in read_text(p, 8 << 20).splitlines():
            line = line.strip()
            if not line:
                continue
            line = re.sub(r"^(update-alternatives )?\d{4}-\d\d-\d\d[ T]+\d\d:\d\d:\d\d:?\s*", "", line)
            if line:
                out.append(line[:300])
    if not out:
        out = [f"status installed {p['name']}:{p['arch']} {p['version']}" for p in dpkg_packages()]
    return out


@cached
def paragraphs(path):
    text = read_text(path, 256 << 10)
    ps = [re.sub(r"\s+", " ", p).strip() for p in re.split(r"\n\s*\n", text)]
    return [p for p in ps if len(p) > 20]


def log_line(rng, when):
    return f"{when.strftime('%Y-%m-%d %H:%M:%S')} {rng.choice(log_bodies())}\n"


# ---------------------------------------------------------------- office formats

ZIP_TIME = (2025, 6, 1, 12, 0, 0)

DOCX_TYPES = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
              '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
              '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
              '<Default Extension="xml" ContentType="application/xml"/>'
              '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
              '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
              '</Types>')
DOCX_RELS = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
             '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
             '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>'
             '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>'
             '</Relationships>')
XLSX_TYPES = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
              '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
              '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
              '<Default Extension="xml" ContentType="application/xml"/>'
              '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
              '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
              '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
              '</Types>')
XLSX_RELS = DOCX_RELS.replace("word/document.xml", "xl/workbook.xml")
XLSX_WB = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
           '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
           'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
           '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>')
XLSX_WB_RELS = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
                '</Relationships>')


def _core(title, when):
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f'<dc:title>{escape(title)}</dc:title><dc:creator>office</dc:creator>'
            f'<dcterms:modified xsi:type="dcterms:W3CDTF">{when}</dcterms:modified></cp:coreProperties>')


def _write_zip(path, members, date_time=ZIP_TIME):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp~"
    with zipfile.ZipFile(tmp, "w") as z:
        for name, data in members:
            zi = zipfile.ZipInfo(name, date_time)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            z.writestr(zi, data)
    os.replace(tmp, path)


def make_docx(path, title, paras, when="2025-06-01T12:00:00Z", date_time=ZIP_TIME):
    body = "".join(f'<w:p><w:r><w:t xml:space="preserve">{escape(p)}</w:t></w:r></w:p>' for p in paras)
    doc = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
           '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
           f'<w:body><w:p><w:pPr><w:pStyle w:val="Title"/></w:pPr><w:r><w:t>{escape(title)}</w:t></w:r></w:p>'
           f'{body}</w:body></w:document>')
    _write_zip(path, [("[Content_Types].xml", DOCX_TYPES), ("_rels/.rels", DOCX_RELS),
                      ("docProps/core.xml", _core(title, when)), ("word/document.xml", doc)],
               date_time)


def docx_paragraphs(path):
    with zipfile.ZipFile(path) as z:
        xml = z.read("word/document.xml").decode("utf-8")
    title = re.search(r"<w:t>(.*?)</w:t>", xml)
    ps = re.findall(r'<w:t xml:space="preserve">(.*?)</w:t>', xml)
    from xml.sax.saxutils import unescape
    return (unescape(title.group(1)) if title else ""), [unescape(p) for p in ps]


def _col(i):
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def make_xlsx(path, rows, title="Sheet", when="2025-06-01T12:00:00Z", date_time=ZIP_TIME):
    out = []
    for r, row in enumerate(rows, 1):
        cells = []
        for c, v in enumerate(row):
            ref = f"{_col(c)}{r}"
            if isinstance(v, (int, float)):
                cells.append(f'<c r="{ref}"><v>{v}</v></c>')
            else:
                cells.append(f'<c r="{ref}" t="inlineStr"><is><t>{escape(str(v))}</t></is></c>')
        out.append(f'<row r="{r}">{"".join(cells)}</row>')
    sheet = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
             '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             f'<sheetData>{"".join(out)}</sheetData></worksheet>')
    _write_zip(path, [("[Content_Types].xml", XLSX_TYPES), ("_rels/.rels", XLSX_RELS),
                      ("docProps/core.xml", _core(title, when)), ("xl/workbook.xml", XLSX_WB),
                      ("xl/_rels/workbook.xml.rels", XLSX_WB_RELS),
                      ("xl/worksheets/sheet1.xml", sheet)], date_time)


def pkg_row(p):
    return [p["name"], p["version"], p["size"], p["section"], p["priority"], p["arch"],
            p["maintainer"], p["description"]]


PKG_HEADER = ["Package", "Version", "Installed-Size", "Section", "Priority", "Arch",
              "Maintainer", "Description"]


def docx_from_source(path, src, rng, title=None):
    ps = paragraphs(src)
    if not ps:
        ps = ["(empty)"]
    k = min(len(ps), rng.randint(8, 120))
    start = rng.randrange(0, max(1, len(ps) - k + 1))
    make_docx(path, title or os.path.basename(os.path.dirname(src)), ps[start:start + k])


# ---------------------------------------------------------------- sqlite

DB_SCHEMA = ("CREATE TABLE entries (id INTEGER PRIMARY KEY, name TEXT NOT NULL, version TEXT, "
             "size INTEGER, section TEXT, body TEXT, updated TEXT);"
             "CREATE INDEX entries_name ON entries(name);"
             "CREATE TABLE notes (id INTEGER PRIMARY KEY, entry INTEGER, at TEXT, text TEXT);")


def make_db(path, rng, nrows, body_lines):
    """A SQLite database of real rows: dpkg packages and lines of real text."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.exists(path):
        os.remove(path)
    con = sqlite3.connect(path)
    con.executescript(DB_SCHEMA)
    pk = dpkg_packages()
    rows = []
    for i in range(nrows):
        p = pk[rng.randrange(len(pk))]
        body = " ".join(rng.choice(body_lines) for _ in range(rng.randint(1, 6)))
        rows.append((p["name"], p["version"], p["size"], p["section"], body,
                     f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"))
    con.executemany("INSERT INTO entries(name, version, size, section, body, updated) "
                    "VALUES (?,?,?,?,?,?)", rows)
    notes = [(rng.randint(1, nrows), f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
              rng.choice(body_lines)) for _ in range(nrows // 3)]
    con.executemany("INSERT INTO notes(entry, at, text) VALUES (?,?,?)", notes)
    con.commit()
    con.close()


@cached
def text_lines():
    """A pool of real text lines (for database rows and inserted lines)."""
    out = []
    for p in doc_text_sources()[::7]:
        for line in read_text(p, 64 << 10).splitlines():
            line = line.strip()
            if 10 < len(line) < 200:
                out.append(line)
    return out or ["line"]


def make_logs(root, rel_dir, rng, n, lines_range, year=2025):
    for i in range(n):
        app = rng.choice(["apt", "dpkg", "backup", "sync", "cron", "app", "update", "build"])
        month = 1 + (i % 12)
        path = os.path.join(root, rel_dir, app, f"{app}-{year}-{month:02d}-{i}.log")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        t = dt.datetime(year, month, 1, 0, 0, 0)
        with open(path, "w") as f:
            for _ in range(rng.randint(*lines_range)):
                t += dt.timedelta(seconds=rng.randint(1, 900))
                f.write(log_line(rng, t))


# ---------------------------------------------------------------- corpora


def _split(rng, items, n_tree, n_reserve):
    items = list(items)
    rng.shuffle(items)
    return items[:n_tree], items[n_tree:n_tree + n_reserve]


def _place(root, srcs, rel_of):
    for s in srcs:
        copy_real(s, os.path.join(root, rel_of(s)))


def _rel_usr(p):
    return p[len("/usr/share/"):] if p.startswith("/usr/share/") else p.lstrip("/")


def build_docs(root, rng, scale):
    docs = _walk_real("/usr/share/doc")
    man = _walk_real("/usr/share/man")
    d_tree, d_res = _split(rng, docs, int(1800 * scale), int(450 * scale))
    m_tree, m_res = _split(rng, man, int(900 * scale), int(250 * scale))
    _place(root, d_tree + m_tree, _rel_usr)
    make_logs(root, "logs", rng, max(3, int(8 * scale)), (int(400 * scale) + 50, int(3000 * scale) + 100))
    make_db(os.path.join(root, "index", "docs.sqlite"), rng, int(6000 * scale), text_lines())
    return [["copy", s, _rel_usr(s)] for s in d_res + m_res]


def _crates():
    tops = []
    base = os.path.expanduser("~/.cargo/registry/src")
    if os.path.isdir(base):
        for reg in sorted(os.listdir(base)):
            r = os.path.join(base, reg)
            for c in sorted(os.listdir(r)):
                if os.path.isdir(os.path.join(r, c)):
                    tops.append(os.path.join(r, c))
    return tops


@cached
def crate_files():
    out = []
    for c in _crates():
        fs = _walk_real(c)
        if fs:
            out.append((c, fs))
    return out


def build_source(root, rng, scale):
    crates = list(crate_files())
    rng.shuffle(crates)
    tree, reserve, files, size = [], [], 0, 0
    # crates until ~40 MB or 3,000 files (whichever first), then the .py files on top
    want_files, want_bytes, max_files = int(3000 * scale), 40e6 * scale, int(3300 * scale)

    def rel_crate(p):
        c = p.split("/registry/src/", 1)[1].split("/", 1)[1]
        return "rust/" + c

    for c, fs in crates:
        if len(fs) > 400 * max(scale, 0.5):
            continue
        sz = sum(os.path.getsize(f) for f in fs)
        enough = files >= want_files or size >= want_bytes
        if not enough and files + len(fs) <= max_files and sz <= 0.2 * want_bytes:
            tree += fs
            files += len(fs)
            size += sz
        elif len(reserve) < int(500 * scale):
            reserve += fs[: int(60 * scale) + 5]
    py = _walk_real("/usr/lib/python3.11", lambda p: p.endswith(".py"))
    p_tree, p_res = _split(rng, py, int(500 * scale), int(200 * scale))

    def rel(p):
        return rel_crate(p) if "/registry/src/" in p else "python/" + p[len("/usr/lib/python3.11/"):]

    _place(root, tree + p_tree, rel)
    make_logs(root, "logs", rng, max(3, int(6 * scale)), (int(400 * scale) + 50, int(3000 * scale) + 100))
    make_db(os.path.join(root, "rust", ".index", "symbols.sqlite"), rng, int(5000 * scale), text_lines())
    return [["copy", s, rel(s)] for s in reserve + p_res]


@cached
def found_media():
    """`find / -xdev` for PDFs and photos (not under /tmp, /work, /proc, /sys, /var/tmp)."""
    cmd = ["find", "/", "-xdev", "(", "-path", "/tmp", "-o", "-path", "/work", "-o", "-path", "/proc",
           "-o", "-path", "/sys", "-o", "-path", "/var/tmp", "-o", "-path", "/usr/share/icons", ")",
           "-prune", "-o", "-type", "f", "(", "-iname", "*.pdf", "-o", "-iname", "*.jpg", "-o",
           "-iname", "*.jpeg", "-o", "-iname", "*.gif", "-o", "-iname", "*.png", "-o", "-iname",
           "*.webp", ")", "-print"]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = []
    for p in sorted(set(r.stdout.splitlines())):
        try:
            if not os.path.islink(p) and 0 < os.path.getsize(p) <= MAX_FILE and os.access(p, os.R_OK):
                out.append(p)
        except OSError:
            pass
    return out


def _images():
    icons = _walk_real("/usr/share/icons", lambda p: p.endswith((".png", ".svg")))
    icons += _walk_real("/usr/share/pixmaps", lambda p: p.endswith((".png", ".svg", ".xpm")))
    photos, seen = [], set()
    for p in found_media():
        if p.lower().endswith(".pdf") or p.startswith("/usr/share/pixmaps"):
            continue
        k = (os.path.basename(p), os.path.getsize(p))
        if k not in seen:
            seen.add(k)
            photos.append(p)
    return icons, photos


def _pdfs():
    return [p for p in found_media() if p.lower().endswith(".pdf")]


def warm():
    """Compute the real-input lists once (forked workers inherit them)."""
    found_media(), doc_text_sources(), dpkg_packages(), text_lines(), log_bodies(), crate_files()


def build_office(root, rng, scale):
    icons, photos = _images()
    i_tree, i_res = _split(rng, icons, int(650 * scale), int(300 * scale))
    ph_tree, ph_res = _split(rng, photos, int(220 * scale), int(60 * scale))
    reserve = [["copy", s, "Pictures/icons/" + _rel_usr(s)] for s in i_res]
    _place(root, i_tree, lambda s: "Pictures/icons/" + _rel_usr(s))

    def ph_rel(s):
        parts = s.strip("/").split("/")
        mid = parts[1:-1]
        keep = mid[:3] + [x for x in mid[-1:] if x not in mid[:3]]
        return "Pictures/" + "/".join(keep + parts[-1:])
    _place(root, ph_tree, ph_rel)
    reserve += [["copy", s, ph_rel(s)] for s in ph_res]
    for p in _pdfs():
        copy_real(p, os.path.join(root, "Documents", "Manuals", os.path.basename(p)))
    pk = dpkg_packages()
    srcs = doc_text_sources()
    t_tree, t_res = _split(rng, srcs, int(560 * scale), int(250 * scale))
    cats = ["Reports", "Letters", "Projects", "Minutes", "Proposals", "Archive/2024", "Archive/2025"]

    def doc_rel(src, i, ext):
        pkg = os.path.basename(os.path.dirname(src))
        kind = os.path.basename(src).split(".")[0].lower()
        return f"Documents/{cats[i % len(cats)]}/{pkg[:1]}/{pkg}-{kind}{ext}"

    for i, s in enumerate(t_tree):
        if i % 2 == 0:
            docx_from_source(os.path.join(root, doc_rel(s, i, ".docx")), s, rng)
        else:  # plain notes
            text = read_text(s, 64 << 10)
            if text:
                dst = os.path.join(root, doc_rel(s, i, ".txt").replace("Documents/", "Documents/Notes/", 1))
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                with open(dst, "w") as f:
                    f.write(text)
    reserve += [["docx", s, doc_rel(s, i, "-2026.docx")] for i, s in enumerate(t_res)]
    for i in range(int(110 * scale)):
        k = rng.randint(40, 500)
        a = rng.randrange(len(pk))
        chunk = [pkg_row(p) for p in (pk[a:] + pk[:a])[:k]]
        sec = pk[a]["section"]
        make_xlsx(os.path.join(root, "Spreadsheets", sec, f"inventory-{i:03d}.xlsx"), [PKG_HEADER] + chunk)
        if i % 3 == 0:
            dst = os.path.join(root, "Spreadsheets", "exports", f"{sec}-{i:03d}.csv")
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            with open(dst, "w") as f:
                for row in [PKG_HEADER] + chunk:
                    f.write(",".join('"' + str(v).replace('"', "'") + '"' for v in row) + "\n")
    lines = text_lines()
    for name, n in (("contacts", 9000), ("projects", 16000), ("invoices", 20000), ("inventory", 25000),
                    ("mail", 30000), ("calendar", 8000)):
        make_db(os.path.join(root, "Data", f"{name}.sqlite"), rng, max(200, int(n * scale)), lines)
    make_logs(root, "Logs", rng, max(6, int(24 * scale)), (int(800 * scale) + 50, int(6000 * scale) + 100))
    for p in ("/var/log/dpkg.log", "/var/log/alternatives.log", "/var/log/apt/history.log"):
        if os.path.isfile(p) and os.access(p, os.R_OK):
            copy_real(p, os.path.join(root, "Logs", "system", os.path.basename(p)))
    return reserve


BUILDERS = {"docs": build_docs, "source": build_source, "office": build_office}


def set_initial_mtimes(root, seed):
    """Deterministic old mtimes (2023-01-01 .. 2025-12-20) for files; dirs take their newest entry's."""
    lo = dt.datetime(2023, 1, 1).timestamp()
    hi = dt.datetime(2025, 12, 20).timestamp()
    for rel in list_files(root):
        r = sub_rng(seed, "mtime", rel)
        t = int(r.uniform(lo, hi)) * 1_000_000_000 + r.randrange(1_000_000_000)
        os.utime(os.path.join(root, rel), ns=(t, t))
    for rel in sorted(list_dirs(root), key=lambda d: -d.count("/") if d != "." else 1):
        d = os.path.join(root, rel)
        newest = max([os.stat(os.path.join(d, e)).st_mtime_ns for e in os.listdir(d)] or [int(lo * 1e9)])
        os.utime(d, ns=(newest, newest))


def build(name, root, seed, quick):
    rng = sub_rng("corpus", name, seed)
    scale = 0.25 if quick else 1.0
    os.makedirs(root, exist_ok=True)
    reserve = BUILDERS[name](root, rng, scale)
    set_initial_mtimes(root, seed)
    return {"corpus": name, "seed": seed, "quick": quick, "scale": scale,
            "reserve": reserve, "reserve_next": 0}


def text_candidates(root):
    return [r for r in list_files(root) if is_text_name(r) and not r.endswith(".log")]
