#!/usr/bin/env python3
"""Writes the generated document fixtures in tests/data/documents/ (see README.md there).

PDFs are written by hand (no dependency beyond Python 3): the base-14 Helvetica font, every line
placed with its own Td, so the tests know the exact text, layout and line breaks. Code 0x80 and
0x81 are mapped to the fi and fl ligature glyphs through /Differences. The text is written for
this project (CC0). EPUBs come from pandoc (make_document_fixtures.sh); the broken zips and the
text encodings are made here.
"""
import io
import os
import sys
import zipfile

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "data", "documents")

W, H = 612, 792  # US Letter, points


def esc(s: bytes) -> bytes:
    return s.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def lig(s: str) -> bytes:
    """Latin-1 bytes with the ligature glyph codes: '{fi}' -> 0x80, '{fl}' -> 0x81."""
    return s.replace("{fi}", "\x80").replace("{fl}", "\x81").encode("latin-1")


def write_pdf(path, pages, page_count_override=None):
    """pages: list of content-stream byte strings. Writes a PDF with one Helvetica font."""
    objs = []

    def add(body: bytes) -> int:
        objs.append(body)
        return len(objs)

    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding << /Type /Encoding "
               b"/BaseEncoding /WinAnsiEncoding /Differences [128 /fi /fl] >> >>")
    bold = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>")
    pages_id = len(objs) + 1 + 2 * len(pages)  # pages tree after the page objects
    kids = []
    for content in pages:
        c = add(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
        p = add(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d] /Contents %d 0 R "
                b"/Resources << /Font << /F1 %d 0 R /F2 %d 0 R >> >> >>" % (pages_id, W, H, c, font, bold))
        kids.append(p)
    count = len(kids) if page_count_override is None else page_count_override
    assert add(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), count)) == pages_id
    info = add(b"<< /Title (Lectern test fixture) /Producer (tools/make_document_fixtures.py) >>")
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1))
    for o in offsets:
        out.write(b"%010d 00000 n \n" % o)
    out.write(b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, catalog, info, xref))
    with open(path, "wb") as f:
        f.write(out.getvalue())


def text_lines(lines, x, y, size=10, leading=12, font=b"F1"):
    """lines: list of str (or None for a paragraph gap of one extra line). Returns content."""
    out = b""
    for line in lines:
        if line is not None:
            out += b"BT /%s %d Tf %.1f %.1f Td (%s) Tj ET\n" % (font, size, x, y, esc(lig(line)))
            y -= leading
        else:
            y -= leading
    return out


# --- Two columns under a full-width title ------------------------------------------------
LEFT = [
    "The left column opens the study. Every",
    "line here belongs to the first column",
    "and must be read before the right one.",
    "A reader that goes across the page",
    "would mix the two columns line by line.",
    None,
    "The second paragraph of the left column",
    "ends the left side of the page here.",
]
RIGHT = [
    "The right column continues the study.",
    "Its lines come after all of the left",
    "column in the extracted reading order.",
    "Gutter detection keeps them together.",
    None,
    "This final paragraph closes the page",
    "and the right column with it.",
]


def two_column(path):
    content = b"BT /F2 16 Tf 180 720 Td (A Two Column Study of Reading) Tj ET\n"
    content += text_lines(LEFT, 72, 680)
    content += text_lines(RIGHT, 320, 680)
    write_pdf(path, [content])


# --- Running headers, footers, hyphenation, ligatures ------------------------------------
BODY = [
    [
        "Chapter {n} of the manual explains how a docu-",
        "ment is read once and answered from later. The",
        "well-known approach keeps the state on disk so",
        "a question can {fi}nd the passage and its page.",
        None,
        "A second paragraph shows the {fl}ow of text from",
        "one line to the next, written by Jean-",
        "Paul Sartre's admirers, and it ends here.",
    ]
]


def running_headers(path, pages=5):
    contents = []
    for n in range(1, pages + 1):
        c = text_lines(["Lectern Test Manual"], 72, 750, size=9)
        c += text_lines([line.replace("{n}", str(n)) if line else None for line in BODY[0]], 72, 690)
        c += text_lines(["Page %d of %d" % (n, pages)], 280, 40, size=9)
        contents.append(c)
    write_pdf(path, contents)


