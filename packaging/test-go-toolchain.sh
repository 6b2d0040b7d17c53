#!/bin/bash
# Tests packaging/go-toolchain.sh without installing anything: `find` on this
# machine, and the bookworm-backports source that `install` would add, for
# apt sources written the ways Debian writes them (sources.list lines with
# options, deb822 .sources stanzas, disabled stanzas, an embedded key). The
# sources are fixtures that APT_CONFIG points apt-config at.
#
# Each check prints PASS or FAIL; the last line is "N passed, M failed", and
# the exit status is 1 if any failed.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tool=$repo/packaging/go-toolchain.sh
passed=0
failed=0
work=$(mktemp -d "${TMPDIR:-/tmp}/go-toolchain-test.XXXXXX")
trap 'rm -rf "$work"' EXIT

check() {
	local name=$1 want=$2 got=$3
	if [ "$got" = "$want" ]; then
		passed=$((passed + 1))
		echo "PASS: $name"
	else
		failed=$((failed + 1))
		echo "FAIL: $name"
		diff <(printf '%s\n' "$want") <(printf '%s\n' "$got") | sed 's/^/    /'
	fi
}

# sources NAME: an empty apt configuration directory for case NAME; prints
# its etc/apt.
sources() {
	local etc=$work/$1/etc/apt
	mkdir -p "$etc/sources.list.d" "$etc/apt.conf.d"
	printf 'Dir::Etc "%s";\n' "$etc" >"$work/$1/apt.conf"
	echo "$etc"
}
# backports NAME [RELEASE]: what the tool prints for case NAME.
backports() {
	APT_CONFIG=$work/$1/apt.conf "$tool" backports-source "${2:-bookworm}" 2>&1
}

# --- find ------------------------------------------------------------------------
if go=$("$tool" find); then
	v=$(cd / && GOTOOLCHAIN=local "$go" env GOVERSION)
	check "find: $go ($v) is Go >= 1.21" 1 "$([[ $v =~ ^go1\.([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -ge 21 ] && echo 1)"
else
	check "find: a usable go on this machine" found none
fi

# --- sources.list: options, comments, other suites first ----------------------------
etc=$(sources list)
cat >"$etc/sources.list" <<'EOF'
# deb http://old.example/debian bookworm main
deb-src http://src.example/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example/debian/ bookworm main contrib non-free-firmware
deb http://security.example/debian-security bookworm-security main
EOF
check "sources.list: the mirror serving bookworm main, with signed-by" \
	"Types: deb
URIs: http://mirror.example/debian/
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" "$(backports list)"

etc=$(sources list-spaced)
printf 'deb [ arch=amd64 ] http://spaced.example/debian bookworm contrib main # comment\n' >"$etc/sources.list.d/a.list"
check "a .list file: options with spaces, main not first, no signed-by" \
	"Types: deb
URIs: http://spaced.example/debian
Suites: bookworm-backports
Components: main" "$(backports list-spaced)"

# --- deb822: Debian 12's debian.sources ----------------------------------------------
etc=$(sources deb822)
cat >"$etc/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: http://disabled.example/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb deb-src
# a comment inside the stanza
URIs: http://a.example/debian http://b.example/debian
Suites: bookworm bookworm-updates
Components: main non-free-firmware
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main
EOF
check ".sources: the first enabled stanza serving bookworm main" \
	"Types: deb
URIs: http://a.example/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" "$(backports deb822)"

etc=$(sources embedded)
cat >"$etc/sources.list.d/debian.sources" <<'EOF'
types: deb
uris: http://key.example/debian
suites: bookworm
components: main
signed-by:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBGPL0BUBEADmW5NdOOHwPIJlgPu6JDcKw/NZJPR8lsD9K7UgrWc7+sYqM
 -----END PGP PUBLIC KEY BLOCK-----
EOF
check ".sources: an embedded key is kept, lower-case field names" \
	"Types: deb
URIs: http://key.example/debian
Suites: bookworm-backports
Components: main
Signed-By: 
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBGPL0BUBEADmW5NdOOHwPIJlgPu6JDcKw/NZJPR8lsD9K7UgrWc7+sYqM
 -----END PGP PUBLIC KEY BLOCK-----" "$(backports embedded)"

etc=$(sources none)
printf 'Types: deb\nURIs: http://t.example/debian\nSuites: trixie\nComponents: main\n' >"$etc/sources.list.d/debian.sources"
printf 'deb http://c.example/debian bookworm contrib\n' >"$etc/sources.list"
check "no source serves bookworm main: refused" \
	"go-toolchain.sh: no apt source serves bookworm main" "$(backports none)"
check "trixie: served by the same file" \
	"Types: deb
URIs: http://t.example/debian
Suites: trixie-backports
Components: main" "$(backports none trixie)"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
