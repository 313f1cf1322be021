#!/bin/sh
# Screenshots of the main views for docs/screenshots/: runs an already built `lectern` (default
# build/bin/lectern, or the first argument) under xvfb-run with --screenshots, which reads
# the bundled sample document with the bundled demo model, asks one question and saves PNGs of the
# library + chat, the PDF reader and the settings dialog. Builds nothing.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
binary=${1:-"$root/build/bin/lectern"}
out=${2:-"$root/docs/screenshots"}
if [ ! -x "$binary" ]; then
  echo "screenshots.sh: $binary not found; build the lectern target first" >&2
  exit 1
fi
mkdir -p "$out"
export QT_QPA_PLATFORM=xcb
xvfb-run -a -s "-screen 0 1600x1000x24" "$binary" --screenshots "$out"
ls -l "$out"/*.png
