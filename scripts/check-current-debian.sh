#!/usr/bin/env bash
# Builds w2s and runs its whole test suite on the current Debian (sid: the newest g++, libtorch 2.x,
# fmt, simdjson, ...) in a root of its own made with debootstrap, as GPU users build against a current
# libtorch. `.ci/run` runs it after the Debian 12 suite. Needs root (debootstrap, mount, chroot) and
# the network to the Debian mirror and the npm registry.
#
#   bash scripts/check-current-debian.sh [--fresh] [--root DIR] [--suite sid] [--mirror URL]
#
#   --root DIR    the Debian root (default $W2S_CURRENT_DEBIAN_ROOT, else /var/tmp/w2s-current-debian).
#                 A root finished by an earlier run is reused, with its packages and its build folder.
#   --fresh       delete that root first and start from nothing (CI does)
#   --suite NAME  Debian suite to bootstrap (default sid)
#   --mirror URL  Debian mirror (default http://deb.debian.org/debian)
#   --deadline T  epoch seconds by which the check must be over (CI's time limit): when the downloads
#                 leave less than 40 minutes for the build and the tests, it stops before building, NOT RUN
#
# It copies the git-tracked files of this working tree and $W2S_TEST_ASSETS (default ../shared) into
# the root, installs the packages with scripts/install-deps.sh, then runs scripts/test.sh's phases
# (npm tools, build, tests) there, and prints the wall time of each phase.
#
# Outcome, on the last line and on a marker line `W2S-CURRENT-DEBIAN: PASSED|NOT-RUN|FAILED`:
#   exit 0  PASSED, or NOT RUN: the mirror or the npm registry could not be reached, or a package of
#           the suite cannot be installed today; the reason is printed. Nothing of the project's
#           own was skipped then: it never got to build.
#   exit 1  FAILED: the project's build or tests failed there, or install-deps.sh names a package
#           that the suite does not have.
set -euo pipefail
{ # The whole script is read before it runs: it runs for an hour, and may be edited meanwhile.

src="$(cd "$(dirname "$0")/.." && pwd)"
args=("$@")
root="${W2S_CURRENT_DEBIAN_ROOT:-/var/tmp/w2s-current-debian}"
suite=sid
mirror=http://deb.debian.org/debian
fresh=0
deadline=0            # epoch seconds; 0: none
build_and_test_s=2400  # what a build from scratch and the tests take on 2 cores, with a margin
while (($#)); do
  case "$1" in
    --fresh) fresh=1 ;;
    --root) root="$2"; shift ;;
    --suite) suite="$2"; shift ;;
    --mirror) mirror="$2"; shift ;;
    --deadline) deadline="$2"; shift ;;
    *) echo "check-current-debian: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
assets="${W2S_TEST_ASSETS:-$(cd "$src/.." && pwd)/shared}"

# Root, and a private mount namespace: what is mounted below disappears with this process even when
# it is killed; the trap unmounts it in an orderly way on every other exit.
# A machine that cannot give us root or a mount namespace (an unprivileged container) cannot run the
# check at all: that is reported as NOT RUN, before anything of the project's own is built.
cannot_run_here() {
  echo "W2S-CURRENT-DEBIAN: NOT-RUN"
  echo "current-Debian check NOT RUN: $* (debootstrap, mount and chroot need root and a mount namespace)"
  exit 0
}
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null && sudo -n true 2>/dev/null || cannot_run_here "not root, and no password-less sudo"
  exec sudo -E bash "$0" "${args[@]}"
fi
if [[ -z "${W2S_CHECK_IN_NAMESPACE:-}" ]]; then
  unshare --mount --propagation private true 2>/dev/null || cannot_run_here "unshare --mount is not permitted here"
  W2S_CHECK_IN_NAMESPACE=1 exec unshare --mount --propagation private bash "$0" "${args[@]}"
fi

# ---- outcome, phase times -------------------------------------------------------------------------
phases=()
phase_start=0
current=""
begin() {
  current="$1"
  phase_start=$SECONDS
  echo
  echo "==== current-Debian check: $current"
}
end() {
  phases+=("$(printf '%-12s %4dm%02ds' "$current" $(((SECONDS - phase_start) / 60)) $(((SECONDS - phase_start) % 60)))")
  current=""
}
print_times() {
  [[ -n "$current" ]] && end
  echo
  echo "phase wall times (root $root):"
  printf '  %s\n' "${phases[@]}"
  printf '  %-12s %4dm%02ds\n' total $((SECONDS / 60)) $((SECONDS % 60))
}
not_run() {
  print_times
  echo "W2S-CURRENT-DEBIAN: NOT-RUN"
  echo "current-Debian check NOT RUN: $*"
  exit 0
}
failed() {
  print_times
  echo "W2S-CURRENT-DEBIAN: FAILED"
  echo "current-Debian check FAILED: $*"
  exit 1
}
# Last lines of a log, indented, so the reason is on screen without scrolling through apt's output.
tail_of() { tail -n "${2:-15}" "$1" | sed 's/^/    | /'; }

