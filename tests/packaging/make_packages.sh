#!/usr/bin/env bash
# Builds the Linux packages (.deb, .rpm, .tar.gz and their .sha256) from this build tree into a
# folder of their own, for the packaging checks (ctest fixture lectern_packages).
# Usage: make_packages.sh CPACK_COMMAND BUILD_DIR OUT_DIR
set -euo pipefail
. "$(dirname "$0")/common.sh"
cpack=$1 build=$2 out=$3
# First, so that a skipped run leaves no stale packages for the checks to look at.
rm -rf "$out"
need dpkg-deb dpkg-shlibdeps fakeroot rpmbuild
mkdir -p "$out"
# cpack installs the already built tree (its preinstall step builds what is out of date).
"$cpack" --config "$build/CPackConfig.cmake" -G "DEB;RPM;TGZ" -B "$out" ||
  fail "cpack failed"
rm -rf "$out/_CPack_Packages"
ls -l "$out"
