#!/bin/sh
# deps.sh [--bench-peers]: make sure the Debian 12 packages the build needs are
# installed.  Silent when nothing is missing, so every make target can call it
# cheaply.  As root it installs what is missing; otherwise it says what to run,
# because a build that fails halfway on a missing header is harder to read.
# --bench-peers adds the other emulators that `make bench PEERS=1` compares with.
set -eu

pkgs="cmake make gcc pkg-config libzydis-dev libzycore-dev libxxhash-dev libcriterion-dev
nasm clang libclang-rt-14-dev"

for arg in "$@"; do
	case "$arg" in
	--bench-peers) pkgs="$pkgs qemu-system-x86 bochs bochs-sdl" ;;
	*)
		echo "usage: $0 [--bench-peers]" >&2
		exit 64
		;;
	esac
done

# Without dpkg this is not a Debian-like system: the package names would mean
# nothing, so leave it to CMake to report what it cannot find.
if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "softvmm: dpkg-query not found; not checking build dependencies" >&2
	exit 0
fi

missing_pkgs() {
	for p in $pkgs; do
		# "ii" = wanted install, installed; anything else (removed, half
		# configured, unknown to dpkg) needs an install.
		st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
		case "$st" in
		ii*) ;;
		*) printf '%s ' "$p" ;;
		esac
	done
}

missing=$(missing_pkgs)
missing=${missing% }
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "softvmm: missing packages; run as root: apt-get install -y $missing" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt_install() {
	# $missing is split into words on purpose: one package per word.
	# shellcheck disable=SC2086
	apt-get install -y --no-install-recommends $missing
}

echo "softvmm: installing missing packages: $missing" >&2
# apt-get update is slow and needs the network, so try the install first and
# refresh the package lists only when that fails (e.g. a fresh container).
if ! apt_install; then
	echo "softvmm: apt-get install failed; running apt-get update and retrying" >&2
	apt-get update
	apt_install
fi

# apt-get can succeed without installing what was asked for (held packages);
# check again so the build does not start on a broken promise.
still=$(missing_pkgs)
if [ -n "$still" ]; then
	echo "softvmm: still missing after apt-get install: ${still% }" >&2
	exit 1
fi