def no_text_layer(path):
    p1 = text_lines(["This page has a text layer. The next page is a scan, the last is blank."], 72, 700)
    p2 = b"0.2 g 100 200 400 400 re f\n"  # ink but no text, as a scanned page without OCR
    p3 = b""
    write_pdf(path, [p1, p2, p3])


def wrap_pgm(pgm_path, pdf_path, dpi):
    """A one-page PDF whose only content is a greyscale image (a scan without a text layer)."""
    import zlib
    with open(pgm_path, "rb") as f:
        raw = f.read()
    tokens, pos = [], 0
    while len(tokens) < 4:  # P5 width height maxval, comments skipped
        end = raw.index(b"\n", pos)
        line = raw[pos:end]
        pos = end + 1
        if not line.startswith(b"#"):
            tokens += line.split()
    assert tokens[0] == b"P5"
    w, h = int(tokens[1]), int(tokens[2])
    pixels = raw[len(raw) - w * h:]
    data = zlib.compress(pixels, 9)
    pw, ph = w * 72.0 / dpi, h * 72.0 / dpi
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.2f %.2f] /Contents 4 0 R "
        b"/Resources << /XObject << /Im1 5 0 R >> >> >>" % (pw, ph),
    ]
    content = b"q %.2f 0 0 %.2f 0 0 cm /Im1 Do Q" % (pw, ph)
    objs.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    objs.append(b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
                b"/BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n" % (w, h, len(data))
                + data + b"\nendstream")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1))
    for o in offsets:
        out.write(b"%010d 00000 n \n" % o)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref))
    with open(pdf_path, "wb") as f:
        f.write(out.getvalue())


def zero_pages(path):
    write_pdf(path, [], page_count_override=0)


# --- Text encodings ----------------------------------------------------------------------
FRENCH = ("Le cœur a ses raisons que la raison ne connaît point. " * 3 +
          "L'été dernier, à Orléans, nous avons mangé des crêpes près de la cathédrale. "
          "Ça a été très agréable, déjà oublié? Non: c'était hier.\n")
JAPANESE = ("吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。"
            "何でも薄暗いじめじめした所でニャーニャー泣いていた事だけは記憶している。\n") * 3


def text_fixtures(out):
    def w(name, data):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)

    english = "Mr. Smith met Dr. Jones at 5 p.m. They talked. Was it late? Yes!\n"
    w("utf16le-bom.txt", b"\xff\xfe" + ("Grüße aus Köln — ça va?\n" + english).encode("utf-16-le"))
    w("utf8-bom.txt", b"\xef\xbb\xbf" + "Café crème, naïve résumé.\n".encode("utf-8"))
    w("latin1.txt", FRENCH.replace("œ", "oe").encode("latin-1"))
    w("shift-jis.txt", JAPANESE.encode("shift_jis"))
    w("invalid-utf8.txt", "Valid “quotes” and café, then bad bytes: ".encode() + b"\xff\xfe\xc3(" +
      " and the rest — fine.\n".encode())
    w("empty.txt", b"")
    w("form-feed.txt", b"Page one text.\n\nSecond paragraph.\n\fPage two text.\n\fPage three.\n")
    w("binary.dat", bytes(range(256)) * 4)
    w("sample.html", """<!DOCTYPE html>
<html><head><title>Sample &amp; Test</title>
<style>p { color: red; }</style>
<script>var x = "<p>not text</p>";</script></head>
<body>
<h1>First Heading</h1>
<p>A paragraph with <b>bold</b> and an entity: caf&eacute; &amp; cr&#232;me &#x2014; done.
<p>An unclosed paragraph, a stray < sign and a bare & ampersand.
<div>Line one<br>Line two</div>
<!-- a comment that must vanish -->
<h2>Second Heading</h2>
<ul><li>Item one</li><li>Item two</li></ul>
<pre>  keep   this
    spacing</pre>
</body></html>
""".encode())


