#!/usr/bin/env bash
# Installs every Debian/Ubuntu package that Lectern's build, tests and tools need.
# Idempotent: when everything is present it changes nothing and does not touch the network.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git
  # Qt 6 (Core, Widgets, Test, Sql, Network; Debian 12 ships 6.4.2, the API floor)
  qt6-base-dev qt6-base-dev-tools libgl-dev
  # translations: lupdate/lrelease and their CMake functions, and Qt's own catalogues
  qt6-tools-dev qt6-l10n-tools qt6-translations-l10n
  # the library database (Qt SQL's SQLite driver)
  libqt6sql6-sqlite
  # tokenizers: SentencePiece library and its spm_train tool (test models)
  libsentencepiece-dev sentencepiece
  # text normalisation
  libicu-dev
  # document ingestion: PDF (poppler-qt6), EPUB (libzip), OCR of scanned pages (tesseract);
  # poppler-utils (pdfinfo, pdftotext) is the tests' reference; libpoppler-private-dev is Poppler's
  # core text API, which reads long PDFs faster than poppler-qt6 (optional: LECTERN_POPPLER_CORE)
  libpoppler-qt6-dev libpoppler-private-dev libzip-dev libtesseract-dev tesseract-ocr-eng poppler-utils
  # SHA-256 (document store fingerprints)
  libssl-dev
  # fuzzing (libFuzzer ships with clang's runtime)
  clang libclang-rt-dev
  # headless GUI tests and screenshots
  xvfb xauth
  # Python tools in tools/ (they make their own virtual environment)
  python3 python3-venv
  # packaging: CPack's .deb (dpkg-shlibdeps, fakeroot) and .rpm (rpmbuild), the desktop-file and
  # AppStream validators, lintian, debootstrap for the chroot install test; librsvg2-bin renders
  # the icon PNGs (tools/render-icons.sh); nsis is makensis for the Windows installer's recipe test
  dpkg-dev fakeroot rpm desktop-file-utils appstream shared-mime-info libxml2-utils lintian
  debootstrap librsvg2-bin nsis
)

# Only for regenerating the committed document fixtures (tools/make_document_fixtures.sh: EPUBs,
# the encrypted PDF, the real manuals); the build and the tests never need them.
if [ "${1:-}" = "--fixtures" ]; then
  packages+=(pandoc ghostscript libtasn1-doc)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