# ---- mounts ---------------------------------------------------------------------------------------
mounted=()
mount_in_root() {  # mount_in_root <target under root> <mount arguments...>
  local target="$root$1"
  shift
  mkdir -p "$target"
  mount "$@" "$target"
  mounted+=("$target")
}
unmount_all() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -R "${mounted[i]}" 2>/dev/null || umount -lR "${mounted[i]}" || true; done
  mounted=()
}
anything_mounted_below() { awk -v r="$root/" 'index($2 "/", r) == 1 { found = 1 } END { exit !found }' /proc/mounts; }
trap 'unmount_all' EXIT

# Commands in the root get a clean environment: nothing of this shell's but the proxy settings, which
# the mirror and npm may need; Node is pointed at the system's certificate authorities. Compiles are
# cached in the root (/var/cache/w2s-ccache, ccache from install-deps.sh), which a rerun keeps.
in_root() {
  chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 TERM=dumb W2S_TEST_ASSETS=/w2s/shared NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
    CCACHE_DIR=/var/cache/w2s-ccache CCACHE_BASEDIR=/w2s/src CCACHE_MAXSIZE=8G \
    ${http_proxy:+http_proxy=$http_proxy} ${https_proxy:+https_proxy=$https_proxy} \
    ${no_proxy:+no_proxy=$no_proxy} "$@"
}

# ---- 1. debootstrap -------------------------------------------------------------------------------
mkdir -p "$(dirname "$root")"
exec 9>"$root.lock"
flock -n 9 || { echo "check-current-debian: another check is using $root" >&2; exit 2; }
anything_mounted_below && { echo "check-current-debian: something is mounted below $root; unmount it first" >&2; exit 2; }

begin debootstrap
if ((fresh)) && [[ -e "$root" ]]; then
  echo "removing $root (--fresh)"
  rm -rf --one-file-system "$root"
fi
if [[ -f "$root/.w2s-bootstrap-done" ]]; then
  echo "reusing $root (bootstrapped $(cat "$root/.w2s-bootstrap-done")); --fresh starts from nothing"
else
  if ! command -v debootstrap >/dev/null; then
    echo "installing debootstrap on this machine"
    log=$(mktemp)
    if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap; } >"$log" 2>&1; then
      tail_of "$log"
      not_run "debootstrap could not be installed on this machine (package registry unreachable?)"
    fi
  fi
  rm -rf --one-file-system "$root"
  mkdir -p "$root"
  log="$root.debootstrap.log"
  echo "debootstrap --variant=minbase $suite $root $mirror (log: $log)"
  if ! debootstrap --variant=minbase --include=ca-certificates "$suite" "$root" "$mirror" >"$log" 2>&1; then
    tail_of "$log"
    not_run "debootstrap of Debian $suite from $mirror failed (mirror unreachable or the suite uninstallable today; see above)"
  fi
  date -u +%Y-%m-%dT%H:%M:%SZ >"$root/.w2s-bootstrap-done"
fi
# A throwaway root: dpkg need not fsync every file of the ~600 packages it unpacks.
echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/w2s-unsafe-io"
end

mount_in_root /proc -t proc proc
mount_in_root /sys -t sysfs -o ro sysfs
mount_in_root /dev --rbind /dev
mount --make-rslave "$root/dev"
mount_in_root /run -t tmpfs -o mode=0755 tmpfs
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
# Certificate authorities this machine trusts locally (a TLS-inspecting proxy's, say) are trusted in
# the root too, so that npm reaches its registry from there as it does from here.
if [[ -d /usr/local/share/ca-certificates ]]; then
  cp -a /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
  in_root update-ca-certificates >/dev/null 2>&1 || echo "warning: update-ca-certificates failed in the root"
fi

# ---- 2. the working tree and the test assets ------------------------------------------------------
# The tracked files of this tree are unpacked beside the root's copy, then synced into it by content:
# a file that changed gets a new time (make rebuilds what depends on it, even when the root's build is
# newer than the change), one that did not keeps its time, one that is gone goes. The build folder
# and npm's node_modules stay from an earlier run, so a rerun builds incrementally.
begin copy
dst="$root/w2s/src" incoming="$root/w2s/incoming"
rm -rf "$incoming"
mkdir -p "$dst" "$incoming"
(cd "$src" && git ls-files -z --cached | while IFS= read -r -d '' f; do [[ -e $f ]] && printf '%s\0' "$f"; done |
  tar --null -T - -cf -) | tar -xf - -C "$incoming"
