#!/bin/bash
# Find, or install from the distribution, the Go that builds kexec-upgrade.
#
#   packaging/go-toolchain.sh find              print the path of a usable go; exit 1 when none
#   packaging/go-toolchain.sh install           (root) install a Go from the distribution if none is usable
#   packaging/go-toolchain.sh backports-source  print the apt source that `install` would add on bookworm
#
# A usable go is Go >= 1.21: from 1.21 on, go reads the "go" line of go.mod
# and, with GOTOOLCHAIN=auto (the Makefile sets it unless you did), fetches
# that exact toolchain through the Go module proxy. So the distribution's Go
# only needs to be new enough to do that.
#
# `find` tries, in order: go on PATH, /usr/local/go/bin/go, the newest
# /usr/lib/go-1.NN/bin/go (Debian's golang-1.NN-go), /usr/lib/go/bin/go.
#
# `install` (make deps runs it) does nothing when `find` succeeds. Otherwise:
#   - on Debian 12 (bookworm), whose golang-go is 1.19: it enables
#     bookworm-backports when no apt source has it, on the mirror that serves
#     bookworm's main component in this machine's own apt sources (with the
#     same Signed-By), and installs the newest golang-1.NN-go from there;
#   - on any other release (Debian 13 "trixie" and later, Ubuntu): it installs
#     golang-go, and fails if that is older than 1.21.
# Then it runs `go version` in the source tree, which fetches the toolchain
# go.mod names, so that a network problem shows here and not halfway through
# a build.
#
# The apt sources read are those apt reads: Dir::Etc::sourcelist and
# Dir::Etc::sourceparts (*.list and *.sources) from apt-config, so APT_CONFIG
# can point them at other files.
set -euo pipefail

prog="go-toolchain.sh"
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
min_minor=21

die() {
	echo "$prog: $*" >&2
	exit 1
}

# go_minor GO: the minor version of GO itself (21 for go1.21.5), asked
# outside any module and with GOTOOLCHAIN=local so that no other toolchain is
# fetched or run to answer.
go_minor() {
	local v
	v=$(cd / && GOTOOLCHAIN=local GOFLAGS='' "$1" env GOVERSION 2>/dev/null) || return 1
	[[ $v =~ ^go1\.([0-9]+) ]] || return 1
	echo "${BASH_REMATCH[1]}"
}

# find_go: print the first usable go.
find_go() {
	local candidates=() c minor
	c=$(command -v go 2>/dev/null) && candidates+=("$c")
	candidates+=(/usr/local/go/bin/go)
	while IFS= read -r c; do candidates+=("$c"); done < <(
		for d in /usr/lib/go-1.*/bin/go; do [ -x "$d" ] && echo "$d"; done | sort -t. -k2,2nr)
	candidates+=(/usr/lib/go/bin/go)
	for c in "${candidates[@]}"; do
		[ -x "$c" ] || continue
		minor=$(go_minor "$c") || continue
		if [ "$minor" -ge "$min_minor" ]; then
			echo "$c"
			return 0
		fi
	done
	return 1
}

