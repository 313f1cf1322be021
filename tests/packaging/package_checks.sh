#!/usr/bin/env bash
# Checks the packages that make_packages.sh built: lintian, the .deb's control fields and the
# version of the binaries inside it, the .rpm's header, the .tar.gz's layout, the .sha256 files.
# Usage: package_checks.sh lintian|deb|rpm|tgz|checksums PACKAGE_DIR PROJECT_VERSION
set -euo pipefail
. "$(dirname "$0")/common.sh"
mode=$1 out=$2 version=$3
# packaging_packages builds them; when it skipped (a tool missing) there is nothing to check.
if [ ! -d "$out" ]; then
  echo "SKIP: no packages in $out (packaging_packages skipped)"
  exit 77
fi

case $mode in
lintian)
  need lintian
  deb=$(the_one "$out/lectern_*.deb")
  # Warnings and notes are printed for the record; an error (E:) fails the test.
  lintian --info --no-tag-display-limit "$deb" | tee "$out/lintian.txt" || true
  if grep -q '^E:' "$out/lintian.txt"; then fail "lintian reported errors"; fi
  echo "lintian: $(grep -c '^W:' "$out/lintian.txt" || true) warnings, no errors"
  ;;
deb)
  need dpkg-deb
  deb=$(the_one "$out/lectern_*.deb")
  dpkg-deb --info "$deb"
  [ "$(dpkg-deb --field "$deb" Package)" = lectern ] || fail "Package is not lectern"
  [ "$(dpkg-deb --field "$deb" Version)" = "$version" ] || fail "Version is not $version"
  depends=$(dpkg-deb --field "$deb" Depends)
  # Computed by dpkg-shlibdeps (versioned libraries), plus the SQLite plugin listed by hand.
  for pkg in libc6 libqt6core6 libqt6widgets6 libpoppler-qt6-3 libqt6sql6-sqlite; do
    grep -Eq "(^|, )$pkg( |,|$)" <<<"$depends" || fail "Depends lacks $pkg: $depends"
  done
  grep -Eq 'libc6 \(>= [0-9]' <<<"$depends" || fail "Depends has no shlibdeps versions: $depends"
  if grep -Eq 'cudart|cublas|nvidia' <<<"$depends"; then fail "Depends names CUDA: $depends"; fi
  # The packaged binaries themselves report the project's version.
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  dpkg-deb -x "$deb" "$tmp"
  [ "$("$tmp/usr/bin/lectern-cli" --version)" = "lectern-cli $version" ] ||
    fail "packaged lectern-cli --version says: $("$tmp/usr/bin/lectern-cli" --version)"
  [ "$(QT_QPA_PLATFORM=offscreen "$tmp/usr/bin/lectern" --version)" = "Lectern $version" ] ||
    fail "packaged lectern --version says: $(QT_QPA_PLATFORM=offscreen "$tmp/usr/bin/lectern" --version)"
  for f in usr/share/applications/io.github.lectern.Lectern.desktop \
           usr/share/metainfo/io.github.lectern.Lectern.metainfo.xml \
           usr/share/mime/packages/io.github.lectern.Lectern.xml \
           usr/share/icons/hicolor/256x256/apps/io.github.lectern.Lectern.png \
           usr/share/icons/hicolor/scalable/apps/io.github.lectern.Lectern.svg \
           usr/share/lectern/demo-model/lectern-demo.pth usr/share/doc/lectern/copyright; do
    [ -f "$tmp/$f" ] || fail "the .deb lacks /$f"
  done
  # The installed tree as a whole: metainfo, its launchable desktop file and icon agree.
  if command -v appstreamcli >/dev/null; then
    appstreamcli validate-tree --no-net "$tmp" || fail "appstreamcli validate-tree failed"
  fi
  ;;
rpm)
  need rpm
  rpmfile=$(the_one "$out/lectern-*.rpm")
  rpm -qip "$rpmfile" || fail "rpm -qip cannot read $rpmfile"
  [ "$(rpm -qp --queryformat '%{NAME} %{VERSION}' "$rpmfile")" = "lectern $version" ] ||
    fail "rpm name/version: $(rpm -qp --queryformat '%{NAME} %{VERSION}' "$rpmfile")"
  # autoreq found the shared libraries; the package does not own shared system folders.
  # Listed into variables first: with pipefail, `rpm ... | grep -q` fails at random when grep
  # exits at its first match and rpm dies of SIGPIPE.
  requires=$(rpm -qpR "$rpmfile")
  files=$(rpm -qpl "$rpmfile")
  grep -q '^libQt6Core\.so\.6' <<<"$requires" || fail "no libQt6Core requirement (autoreq)"
  if grep -qx -e /usr/share/icons/hicolor -e /usr/share/applications <<<"$files"; then
    fail "the .rpm owns a shared system folder"
  fi
  grep -qx /usr/bin/lectern <<<"$files" || fail "the .rpm lacks /usr/bin/lectern"
  ;;
tgz)
  tgz=$(the_one "$out/lectern-*.tar.gz")
  listing=$(tar -tzf "$tgz")
  top=lectern-$version-Linux-$(uname -m)
  for f in bin/lectern bin/lectern-cli share/lectern/demo-model/lectern-demo.pth \
           share/applications/io.github.lectern.Lectern.desktop; do
    grep -qx "$top/$f" <<<"$listing" || fail "$tgz lacks $top/$f"
  done
  echo "$tgz: $(wc -l <<<"$listing") entries"
  ;;
checksums)
  need sha256sum
  n=0
  for pkg in "$out"/*.deb "$out"/*.rpm "$out"/*.tar.gz; do
    [ -f "$pkg.sha256" ] || fail "no checksum file beside $(basename "$pkg")"
    (cd "$out" && sha256sum --check --strict "$(basename "$pkg").sha256") || fail "$pkg.sha256 does not verify"
    n=$((n + 1))
  done
  [ $n -eq 3 ] || fail "expected 3 packages, found $n"
  ;;
*)
  fail "unknown mode $mode"
  ;;
esac
echo "ok: $mode"