changed=0
while IFS= read -r -d '' f; do
  if ! cmp -s "$incoming/$f" "$dst/$f"; then
    mkdir -p "$(dirname "$dst/$f")"
    cp --preserve=mode "$incoming/$f" "$dst/$f"
    changed=$((changed + 1))
  fi
done < <(cd "$incoming" && find . -type f -print0)
while IFS= read -r -d '' f; do
  [[ -e "$incoming/$f" ]] || rm -f "$dst/$f"
done < <(cd "$dst" && find . \( -path ./build -o -path ./tests/support/node_modules \) -prune -o -type f -print0)
rm -rf "$incoming"
[[ -d "$assets" ]] || failed "test assets not found at $assets (set W2S_TEST_ASSETS)"
rm -rf "$root/w2s/shared"
cp -a "$assets" "$root/w2s/shared"
echo "synced $(cd "$src" && git ls-files | wc -l) tracked files of $src ($changed new or changed; commit" \
  "$(cd "$src" && git rev-parse --short=12 HEAD)$(cd "$src" && git diff --quiet HEAD || echo ', with uncommitted changes'))" \
  "and $assets"
end

# ---- 3. packages: the same list as on Debian 12, through scripts/install-deps.sh ------------------
begin packages
log="$root.packages.log"
: >"$log"
if ! in_root apt-get update -q >>"$log" 2>&1; then
  # A mirror that serves an old snapshot (or a machine whose clock runs ahead) has a Release file
  # past its Valid-Until date. Its signature still holds; say so and use it.
  grep -q "is expired" "$log" || { tail_of "$log"; not_run "apt-get update in Debian $suite failed (mirror unreachable?)"; }
  grep "is expired" "$log" | sed 's/^/    | /'
  echo "warning: the mirror's $suite index is past its Valid-Until date (a stale mirror, or this machine's clock);"
  echo "         using it anyway: its signature is still checked"
  echo 'Acquire::Check-Valid-Until "false";' >"$root/etc/apt/apt.conf.d/99w2s-stale-mirror"
  in_root apt-get update -q >>"$log" 2>&1 || { tail_of "$log"; not_run "apt-get update in Debian $suite failed (mirror unreachable?)"; }
fi
mapfile -t wanted < <(in_root bash /w2s/src/scripts/install-deps.sh --print)
# A dry run first tells a name the suite does not have (the project's list is wrong: FAILED) from a
# package that exists but cannot be installed today (sid in transition: NOT RUN).
if ! in_root apt-get install -s -q --no-install-recommends "${wanted[@]}" >>"$log" 2>&1; then
  tail_of "$log"
  if grep -Eq "Unable to locate package|has no installation candidate" "$log"; then
    failed "scripts/install-deps.sh names a package that Debian $suite does not have (see above)"
  fi
  not_run "a package of scripts/install-deps.sh cannot be installed in Debian $suite today (see above)"
fi
if ! in_root bash /w2s/src/scripts/install-deps.sh >>"$log" 2>&1; then
  tail_of "$log"
  not_run "installing the packages in Debian $suite failed (download or a package's own install step; see above)"
fi
in_root dpkg-query -W -f='  ${Package} ${Version}\n' g++ cmake libtorch-dev libfmt-dev libsimdjson-dev \
  libboost-program-options-dev libcpp-httplib-dev libgtest-dev libspdlog-dev nodejs 2>/dev/null || true
end

# ---- 4. npm reference tokenizers (npm registry) ---------------------------------------------------
begin npm
log="$root.npm.log"
if ! in_root bash /w2s/src/scripts/test.sh tools >"$log" 2>&1; then
  tail_of "$log"
  not_run "npm could not install the test tools from the npm registry (see above)"
fi
end

# ---- 5. build and tests: the project's own; every failure here is a failure ----------------------
# CI gives the whole job a fixed time. With --deadline EPOCH, a check whose downloads left too little
# time before it for a build and the tests from scratch stops here, as NOT RUN, rather than having CI
# killed midway; once the build has started, it runs to its end whatever the clock says.
if ((deadline > 0)) && (($(date +%s) + build_and_test_s > deadline)); then
  not_run "the downloads took too long: less than $((build_and_test_s / 60)) minutes are left before the deadline for the build and the tests"
fi
begin build
in_root bash /w2s/src/scripts/test.sh build || failed "the build failed in Debian $suite"
end

begin tests
in_root bash /w2s/src/scripts/test.sh run || failed "tests failed in Debian $suite"
end

print_times
echo "W2S-CURRENT-DEBIAN: PASSED"
echo "current-Debian check PASSED: Debian $suite, $(in_root g++ --version | head -n 1), libtorch-dev $(in_root dpkg-query -W -f='${Version}' libtorch-dev)"
exit 0
}