# --- Broken and hostile zips -------------------------------------------------------------
CONTAINER = b"""<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>"""


def opf(items, spine):
    manifest = "".join('<item id="%s" href="%s" media-type="application/xhtml+xml"/>' % i for i in items)
    refs = "".join('<itemref idref="%s"/>' % s for s in spine)
    return ("""<?xml version="1.0"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Hostile</dc:title></metadata>
<manifest>%s</manifest><spine>%s</spine></package>""" % (manifest, refs)).encode()


def zentry(name, deflate=True):
    """A zip entry with a fixed date, so regenerated fixtures are byte-identical."""
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    return info


def epub_zip(path, entries):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zentry("mimetype", deflate=False), b"application/epub+zip")
        for name, data in entries:
            z.writestr(zentry(name), data)


def zip_fixtures(out):
    chapter = b"<html><body><h1>Only</h1><p>The only real chapter.</p></body></html>"
    epub_zip(os.path.join(out, "no-opf.epub"), [("META-INF/container.xml", CONTAINER),
                                                ("OEBPS/ch1.xhtml", chapter)])
    big = b"<html><body><p>" + b" " * (20 << 20) + b"</p></body></html>"
    epub_zip(os.path.join(out, "zip-bomb.epub"), [("META-INF/container.xml", CONTAINER),
                                                  ("OEBPS/content.opf", opf([("c1", "bomb.xhtml")], ["c1"])),
                                                  ("OEBPS/bomb.xhtml", big)])
    epub_zip(os.path.join(out, "path-traversal.epub"), [
        ("META-INF/container.xml", CONTAINER),
        ("OEBPS/content.opf", opf([("evil", "../../../etc/passwd"), ("c1", "ch1.xhtml")], ["evil", "c1"])),
        ("OEBPS/ch1.xhtml", chapter),
        ("../evil.xhtml", b"<p>outside</p>")])
    # XHTML in UTF-16 with a byte-order mark (allowed by EPUB), and no mimetype entry first.
    with zipfile.ZipFile(os.path.join(out, "utf16-chapter.epub"), "w") as z:
        z.writestr(zentry("META-INF/container.xml"), CONTAINER)
        z.writestr(zentry("OEBPS/content.opf"), opf([("c1", "ch1.xhtml")], ["c1"]))
        z.writestr(zentry("OEBPS/ch1.xhtml"), b"\xff\xfe" + "<html><body><h1>Über</h1><p>Grüße, café.</p>"
                   "</body></html>".encode("utf-16-le"))
    with zipfile.ZipFile(os.path.join(out, "not-an-epub.zip"), "w") as z:
        z.writestr(zentry("readme.txt"), "just a zip")


def main():
    os.makedirs(OUT, exist_ok=True)
    two_column(os.path.join(OUT, "layout-two-column.pdf"))
    running_headers(os.path.join(OUT, "layout-running-headers.pdf"))
    no_text_layer(os.path.join(OUT, "no-text-layer.pdf"))
    zero_pages(os.path.join(OUT, "zero-pages.pdf"))
    with open(os.path.join(OUT, "layout-running-headers.pdf"), "rb") as f:
        data = f.read()
    with open(os.path.join(OUT, "truncated.pdf"), "wb") as f:
        f.write(data[: len(data) * 6 // 10])
    # Objects intact, every xref offset wrong: readers must rebuild the table by scanning.
    head, tail = data.split(b"\nxref\n")
    broken = b"\n".join(line.replace(b" 00000 n", b" 00000 n").replace(line[:10], b"%010d" % 9)
                        if line.endswith(b" n ") else line for line in tail.split(b"\n"))
    with open(os.path.join(OUT, "broken-xref.pdf"), "wb") as f:
        f.write(head + b"\nxref\n" + broken)
    with open(os.path.join(OUT, "garbage.pdf"), "wb") as f:
        f.write(b"%PDF-1.7\n" + bytes((i * 37 + 11) % 256 for i in range(3000)))
    text_fixtures(OUT)
    zip_fixtures(OUT)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--wrap-pgm":
        wrap_pgm(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
