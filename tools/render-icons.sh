#!/usr/bin/env bash
# Renders the hicolor PNG sizes of Lectern's icon from its hand-drawn SVG
# (packaging/linux/icons/<id>.svg -> packaging/linux/icons/<N>/<id>.png). The PNGs are committed
# so the build needs no SVG renderer; rerun this after editing the SVG. Needs rsvg-convert
# (Debian: librsvg2-bin) and optipng when present (smaller files, same pixels).
set -euo pipefail
cd "$(dirname "$0")/../packaging/linux/icons"
id=io.github.lectern.Lectern
command -v rsvg-convert >/dev/null || { echo "render-icons: install librsvg2-bin" >&2; exit 1; }
for size in 16 32 48 64 128 256; do
  mkdir -p "$size"
  rsvg-convert --width "$size" --height "$size" "$id.svg" --output "$size/$id.png"
  if command -v optipng >/dev/null; then optipng -quiet -o5 -strip all "$size/$id.png"; fi
  echo "render-icons: $size/$id.png"
done