# apt_sources: one line per enabled source entry of type deb in this
# machine's apt sources, fields separated by \037: URI, suite, components
# (space separated), Signed-By (in a .sources stanza: the field's value, each
# continuation line after a \001; in a .list line: the signed-by option), and
# the file it is in.
apt_sources() {
	local sourcelist sourceparts f
	eval "$(apt-config shell sourcelist Dir::Etc::sourcelist/f sourceparts Dir::Etc::sourceparts/d)"
	for f in "$sourcelist" "$sourceparts"/*.list; do
		[ -f "$f" ] || continue
		awk -v file="$f" '
			{ sub(/#.*/, "") }
			$1 != "deb" { next }
			{
				i = 2; signed = ""
				if ($2 ~ /^\[/) {
					opts = ""
					for (; i <= NF; i++) { opts = opts " " $i; if ($i ~ /\]$/) { i++; break } }
					gsub(/[][]/, " ", opts)
					n = split(opts, o, " ")
					for (k = 1; k <= n; k++) if (o[k] ~ /^signed-by=/) signed = substr(o[k], 11)
				}
				uri = $i; suite = $(i + 1); comps = ""
				for (k = i + 2; k <= NF; k++) comps = comps (comps == "" ? "" : " ") $k
				if (uri != "" && suite != "") print uri "\037" suite "\037" comps "\037" signed "\037" file
			}' "$f"
	done
	for f in "$sourceparts"/*.sources; do
		[ -f "$f" ] || continue
		awk -v file="$f" '
			function flush(   nu, ns, u, s, ty, nt, t, isdeb) {
				if (tolower(fields["enabled"]) != "no") {
					nt = split(fields["types"], ty, " ")
					isdeb = 0
					for (t = 1; t <= nt; t++) if (ty[t] == "deb") isdeb = 1
					if (isdeb) {
						nu = split(fields["uris"], uu, " ")
						ns = split(fields["suites"], ss, " ")
						for (u = 1; u <= nu; u++) for (s = 1; s <= ns; s++)
							print uu[u] "\037" ss[s] "\037" fields["components"] "\037" fields["signed-by"] "\037" file
					}
				}
				delete fields; key = ""
			}
			/^#/ { next }
			/^[ \t]*$/ { flush(); next }
			/^[ \t]/ {
				if (key == "") next
				line = $0; sub(/^[ \t]+/, "", line)
				fields[key] = fields[key] "\001" line
				next
			}
			{
				key = tolower(substr($0, 1, index($0, ":") - 1))
				value = substr($0, index($0, ":") + 1)
				sub(/^[ \t]+/, "", value); sub(/[ \t]+$/, "", value)
				fields[key] = value
			}
			END { flush() }' "$f"
	done
}

# has_component COMPONENTS NAME
has_component() { [[ " $1 " == *" $2 "* ]]; }

# backports_source RELEASE: the deb822 stanza for RELEASE-backports, on the
# mirror that serves RELEASE's main component here, with its Signed-By.
backports_source() {
	local release=$1 uri suite comps signed file
	while IFS=$'\037' read -r uri suite comps signed file; do
		if [ "$suite" != "$release" ] || ! has_component "$comps" main; then
			continue
		fi
		case $uri in cdrom:*) continue ;; esac
		printf 'Types: deb\nURIs: %s\nSuites: %s-backports\nComponents: main\n' "$uri" "$release"
		if [ -n "$signed" ]; then
			# A key embedded in the stanza keeps its continuation lines.
			printf 'Signed-By: %s\n' "$signed" | awk '{ gsub(/\001/, "\n "); print }'
		fi
		return 0
	done < <(apt_sources)
	return 1
}

# has_suite SUITE: some enabled deb source serves SUITE.
has_suite() {
	local uri suite rest
	while IFS=$'\037' read -r uri suite rest; do
		[ "$suite" = "$1" ] && return 0
	done < <(apt_sources)
	return 1
}

apt_get() {
	DEBIAN_FRONTEND=noninteractive apt-get -y -q "$@"
}

install_from_backports() {
	local release=$1 suite=$1-backports parts file pkg
	if has_suite "$suite"; then
		echo "$prog: $suite is in the apt sources already"
	else
		local stanza
		stanza=$(backports_source "$release") ||
			die "no apt source serves $release main: cannot tell which mirror carries $suite (add it, or install Go >= 1.$min_minor yourself)"
		eval "$(apt-config shell parts Dir::Etc::sourceparts/d)"
		file=${parts%/}/$suite.sources
		echo "$prog: enabling $suite in $file:"
		printf '%s\n' "$stanza" | sed 's/^/    /'
		printf '# Added by kexec-upgrade'\''s make deps for golang-1.NN-go (Go >= 1.%s).\n%s\n' "$min_minor" "$stanza" >"$file"
	fi
	apt_get update >/dev/null
	pkg=$(apt-cache pkgnames golang-1. | grep -E '^golang-1\.[0-9]+-go$' | sort -t. -k2,2nr |
		while read -r p; do
			if apt-cache madison "$p" | grep -qF " $suite/main "; then
				echo "$p"
				break
			fi
		done)
	[ -n "$pkg" ] || die "$suite offers no golang-1.NN-go package"
	echo "$prog: installing $pkg from $suite"
	apt_get install --no-install-recommends -t "$suite" "$pkg"
}

install_go() {
	local go id="" version_id="" codename=""
	if go=$(find_go); then
		echo "$prog: using $go ($(go_minor "$go" | sed 's/^/go1./'))"
	else
		[ "$(id -u)" = 0 ] || die "no Go >= 1.$min_minor found; run make deps as root to install one from the distribution"
		if [ -r /etc/os-release ]; then
			# shellcheck disable=SC1091
			. /etc/os-release
			id=${ID:-} version_id=${VERSION_ID:-} codename=${VERSION_CODENAME:-}
		fi
		if [ "$id" = debian ] && [ "$codename" = bookworm ]; then
			install_from_backports bookworm
		elif [ "$id" = debian ] && [ -n "$version_id" ] && [ "${version_id%%.*}" -lt 12 ]; then
			die "Debian $version_id is not supported: use Debian 12 or later, or install Go >= 1.$min_minor yourself"
		else
			echo "$prog: installing golang-go"
			apt_get update >/dev/null
			apt_get install --no-install-recommends golang-go
		fi
		go=$(find_go) || die "the distribution's Go is older than 1.$min_minor: install Go >= 1.$min_minor yourself (PATH or /usr/local/go)"
		echo "$prog: using $go ($(go_minor "$go" | sed 's/^/go1./'))"
	fi
	# Fetches the toolchain go.mod names, when this go is older.
	(cd "$repo" && GOTOOLCHAIN=${GOTOOLCHAIN:-auto} "$go" version) ||
		die "$go could not fetch the Go toolchain that go.mod names (it comes through the Go module proxy: GOPROXY)"
}

case ${1:-} in
find) find_go ;;
install) install_go ;;
backports-source)
	release=${2:-bookworm}
	backports_source "$release" || die "no apt source serves $release main"
	;;
*)
	echo "usage: $prog find | install | backports-source [RELEASE]" >&2
	exit 2
	;;
esac
