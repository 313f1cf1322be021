#!/usr/bin/env bash
# Regenerates the generated document fixtures in tests/data/documents/ (see README.md there):
# hand-written PDFs, text encodings and hostile zips (make_document_fixtures.py), EPUB 3 and
# EPUB 2 books from book.md (pandoc), and an encrypted PDF (ghostscript). The two real PDFs
# (libtasn1.pdf, shared-mime-info-spec.pdf) are copied from Debian documentation packages.
# Needs: python3, pandoc, ghostscript, libtasn1-doc and shared-mime-info
# (`tools/install-deps.sh --fixtures` installs them).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/../tests/data/documents}"
mkdir -p "$out"

python3 "$here/make_document_fixtures.py" "$out"

# Fixed dates and identifiers keep the EPUBs byte-stable across runs.
export SOURCE_DATE_EPOCH=1700000000
pandoc "$out/book.md" -o "$out/book-epub3.epub" -t epub3 --metadata identifier=lectern-fixture
pandoc "$out/book.md" -o "$out/book-epub2.epub" -t epub2 --metadata identifier=lectern-fixture

gs -q -dNOPAUSE -dBATCH -sDEVICE=pdfwrite -sOwnerPassword=owner -sUserPassword=secret \
   -dEncryptionR=3 -dKeyLength=128 -sOutputFile="$out/encrypted.pdf" \
   "$out/layout-running-headers.pdf"

# A "scanned" page: page 1 of the running-headers PDF rendered to a 150 dpi greyscale image and
# wrapped as the only content of a PDF page (no text layer; the OCR test reads it back).
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
gs -q -dNOPAUSE -dBATCH -sDEVICE=pgmraw -r150 -dFirstPage=1 -dLastPage=1 \
   -sOutputFile="$tmp/page.pgm" "$out/layout-running-headers.pdf"
python3 "$here/make_document_fixtures.py" --wrap-pgm "$tmp/page.pgm" "$out/scanned.pdf" 150

for pdf in /usr/share/doc/libtasn1-doc/libtasn1.pdf \
           /usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf; do
  if [ -f "$pdf" ]; then cp "$pdf" "$out/real-$(basename "$pdf")"; else
    echo "make_document_fixtures: $pdf missing (apt-get install $(basename "$(dirname "$pdf")"))" >&2; fi
done
echo "make_document_fixtures: wrote $out"
