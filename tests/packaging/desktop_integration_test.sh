#!/usr/bin/env bash
# Checks the desktop integration files in packaging/linux/ with the freedesktop.org tools.
# Usage: desktop_integration_test.sh desktop|metainfo|mime|icons SOURCE_DIR PROJECT_VERSION
set -euo pipefail
. "$(dirname "$0")/common.sh"
mode=$1 src=$2 version=$3
id=io.github.lectern.Lectern
linux=$src/packaging/linux

case $mode in
desktop)
  need desktop-file-validate
  # Errors fail it with a non-zero exit; warnings and hints (a missing main category: the entry
  # would land in a catch-all menu) only print, so any output fails the test too.
  report=$(desktop-file-validate "$linux/$id.desktop" 2>&1) || fail "desktop-file-validate: $report"
  [ -z "$report" ] || fail "desktop-file-validate: $report"
  # "Open with Lectern" for the formats the issue promises, and the session type.
  for type in application/pdf application/epub+zip application/x-lectern-session; do
    grep -q "^MimeType=.*$type;" "$linux/$id.desktop" || fail "MimeType lacks $type"
  done
  grep -qx "Icon=$id" "$linux/$id.desktop" || fail "Icon is not $id"
  ;;
metainfo)
  need appstreamcli xmllint
  appstreamcli validate --no-net "$linux/$id.metainfo.xml" || fail "appstreamcli reported problems"
  # The newest release (the first listed) must be the version being built.
  newest=$(xmllint --xpath 'string(/component/releases/release[1]/@version)' "$linux/$id.metainfo.xml")
  [ "$newest" = "$version" ] ||
    fail "newest <release> in the metainfo is '$newest', project(VERSION) is $version: add a release"
  ;;
mime)
  need xmllint update-mime-database
  xmllint --noout "$linux/$id.mime.xml" || fail "the MIME XML is not well-formed"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/mime/packages"
  cp "$linux/$id.mime.xml" "$tmp/mime/packages/$id.xml"
  # update-mime-database skips what it does not understand with a warning and still exits 0:
  # any warning or error on stderr (except its note about the search path) fails the test.
  update-mime-database "$tmp/mime" 2>"$tmp/log" || fail "update-mime-database failed: $(cat "$tmp/log")"
  if grep -v -e "is not in the search path" -e "XDG_DATA_HOME and XDG_DATA_DIRS" \
       -e "environment variables, so applications" -e "be able to find it until" \
       -e "directories currently searched" -e "^- " -e '^$' "$tmp/log"; then
    fail "update-mime-database complained (above)"
  fi
  grep -qx "50:application/x-lectern-session:\*.lectern" "$tmp/mime/globs2" ||
    fail "glob *.lectern missing from the compiled database"
  # app/sessionarchive.cpp's 16-byte magic at offset 0.
  grep -qa "LECTERN-SESSION" "$tmp/mime/magic" || fail "session magic missing from the compiled database"
  [ -f "$tmp/mime/application/x-lectern-session.xml" ] || fail "type not compiled"
  ;;
icons)
  need xmllint
  xmllint --noout "$linux/icons/$id.svg" || fail "the SVG icon is not well-formed"
  for size in 16 32 48 64 128 256; do
    png=$linux/icons/$size/$id.png
    [ -f "$png" ] || fail "$png missing (tools/render-icons.sh makes it)"
    # PNG header: width and height are big-endian 32-bit integers at bytes 16 and 20.
    dims=$(od -An -tu1 -j16 -N8 "$png" | awk '{print $1*16777216+$2*65536+$3*256+$4 "x" $5*16777216+$6*65536+$7*256+$8}')
    [ "$dims" = "${size}x${size}" ] || fail "$png is $dims, not ${size}x${size}"
  done
  ;;
*)
  fail "unknown mode $mode"
  ;;
esac
echo "ok: $mode"
