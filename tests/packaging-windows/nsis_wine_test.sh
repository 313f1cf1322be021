#!/usr/bin/env bash
# Runs the stub NSIS installer (packaging/windows/stub/) silently under wine, in a throw-away wine
# prefix and home folder: per-user install with /D and /DESKTOP, the .lectern association and the
# uninstall entry in HKCU, an in-place upgrade to a newer version, an uninstall that keeps the
# user's data, and a per-machine install and uninstall (HKLM, Program Files).
# Prints "SKIP: ..." and exits 0 without LECTERN_RUN_SLOW=1, makensis or wine.
# Usage: nsis_wine_test.sh STUB_DIR WORK_DIR VERSION CPACK
set -euo pipefail
stub_dir=$1 work=$2 version=$3 cpack=$4

if [ "${LECTERN_RUN_SLOW:-}" != 1 ]; then
  echo "SKIP: set LECTERN_RUN_SLOW=1 to install the stub installer under wine"; exit 0
fi
command -v makensis >/dev/null || { echo "SKIP: makensis not found (Debian: nsis)"; exit 0; }
# Debian's wine64 without wine32:i386 runs only 64-bit programs; NSIS installers are 32-bit by
# default, so without the 32-bit loader the stub is built for NSIS's amd64-unicode target (same
# script, 64-bit stub). Debian installs the loaders in /usr/lib/wine, not on PATH.
target=()
if [ -x /usr/lib/wine/wine ] || command -v wine32 >/dev/null; then
  wine=$(command -v wine)
elif [ -x /usr/lib/wine/wine64 ] || command -v wine64 >/dev/null; then
  wine=$(command -v wine64 || echo /usr/lib/wine/wine64)
  target=(-DLECTERN_STUB_NSIS_TARGET=amd64-unicode)
else
  echo "SKIP: wine not found (Debian: wine64)"; exit 0
fi
wineserver=$(command -v wineserver || echo /usr/lib/wine/wineserver64)
[ -x "$wineserver" ] || wineserver=/usr/lib/wine/wineserver

rm -rf "$work"; mkdir -p "$work/home"
# Nothing may leak into the real home: wine maps Desktop to $HOME and writes menu entries there.
export HOME="$work/home" XDG_DATA_HOME="$work/home/.local/share" XDG_CONFIG_HOME="$work/home/.config"
export WINEPREFIX="$work/prefix" WINEDEBUG=-all WINEARCH=win64
export WINEDLLOVERRIDES="mscoree,mshtml=;winemenubuilder.exe=d"
unset DISPLAY WAYLAND_DISPLAY
trap '"$wineserver" -k >/dev/null 2>&1 || true' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
build() {  # build VERSION DIR [extra cmake args]
  local v=$1 dir=$2; shift 2
  cmake -S "$stub_dir" -B "$dir" -DLECTERN_STUB_VERSION="$v" "${target[@]}" "$@" >/dev/null
  (cd "$dir" && "$cpack" -G NSIS >/dev/null) || fail "cpack $v"
  echo "$dir/lectern-$v-win64.exe"
}
run() { "$wine" "$@"; "$wineserver" -w; }  # waits for the uninstaller's copy in %TEMP% too
reg_value() {  # reg_value KEY [NAME] -> the value's data (the default value without NAME), or empty
  local args=(/ve) name="(Default)"
  if [ -n "${2:-}" ]; then args=(/v "$2"); name=$2; fi
  # reg prints "    NAME    TYPE    DATA" with CRLF line ends.
  "$wine" reg query "$1" "${args[@]}" 2>/dev/null | tr -d '\r' \
    | awk -F '    ' -v n="$name" '$2 == n { print $4 }'
}
uninstall_key='Software\Microsoft\Windows\CurrentVersion\Uninstall\Lectern'

old=$(build "$version" "$work/old" -DLECTERN_STUB_OBSOLETE=ON)
IFS=. read -r major minor patch <<<"$version"
new_version="$major.$minor.$((patch + 1))"
new=$(build "$new_version" "$work/new")

"$wine" wineboot --init >/dev/null 2>&1 || true
"$wineserver" -w
drive_c="$WINEPREFIX/drive_c"
user=$(ls "$drive_c/users" | grep -v -x Public | head -n1)
profile="$drive_c/users/$user"

echo "== per-user install of $version to C:\\LecternTest with a desktop shortcut"
run "$old" /S /CurrentUser /DESKTOP '/D=C:\LecternTest'
dir="$drive_c/LecternTest"
for f in bin/lectern.exe bin/lectern-cli.exe bin/obsolete.dll share/lectern/samples/harbour-ledger.txt \
         share/lectern/lectern.ico Uninstall.exe; do
  [ -f "$dir/$f" ] || fail "missing $dir/$f"
