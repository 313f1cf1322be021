#!/usr/bin/env bash
# Installs the built .deb into a fresh Debian 12 root (debootstrap; apt resolves the dependencies
# from this machine's Debian mirror), runs `lectern-cli --version`, an ingest + ask of the sample
# and `lectern --self-test` (offscreen) there as an ordinary user, then `apt-get remove` and
# `apt-get purge` the package and checks that the user's files (a document store, settings, a
# document) are byte-for-byte untouched each time, and that a reinstall reads the kept store.
# Usage: chroot_install_test.sh PACKAGE_DIR CACHE_DIR PROJECT_VERSION
# Slow (minutes, network): skips unless LECTERN_RUN_SLOW=1; needs root. LECTERN_DEBIAN_MIRROR
# overrides the mirror, LECTERN_KEEP_CHROOT=1 keeps the root for a look afterwards.
set -euo pipefail
. "$(dirname "$0")/common.sh"
out=$1 cache=$2 version=$3

if [ "${LECTERN_RUN_SLOW:-0}" != 1 ]; then
  echo "SKIP: installs into a debootstrap root (minutes, network): set LECTERN_RUN_SLOW=1 (ctest -L slow)"
  exit 77
fi
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (debootstrap, chroot, mount)"; exit 77; }
need debootstrap chroot unshare mount umount dpkg
# In a private mount namespace the /proc and /dev mounts vanish with this process, whatever
# happens; the cleanup below still unmounts them before deleting the root.
if [ -z "${LECTERN_CHROOT_NS:-}" ]; then
  exec env LECTERN_CHROOT_NS=1 unshare --mount --propagation private "$0" "$@"
fi

if [ ! -d "$out" ]; then
  echo "SKIP: no packages in $out (packaging_packages skipped)"
  exit 77
fi
deb=$(the_one "$out/lectern_*.deb")
suite=bookworm
arch=$(dpkg --print-architecture)
started=$SECONDS
step() { echo "== [$((SECONDS - started)) s] $*"; }

