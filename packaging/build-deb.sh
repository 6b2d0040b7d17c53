#!/bin/bash
# Build the kexec-upgrade Debian package: dist/kexec-upgrade_<version>_<arch>.deb.
#
#   packaging/build-deb.sh [--arch amd64|arm64] [--outdir DIR] [--verbose]
#
# `make deb` runs this (`make deb ARCH=arm64` with --arch arm64). The
# architecture is amd64 by default; another one than the build machine's is
# cross-built (dpkg-buildpackage --host-arch): the binary is static Go, which
# cross-compiles by itself, so no cross toolchain is needed. The version
# comes from debian/changelog. The package
# is built with dpkg-buildpackage from a copy of the source tree in a scratch
# directory, so that neither the tree nor its parent directory collects build
# products; only the .deb is kept. The Go binary inside is built by
# debian/rules through `make build` (static: CGO_ENABLED=0).
#
# Missing build dependencies are reported on one line, and not installed:
# `apt-get build-dep ./` in the source tree installs them (as .ci/run and
# packaging/test-deb.sh do).
set -euo pipefail

prog="build-deb.sh"
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
outdir=$repo/dist
verbose=0
arch=amd64

usage() {
	echo "usage: packaging/build-deb.sh [--arch amd64|arm64] [--outdir DIR] [--verbose]" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--arch)
		[ $# -ge 2 ] || usage
		arch=$2
		shift 2
		;;
	--arch=*)
		arch=${1#--arch=}
		shift
		;;
	--outdir)
		[ $# -ge 2 ] || usage
		outdir=$2
		shift 2
		;;
	--outdir=*)
		outdir=${1#--outdir=}
		shift
		;;
	-v | --verbose)
		verbose=1
		shift
		;;
	-h | --help) usage ;;
	*) usage ;;
	esac
done
case $arch in
amd64 | arm64) ;;
*)
	echo "$prog: --arch $arch: kexec-upgrade builds for amd64 and arm64 only" >&2
	exit 2
	;;
esac
native=$(dpkg --print-architecture 2>/dev/null || echo amd64)
# dpkg-buildpackage and dpkg-checkbuilddeps options for a cross build.
cross=()
[ "$arch" = "$native" ] || cross=(--host-arch="$arch")

# --- Build dependencies, all reported together on one line ------------------
missing=()
if ! command -v dpkg-buildpackage >/dev/null 2>&1 || ! command -v dpkg-checkbuilddeps >/dev/null 2>&1; then
	missing+=("dpkg-dev")
else
	# dpkg-checkbuilddeps prints "...: error: Unmet build dependencies: A B (>= 1)".
	if ! out=$(cd "$repo" && dpkg-checkbuilddeps ${cross[@]:+-a "$arch"} 2>&1); then
		unmet=$(printf '%s\n' "$out" | sed -n 's/.*Unmet build dependencies: *//p' | tr '\n' ' ')
		if [ -n "$unmet" ]; then
			missing+=("${unmet% }")
		else
			echo "$prog: dpkg-checkbuilddeps failed: $(printf '%s' "$out" | tr '\n' ' ')" >&2
			exit 1
		fi
	fi
fi
# make is build-essential, so not in Build-Depends, but debian/rules needs it.
command -v make >/dev/null 2>&1 || missing+=("make")
# Go is not a Debian build dependency (see debian/control): debian/rules uses
# the Go >= 1.21 that packaging/go-toolchain.sh finds, as `make deps` installs it.
if ! "$repo/packaging/go-toolchain.sh" find >/dev/null; then
	missing+=("go (Go >= 1.21: make deps installs one)")
fi
if [ ${#missing[@]} -gt 0 ]; then
	echo "$prog: missing build dependencies: ${missing[*]} (apt-get build-dep ./ in $repo installs the Debian ones)" >&2
	exit 1
fi

version=$(cd "$repo" && dpkg-parsechangelog -S Version)
deb=kexec-upgrade_${version}_${arch}.deb

# --- A scratch copy of the source tree ---------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/kexec-upgrade-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
src=$work/kexec-upgrade-$version
mkdir -p "$src"

# The files git knows of plus new ones it does not ignore (so a large ignored
# artifact never gets copied), without build/ and dist/; a tree that is not a
# git checkout is copied whole.
if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$repo" && git ls-files -z --cached --others --exclude-standard) |
		while IFS= read -r -d '' f; do
			case $f in build/* | dist/*) continue ;; esac
			if [ -e "$repo/$f" ] || [ -L "$repo/$f" ]; then printf '%s\0' "$f"; fi
		done |
		tar -C "$repo" --null --no-recursion -T - -cf - | tar -C "$src" -xf -
else
	tar -C "$repo" --exclude=./.git --exclude=./build --exclude=./dist -cf - . | tar -C "$src" -xf -
fi

# --- Build --------------------------------------------------------------------
log=$work/build.log
build=(dpkg-buildpackage --build=binary --no-sign "${cross[@]}")
echo "$prog: building $deb with ${build[*]}"
if [ "$verbose" = 1 ]; then
	(cd "$src" && "${build[@]}") 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
else
	rc=0
	(cd "$src" && "${build[@]}") >"$log" 2>&1 || rc=$?
fi
if [ "$rc" != 0 ]; then
	[ "$verbose" = 1 ] || tail -n 60 "$log" >&2
	echo "$prog: dpkg-buildpackage failed (exit status $rc)" >&2
	exit 1
fi
if [ ! -f "$work/$deb" ]; then
	echo "$prog: dpkg-buildpackage did not produce $deb" >&2
	exit 1
fi

mkdir -p "$outdir"
# Older builds of the same architecture would make
# `apt install ./dist/kexec-upgrade_*_<arch>.deb` ambiguous.
find "$outdir" -maxdepth 1 -name "kexec-upgrade_*_${arch}.deb" ! -name "$deb" -delete
mv -f "$work/$deb" "$outdir/$deb"
echo "$prog: $outdir/$deb"