done
grep -q "payload $version" "$dir/bin/lectern.exe" || fail "lectern.exe is not version $version"
start_menu="$profile/AppData/Roaming/Microsoft/Windows/Start Menu/Programs/Lectern/Lectern.lnk"
[ -f "$start_menu" ] || fail "no Start-menu shortcut $start_menu"
[ -f "$profile/Desktop/Lectern.lnk" ] || fail "no desktop shortcut"
[ "$(reg_value "HKCU\\$uninstall_key" DisplayVersion)" = "$version" ] || fail "HKCU uninstall entry"
[ -z "$(reg_value "HKLM\\$uninstall_key" DisplayVersion)" ] || fail "a per-user install wrote HKLM"
[ "$(reg_value 'HKCU\Software\Classes\.lectern')" = Lectern.Session ] || fail ".lectern association"
# Values read first, then matched: `producer | grep -q` can fail under pipefail (SIGPIPE).
open_command=$(reg_value 'HKCU\Software\Classes\Lectern.Session\shell\open\command')
grep -qi 'LecternTest\\bin\\lectern.exe" "%1"' <<<"$open_command" || fail "open command of Lectern.Session"
uninstall_string=$(reg_value "HKCU\\$uninstall_key" UninstallString)
grep -q '/CurrentUser' <<<"$uninstall_string" || fail "UninstallString lacks the mode"
[ "$(reg_value "HKCU\\$uninstall_key" Publisher)" = "The Lectern developers" ] || fail "Publisher"

# The user's library, as the app keeps it (QStandardPaths::AppLocalDataLocation:
# %LOCALAPPDATA%\Lectern\Lectern).
data="$profile/AppData/Local/Lectern/Lectern"
mkdir -p "$data/stores/doc1"
echo "user library" >"$data/library.sqlite"; echo "store" >"$data/stores/doc1/manifest.json"

echo "== upgrade to $new_version in place (no /D: the previous folder is reused)"
run "$new" /S /CurrentUser
grep -q "payload $new_version" "$dir/bin/lectern.exe" || fail "lectern.exe was not upgraded"
[ ! -e "$dir/bin/obsolete.dll" ] || fail "the previous version's files were not removed first"
[ -f "$dir/Uninstall.exe" ] || fail "no uninstaller after the upgrade"
[ "$(reg_value "HKCU\\$uninstall_key" DisplayVersion)" = "$new_version" ] || fail "DisplayVersion after upgrade"
[ -f "$profile/Desktop/Lectern.lnk" ] || fail "the upgrade dropped the desktop shortcut"
[ -f "$data/library.sqlite" ] || fail "the upgrade removed the user's library"

echo "== uninstall (QuietUninstallString)"
run 'C:\LecternTest\Uninstall.exe' /S /CurrentUser
[ ! -e "$dir" ] || fail "install folder left behind: $(find "$dir")"
[ ! -e "$start_menu" ] || fail "Start-menu shortcut left behind"
[ ! -e "$profile/Desktop/Lectern.lnk" ] || fail "desktop shortcut left behind"
[ -z "$(reg_value "HKCU\\$uninstall_key" DisplayVersion)" ] || fail "uninstall entry left behind"
[ -z "$(reg_value 'HKCU\Software\Classes\.lectern')" ] || fail ".lectern association left behind"
[ -f "$data/library.sqlite" ] && [ -f "$data/stores/doc1/manifest.json" ] || fail "the uninstaller removed user data"

echo "== per-machine install and uninstall"
run "$new" /S /AllUsers
pf="$drive_c/Program Files/Lectern"
[ -f "$pf/bin/lectern.exe" ] || fail "missing $pf/bin/lectern.exe"
[ -f "$drive_c/ProgramData/Microsoft/Windows/Start Menu/Programs/Lectern/Lectern.lnk" ] || fail "no all-users Start-menu shortcut"
[ "$(reg_value "HKLM\\$uninstall_key" DisplayVersion)" = "$new_version" ] || fail "HKLM uninstall entry"
[ "$(reg_value 'HKLM\Software\Classes\.lectern')" = Lectern.Session ] || fail "HKLM .lectern association"
run 'C:\Program Files\Lectern\Uninstall.exe' /S /AllUsers
[ ! -e "$pf" ] || fail "Program Files\\Lectern left behind"
[ -z "$(reg_value "HKLM\\$uninstall_key" DisplayVersion)" ] || fail "HKLM uninstall entry left behind"
[ -f "$data/library.sqlite" ] || fail "user data removed"

echo "OK: installed, upgraded and uninstalled under $("$wine" --version) (${target[*]:-x86 stub})"