# The Debian mirror apt uses here (deb822 .sources or sources.list), else deb.debian.org.
uris=$({ grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources || true; } | awk '{print $2}'
       { grep -hsE '^deb\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list || true; } |
         awk '{print $2}')
mirror=${LECTERN_DEBIAN_MIRROR:-$(grep -E '/debian/?$' <<<"$uris" | head -n1 || true)}
mirror=${mirror:-http://deb.debian.org/debian}
security=$(grep -E '/debian-security/?$' <<<"$uris" | head -n1 || true)
security=${security:-${mirror%/debian*}/debian-security}
step "mirror $mirror, security $security"

mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
tarball=$cache/debootstrap-$suite-$arch.tgz
if [ ! -f "$tarball" ]; then
  step "downloading the base system once into $tarball"
  rm -rf "$cache/make-tarball"
  debootstrap --variant=minbase --include=passwd --arch="$arch" \
    --make-tarball="$tarball.part" "$suite" "$cache/make-tarball" "$mirror"
  mv "$tarball.part" "$tarball"
  rm -rf "$cache/make-tarball"
fi

root=$(mktemp -d "$cache/root.XXXXXX")
before=$root.home-before  # checksums of the user's files, outside the root
chmod 755 "$root"  # mktemp makes it 0700: the user "reader" could not enter its own /
cleanup() {
  local rc=$?
  for m in "$root/dev" "$root/proc"; do
    if mountpoint -q "$m"; then umount -R "$m" || umount -lR "$m"; fi
  done
  rm -f "$before"
  if [ "${LECTERN_KEEP_CHROOT:-0}" = 1 ]; then
    echo "kept $root"
  elif ! grep -q " $root/" /proc/self/mounts; then
    rm -rf --one-file-system "$root"
  fi
  exit $rc
}
trap cleanup EXIT

step "unpacking a fresh $suite root"
debootstrap --variant=minbase --include=passwd --arch="$arch" \
  --unpack-tarball="$tarball" "$suite" "$root" "$mirror" >"$root.log" 2>&1 ||
  { tail -n 30 "$root.log"; fail "debootstrap failed"; }
rm -f "$root.log"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount --make-rslave "$root/dev"
cp /etc/resolv.conf "$root/etc/resolv.conf"
cat >"$root/etc/apt/sources.list" <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security $suite-security main
SOURCES

in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
                    DEBIAN_FRONTEND=noninteractive "$@"; }
# As the ordinary user "reader", with a login-like environment.
as_reader() { chroot --userspec=reader:reader "$root" env -i PATH=/usr/bin:/bin LANG=C.UTF-8 \
                     HOME=/home/reader USER=reader QT_QPA_PLATFORM=offscreen "$@"; }

step "installing $(basename "$deb") with apt"
cp "$deb" "$root/tmp/"
in_root apt-get update -q
in_root apt-get install -y -q "/tmp/$(basename "$deb")"
in_root dpkg -s lectern | grep -E '^(Status|Version|Depends):'

step "running the installed executables"
in_root useradd --create-home --shell /bin/bash reader
got=$(as_reader lectern-cli --version)
[ "$got" = "lectern-cli $version" ] || fail "lectern-cli --version says '$got', expected $version"
echo "$got"
got=$(as_reader lectern --version)
[ "$got" = "Lectern $version" ] || fail "lectern --version says '$got', expected $version"
echo "$got"
as_reader lectern --self-test || fail "lectern --self-test failed in the fresh root"

step "making user data in /home/reader"
data=/home/reader/.local/share/Lectern/Lectern
store=$data/stores/harbour-ledger
as_reader mkdir -p "$data/stores" /home/reader/.config/Lectern /home/reader/Documents
as_reader cp /usr/share/lectern/samples/harbour-ledger.txt /home/reader/Documents/
as_reader sh -c 'printf "[General]\nlastFolder=/home/reader/Documents\n" > /home/reader/.config/Lectern/Lectern.conf'
as_reader lectern-cli ingest --store "$store" /home/reader/Documents/harbour-ledger.txt
answer() { as_reader lectern-cli ask --store "$store" "What is the code for the red door?"; }
got=$(answer)
echo "answer: $got"
grep -q 4821 <<<"$got" || fail "the installed lectern-cli did not answer from the sample"
snapshot() { (cd "$root/home/reader" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
snapshot >"$before"
echo "$(wc -l <"$before") files under /home/reader"
check_untouched() {
  snapshot | diff -u "$before" - || fail "user data changed after $1"
  echo "user data untouched after $1"
}
install_deb() { in_root apt-get install -y -q "/tmp/$(basename "$deb")" >/dev/null; }

step "apt-get remove"
in_root apt-get remove -y -q lectern
[ ! -e "$root/usr/bin/lectern" ] || fail "/usr/bin/lectern still there after remove"
check_untouched "apt-get remove"
step "reinstalling after remove: the kept store is read again"
install_deb
grep -q 4821 <<<"$(answer)" || fail "the reinstalled lectern-cli cannot read the kept store"
snapshot >"$before"  # the state purge must keep (in case asking wrote to the store)

step "apt-get purge"
in_root apt-get purge -y -q lectern
if in_root dpkg -s lectern >/dev/null 2>&1; then fail "dpkg still knows lectern after purge"; fi
for left in usr/bin/lectern usr/bin/lectern-cli usr/share/lectern usr/share/doc/lectern \
            usr/share/applications/io.github.lectern.Lectern.desktop; do
  [ ! -e "$root/$left" ] || fail "/$left left behind by purge"
done
check_untouched "apt-get purge"
step "reinstalling after purge: the kept store is read again"
install_deb
grep -q 4821 <<<"$(answer)" || fail "the reinstalled lectern-cli cannot read the kept store"
step "ok: installed, ran, removed, purged and reinstalled in a fresh $suite root"
