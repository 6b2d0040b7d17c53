#!/bin/bash
# Test the kexec-upgrade Debian package, as `make deb-test` and .ci/run do.
#
#   packaging/test-deb.sh
#
# Builds the package (make deb), runs lintian (any E: or W: line fails),
# compares its file list with packaging/expected-files.txt, checks that the
# binary is static; builds the arm64 package too (make deb ARCH=arm64, cross-
# built) and checks what can be checked on this machine: lintian, the same
# file list, maintainer scripts and conffiles as amd64's, a static AArch64
# binary; then checks the maintainer scripts, the man pages, the journal catalog,
# the units and the bash completion, and then installs it into a throwaway
# bookworm root made with mmdebstrap: the timer must be enabled, check-config
# must run, an edited config.toml must survive installing a newer build, and
# purge must remove /var/lib/kexec-upgrade. Each check prints PASS or FAIL; the
# last line is "N passed, M failed", and the exit status is 1 if any failed.
#
# Needs root and bookworm. Missing tools and build dependencies are installed
# with apt-get. The root tarball is cached in /var/tmp/kexec-upgrade-pkgtest,
# keyed by a hash of this script; its apt sources are the host's Debian
# bookworm sources, as apt-get indextargets lists them.

# Checks pass their script to `bash -c '...' _ ARGS` in single quotes on
# purpose (SC2016), and functions run through check "$@" look unused (SC2317).
# shellcheck disable=SC2016,SC2317
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache_dir=/var/tmp/kexec-upgrade-pkgtest
passed=0
failed=0
skipped=0

pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
# check NAME CMD...: PASS if CMD succeeds, else FAIL with its output.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		pass "$name"
	else
		fail "$name"
		[ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/    /'
	fi
}
skip() { skipped=$((skipped + 1)); echo "SKIP: $*"; }
summary() {
	if [ "$skipped" -gt 0 ]; then
		echo "$passed passed, $failed failed, $skipped skipped"
	else
		echo "$passed passed, $failed failed"
	fi
	[ "$failed" = 0 ]
	exit
}
die() {
	echo "test-deb.sh: $*" >&2
	fail "$*"
	summary
}

if [ "$(id -u)" != 0 ]; then
	echo "test-deb.sh: must run as root (mmdebstrap --mode=root, chroot)" >&2
	exit 1
fi

work=$(mktemp -d /var/tmp/kexec-upgrade-test.XXXXXX)
root=$work/root
cleanup() {
	[ -z "${nspawn_pid:-}" ] || stop_container
	# Mounts are made in private mount namespaces only, so none can be left
	# under $root; make sure before deleting anything.
	if grep -q " $work/" /proc/self/mountinfo; then
		echo "test-deb.sh: mounts left under $work, not removing it" >&2
	else
		rm -rf --one-file-system "$work"
	fi
}
trap cleanup EXIT

# --- Tools ----------------------------------------------------------------------
export DEBIAN_FRONTEND=noninteractive
apt_install() {
	apt-get install -y -q --no-install-recommends "$@" >"$work/apt.log" 2>&1 && return 0
	# Empty or stale package lists on a fresh machine.
	apt-get update -q >>"$work/apt.log" 2>&1 &&
		apt-get install -y -q --no-install-recommends "$@" >>"$work/apt.log" 2>&1 && return 0
	cat "$work/apt.log" >&2
	return 1
}
declare -A tool_pkg=(
	[dpkg-buildpackage]=dpkg-dev [lintian]=lintian [mmdebstrap]=mmdebstrap
	[file]=file [readelf]=binutils [groff]=groff-base [man]=man-db
	[systemd-analyze]=systemd [journalctl]=systemd [make]=make [git]=git
	[unshare]=util-linux [nsenter]=util-linux [systemd-nspawn]=systemd-container
)
need=()
for cmd in "${!tool_pkg[@]}"; do
	command -v "$cmd" >/dev/null 2>&1 || need+=("${tool_pkg[$cmd]}")
done
[ -f /usr/share/bash-completion/bash_completion ] || need+=(bash-completion)
if [ ${#need[@]} -gt 0 ]; then
	mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
	echo "test-deb.sh: installing ${need[*]}"
	apt_install "${need[@]}" || die "could not install ${need[*]}"
fi
if ! (cd "$repo" && dpkg-checkbuilddeps) >/dev/null 2>&1; then
	echo "test-deb.sh: installing build dependencies"
	(cd "$repo" && apt-get build-dep -y -q ./) >"$work/apt.log" 2>&1 ||
		{ apt-get update -q >/dev/null 2>&1 && (cd "$repo" && apt-get build-dep -y -q ./) >"$work/apt.log" 2>&1; } ||
		{ cat "$work/apt.log" >&2; die "could not install the build dependencies"; }
fi

# --- (a) Build ----------------------------------------------------------------------
version=$(cd "$repo" && dpkg-parsechangelog -S Version)
deb=$repo/dist/kexec-upgrade_${version}_amd64.deb
if (cd "$repo" && make -n deb >/dev/null 2>&1); then
	build=(make -C "$repo" deb)
else
	build=("$repo/packaging/build-deb.sh")
fi
if "${build[@]}"; then
	pass "build: ${build[*]}"
else
	die "build: ${build[*]}"
fi
if [ -f "$deb" ]; then pass "build: dist/${deb##*/} exists"; else die "build: dist/${deb##*/} missing"; fi
check "package: Package, Version and Architecture from debian/changelog" \
	test "$(dpkg-deb -f "$deb" Package Version Architecture | tr '\n' ' ')" = \
	"Package: kexec-upgrade Version: $version Architecture: amd64 "

# --- (b) lintian ----------------------------------------------------------------------
lintian_out=$(lintian --show-overrides "$deb" 2>&1 | grep -v '^running with root privileges')
printf '%s\n' "$lintian_out" | sed '/^$/d; s/^/    lintian: /'
if printf '%s\n' "$lintian_out" | grep -q '^[EW]: '; then
	fail "lintian: E: or W: lines above"
else
	pass "lintian: no E: or W: lines"
fi

# --- (c) Contents ------------------------------------------------------------------------
dpkg-deb -c "$deb" | awk '{ $1 = $2 = $3 = $4 = $5 = ""; sub(/^ +/, ""); sub(/^\.\//, "/"); print }' |
	sed 's/ -> .*//' | sort >"$work/files.txt"
grep -v '^#' "$repo/packaging/expected-files.txt" | sed '/^$/d' | sort >"$work/expected.txt"
if diff -u "$work/expected.txt" "$work/files.txt" >"$work/files.diff"; then
	pass "contents: file list matches packaging/expected-files.txt"
else
	fail "contents: file list differs from packaging/expected-files.txt (- expected, + found)"
	sed '1,2d; s/^/    /' "$work/files.diff"
fi
modes=$(dpkg-deb -c "$deb" | awk '$6 == "./usr/sbin/kexec-upgrade" || $6 == "./etc/kexec-upgrade/config.toml" { print $1, $2, $6 }')
check "contents: binary 0755 and config 0644, owned by root" test "$modes" = \
	"-rw-r--r-- root/root ./etc/kexec-upgrade/config.toml
-rwxr-xr-x root/root ./usr/sbin/kexec-upgrade"
mkdir -p "$work/pkg" "$work/ctl"
dpkg-deb -x "$deb" "$work/pkg"
dpkg-deb -e "$deb" "$work/ctl"
check "contents: the conffiles are config.toml and the kernel postinst hook" \
	test "$(sort "$work/ctl/conffiles" | tr '\n' ' ')" = "/etc/kernel/postinst.d/zz-kexec-upgrade /etc/kexec-upgrade/config.toml "
relations=$(dpkg-deb -f "$deb" Pre-Depends Depends Recommends Suggests)
check "relations: no kexec-tools" bash -c '! grep -q kexec-tools <<<"$1"' _ "$relations"
check "relations: Depends on systemd and a system bus" bash -c \
	'grep -q "^Depends: .*systemd" <<<"$1" && grep -q "^Depends: .*dbus-system-bus" <<<"$1"' _ "$relations"

# --- (d) Static binary ---------------------------------------------------------------------
bin=$work/pkg/usr/sbin/kexec-upgrade
check "binary: file(1) says statically linked" bash -c 'file -b "$1" | grep -q "statically linked"' _ "$bin"
check "binary: no PT_INTERP program header" bash -c '! readelf -lW "$1" | grep -q INTERP' _ "$bin"
check "binary: no dynamic section" bash -c '! readelf -dW "$1" | grep -q NEEDED' _ "$bin"
check "binary: file(1) says x86-64" bash -c 'file -b "$1" | grep -q "x86-64"' _ "$bin"

# --- (d2) The arm64 package, cross-built ---------------------------------------------------------
# What can be checked without an arm64 machine; the arm64 VM scenario boots it.
deb_arm64=$repo/dist/kexec-upgrade_${version}_arm64.deb
if (cd "$repo" && make -n deb ARCH=arm64 >/dev/null 2>&1); then
	build_arm64=(make -C "$repo" deb ARCH=arm64)
else
	build_arm64=("$repo/packaging/build-deb.sh" --arch arm64)
fi
if "${build_arm64[@]}" >"$work/build-arm64.log" 2>&1 && [ -f "$deb_arm64" ]; then
	pass "arm64: ${build_arm64[*]} wrote dist/${deb_arm64##*/}"
	check "arm64: the amd64 package is still there" test -f "$deb"
	check "arm64: Package, Version and Architecture" \
		test "$(dpkg-deb -f "$deb_arm64" Package Version Architecture | tr '\n' ' ')" = \
		"Package: kexec-upgrade Version: $version Architecture: arm64 "
	lintian_arm64=$(lintian --show-overrides "$deb_arm64" 2>&1 | grep -v '^running with root privileges')
	if printf '%s\n' "$lintian_arm64" | grep -q '^[EW]: '; then
		fail "arm64: lintian: E: or W: lines"
		printf '%s\n' "$lintian_arm64" | grep '^[EW]: ' | sed 's/^/    lintian: /'
	else
		pass "arm64: lintian: no E: or W: lines"
	fi
	dpkg-deb -c "$deb_arm64" | awk '{ $1 = $2 = $3 = $4 = $5 = ""; sub(/^ +/, ""); sub(/^\.\//, "/"); print }' |
		sed 's/ -> .*//' | sort >"$work/files-arm64.txt"
	check "arm64: file list matches packaging/expected-files.txt" diff -u "$work/expected.txt" "$work/files-arm64.txt"
	modes_arm64=$(dpkg-deb -c "$deb_arm64" | awk '$6 == "./usr/sbin/kexec-upgrade" || $6 == "./etc/kexec-upgrade/config.toml" { print $1, $2, $6 }')
	check "arm64: binary 0755 and config 0644, owned by root" test "$modes_arm64" = "$modes"
	mkdir -p "$work/pkg-arm64" "$work/ctl-arm64"
	dpkg-deb -x "$deb_arm64" "$work/pkg-arm64"
	dpkg-deb -e "$deb_arm64" "$work/ctl-arm64"
	# md5sums lists the binary, which differs by architecture.
	check "arm64: the same maintainer scripts and conffiles as amd64" \
		diff -r -x md5sums -x control "$work/ctl" "$work/ctl-arm64"
	check "arm64: the same Depends and Recommends as amd64" test \
		"$(dpkg-deb -f "$deb_arm64" Depends Recommends)" = "$(dpkg-deb -f "$deb" Depends Recommends)"
	# Debian's arm64 kernels lack kexec_file_load: the arm64 service may
	# call kexec_load too, and differs from amd64's in that line alone.
	check "arm64: the service allows kexec_load beside kexec_file_load, otherwise as amd64's" bash -c \
		'[ "$(grep "^SystemCallFilter=" "$2" | tail -n 1)" = "SystemCallFilter=kexec_file_load kexec_load" ] &&
		 diff <(grep -v "^SystemCallFilter=kexec_file_load" "$1") <(grep -v "^SystemCallFilter=kexec_file_load" "$2")' \
		_ "$work/pkg/lib/systemd/system/kexec-upgrade.service" "$work/pkg-arm64/lib/systemd/system/kexec-upgrade.service"
	check "arm64: the same files besides the binary as amd64" \
		diff -r -x kexec-upgrade -x changelog.gz "$work/pkg/usr/share" "$work/pkg-arm64/usr/share"
	bin_arm64=$work/pkg-arm64/usr/sbin/kexec-upgrade
	check "arm64: file(1) says ARM aarch64, statically linked" bash -c \
		'f=$(file -b "$1") && grep -q "ARM aarch64" <<<"$f" && grep -q "statically linked" <<<"$f" || { echo "$f"; exit 1; }' _ "$bin_arm64"
	check "arm64: ELF machine AArch64, no PT_INTERP, no NEEDED" bash -c \
		'readelf -hW "$1" | grep -q "Machine: *AArch64" && ! readelf -lW "$1" | grep -q INTERP && ! readelf -dW "$1" | grep -q NEEDED' _ "$bin_arm64"
	check "arm64: the binary is stripped (no .symtab)" bash -c '! readelf -SW "$1" | grep -q "\.symtab"' _ "$bin_arm64"
	check "arm64: md5sums matches the binary" bash -c \
		'[ "$(grep " usr/sbin/kexec-upgrade$" "$1/md5sums" | cut -d" " -f1)" = "$(md5sum <"$2" | cut -d" " -f1)" ]' _ "$work/ctl-arm64" "$bin_arm64"
	if command -v qemu-aarch64-static >/dev/null 2>&1 || command -v qemu-aarch64 >/dev/null 2>&1; then
		qemu=$(command -v qemu-aarch64-static || command -v qemu-aarch64)
		check "arm64: the binary runs under $qemu and prints $version" bash -c \
			'"$1" "$2" version | grep -qF -- "$3"' _ "$qemu" "$bin_arm64" "$version"
	else
		skip "arm64: running the binary needs qemu-aarch64-static (package qemu-user-static)"
	fi
else
	tail -n 40 "$work/build-arm64.log" | sed 's/^/    /'
	fail "arm64: ${build_arm64[*]}"
fi

# --- Maintainer scripts ------------------------------------------------------------------------
# The service must never be started, stopped or restarted by the package (an
# upgrade must not interrupt a switch); the timer is enabled, started and
# stopped on remove.
check "maintscripts: never act on kexec-upgrade.service" bash -c \
	'! cat "$1"/preinst "$1"/postinst "$1"/prerm "$1"/postrm 2>/dev/null | grep -q "kexec-upgrade\.service"' _ "$work/ctl"
check "maintscripts: postinst enables and (re)starts the timer and the path unit" bash -c \
	'grep -q "deb-systemd-helper enable .kexec-upgrade.timer" "$1/postinst" &&
	 grep -q "deb-systemd-helper enable .kexec-upgrade.path" "$1/postinst" &&
	 grep -q "deb-systemd-invoke \$_dh_action .*kexec-upgrade.timer" "$1/postinst"' _ "$work/ctl"
check "maintscripts: prerm stops the timer on remove only" bash -c \
	'grep -q "\[ \"\$1\" = remove \]" "$1/prerm" && grep -q "deb-systemd-invoke stop .*kexec-upgrade.timer" "$1/prerm"' _ "$work/ctl"
check "maintscripts: no preinst stopping anything" bash -c '! grep -qs "deb-systemd-invoke stop" "$1/preinst"' _ "$work/ctl"
check "maintscripts: postrm purge removes /var/lib/kexec-upgrade" grep -q 'rm -rf "${DPKG_ROOT:-}/var/lib/kexec-upgrade"' "$work/ctl/postrm"
check "maintscripts: postinst creates the run lock with systemd-tmpfiles" \
	grep -q 'systemd-tmpfiles .*--create kexec-upgrade.conf' "$work/ctl/postinst"

# --- Man pages ---------------------------------------------------------------------------------
for page in kexec-upgrade.8 kexec-upgrade.toml.5; do
	src=$repo/packaging/$page
	check "man: groff -ww -z -man $page: no warnings" bash -c \
		'out=$(groff -ww -z -man "$1" 2>&1) && [ -z "$out" ] || { printf "%s\n" "$out"; exit 1; }' _ "$src"
	check "man: man --warnings -l $page: no warnings" bash -c \
		'out=$(MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l "$1" 2>&1 >/dev/null) && [ -z "$out" ] || { printf "%s\n" "$out"; exit 1; }' _ "$src"
done
# What the spec requires each page to document: every word must appear in the
# rendered page (hyphens as rendered; groff renders \- as -).
render() { MANWIDTH=2000 LC_ALL=C.UTF-8 man -l "$1" 2>/dev/null | col -b; }
render "$repo/packaging/kexec-upgrade.8" >"$work/man8.txt"
render "$repo/packaging/kexec-upgrade.toml.5" >"$work/man5.txt"
missing_words() {
	local file=$1 w out=""
	shift
	for w in "$@"; do grep -qF -- "$w" "$file" || out+=" $w"; done
	[ -z "$out" ] || { echo "not documented:$out"; return 1; }
}
check "man: kexec-upgrade(8) documents every command and option" missing_words "$work/man8.txt" \
	"kexec-upgrade run" "kexec-upgrade status" "kexec-upgrade history" "kexec-upgrade check-config" \
	"kexec-upgrade version" --dry-run --now --json --at --help --root
check "man: kexec-upgrade(8) documents the exit codes" bash -c \
	'sed -n "/^EXIT STATUS/,/^[A-Z]/p" "$1" | grep -qE "^ +0 " &&
	 sed -n "/^EXIT STATUS/,/^[A-Z]/p" "$1" | grep -qE "^ +1 " &&
	 sed -n "/^EXIT STATUS/,/^[A-Z]/p" "$1" | grep -qE "^ +2 "' _ "$work/man8.txt"
check "man: kexec-upgrade(8) documents every status --json key" missing_words "$work/man8.txt" \
	running release build boot_id cmdline target package version image initrd why_new \
	decision action reason check retry_at steps result detail window configured open next \
	config valid files errors last_outcome outcome from at duration_seconds staged warnings
check "man: kexec-upgrade(8) documents every check name" missing_words "$work/man8.txt" \
	config state target image initrd package failed-before kexec-allowed cmdline enabled window \
	system-state dpkg-lock inhibitor uptime
check "man: kexec-upgrade(8) has FILES, EXAMPLES, SEE ALSO, TESTING" missing_words "$work/man8.txt" \
	$'\nFILES\n' $'\nEXAMPLES\n' $'\nSEE ALSO\n' $'\nTESTING\n' /etc/kexec-upgrade/config.toml \
	/var/lib/kexec-upgrade/state.json /run/kexec-upgrade.lock /lib/systemd/system/kexec-upgrade.timer
check "man: kexec-upgrade.toml(5) documents every key" missing_words "$work/man5.txt" \
	enabled min_uptime rebuilds '[[window]]' days start end time_zone '[kernel]' cmdline_append cmdline_remove
check "man: kexec-upgrade.toml(5) explains midnight and DST" missing_words "$work/man5.txt" \
	"Across midnight" "Daylight saving time" "first occurrence" "at the transition"

# --- Journal catalog ----------------------------------------------------------------------------
catalog=$repo/packaging/kexec-upgrade.catalog
# The MESSAGE_IDs of the CLI spec's event kinds (config-error, postponed,
# refused, staged, switching, verified, failed); internal/systemd may define
# more, and the catalog must have exactly the ones it defines.
spec_ids="9e1aca6540f243bd978ed3b40c49f39b 6fd2a3fe14b2437280e27a622796ca1e
3e4ec795f4614a1fadf1ae7cebe9e925 f3ddd7ba52a846bf859c8e525d03b3e9
33c1eee661c24c599cd6f28c2cc6b471 c2e072820bdd440f83a40c45f6ac2bec
0290f6f5193b44bc87a611aa4c2209e8"
catalog_ids=$(sed -n 's/^-- //p' "$catalog" | sort)
# Our own events' IDs live in journal.go (boottimes.go quotes systemd's own).
go_ids=$(cat "$repo/internal/systemd/journal.go" 2>/dev/null |
	grep -oE '"[0-9a-f]{32}"' | tr -d '"' | sort -u)
check "catalog: every '-- ' line is '-- <32 lowercase hex>'" bash -c \
	'! grep "^--" "$1" | grep -vqE "^-- [0-9a-f]{32}$"' _ "$catalog"
check "catalog: no MESSAGE_ID twice" test "$(uniq -d <<<"$catalog_ids")" = ""
check "catalog: an entry for every MESSAGE_ID of the spec" bash -c \
	'for id in $2; do grep -qx -- "$id" <<<"$1" || { echo "no entry for $id"; exit 1; }; done' _ "$catalog_ids" "$spec_ids"
check "catalog: exactly the MESSAGE_IDs that internal/systemd defines" bash -c \
	'[ -n "$2" ] || { echo "no MESSAGE_IDs found in internal/systemd"; exit 1; }
	 [ "$1" = "$2" ] || { diff <(echo "$2") <(echo "$1") | sed "s/^</only in internal\/systemd:/; s/^>/only in the catalog:/" | grep only; exit 1; }' \
	_ "$catalog_ids" "$go_ids"
check "catalog: each entry has Subject, Defined-By and Documentation" awk '
	/^-- / { if (id) bad += !(s && d && m); id = $2; s = d = m = 0; hdr = 1; next }
	hdr && /^$/ { hdr = 0 }
	hdr && /^Subject: ./ { s = 1 }
	hdr && /^Defined-By: kexec-upgrade$/ { d = 1 }
	hdr && /^Documentation: man:kexec-upgrade\(8\)$/ { m = 1 }
	END { if (id) bad += !(s && d && m); exit bad != 0 }' "$catalog"
mkdir -p "$work/cat/usr/lib/systemd/catalog" "$work/cat/var/lib/systemd/catalog"
cp "$work/pkg/usr/lib/systemd/catalog/kexec-upgrade.catalog" "$work/cat/usr/lib/systemd/catalog/"
entries=$(wc -l <<<"$catalog_ids")
check "catalog: journalctl --update-catalog reads all $entries entries" bash -c '
	out=$(journalctl --root="$1" --update-catalog 2>&1) && [ -z "$out" ] || { echo "$out"; exit 1; }
	[ "$(journalctl --root="$1" --list-catalog | grep -c "kexec-upgrade: ")" = "$2" ]' _ "$work/cat" "$entries"

# --- Units -------------------------------------------------------------------------------------
service=$work/pkg/lib/systemd/system/kexec-upgrade.service
timer=$work/pkg/lib/systemd/system/kexec-upgrade.timer
check "units: the service runs /usr/sbin/kexec-upgrade run as a oneshot" bash -c \
	'grep -qx "Type=oneshot" "$1" && grep -qx "ExecStart=/usr/sbin/kexec-upgrade run" "$1" &&
	 grep -qx "StateDirectory=kexec-upgrade" "$1"' _ "$service"
check "units: the sandbox keeps CAP_SYS_BOOT and kexec_file_load alone of @reboot" bash -c \
	'grep -qx "CapabilityBoundingSet=CAP_SYS_BOOT" "$1" && [ "$(grep "^SystemCallFilter=" "$1" | tail -n 1)" = "SystemCallFilter=kexec_file_load" ]' _ "$service"
# A "+" (or "!") command runs outside the sandbox: the run lock comes from
# tmpfiles.d instead.
check "units: no command of the service runs outside its sandbox (no Exec*=+ or !)" bash -c \
	'! grep -E "^Exec[A-Za-z]*=[-@:]*[+!]" "$1"' _ "$service"
tmpfiles=$work/pkg/usr/lib/tmpfiles.d/kexec-upgrade.conf
check "units: tmpfiles.d creates /run/kexec-upgrade.lock, 0600 root" bash -c \
	'[ "$(grep -v "^#" "$1" | sed "/^$/d")" = "f /run/kexec-upgrade.lock 0600 root root -" ]' _ "$tmpfiles"
check "units: the timer runs every 5 minutes and is wanted by timers.target" bash -c \
	'grep -qx "OnBootSec=1min" "$1" && grep -qx "OnUnitActiveSec=5min" "$1" && grep -qx "WantedBy=timers.target" "$1"' _ "$timer"
check "units: the service has no [Install] section" bash -c '! grep -q "^\[Install\]" "$1"' _ "$service"
exposure=$(systemd-analyze security --offline=true --no-pager "$service" 2>/dev/null |
	sed -n 's/.*Overall exposure level for kexec-upgrade.service: \([0-9.]*\).*/\1/p')
check "units: systemd-analyze security exposure ${exposure:-?} <= 2.5" \
	awk -v e="${exposure:-99}" 'BEGIN { exit !(e <= 2.5) }'
# The syscall filter lines apply in order; this is the set the service gets.
check "units: kexec_file_load is in the service's system call filter" bash -c \
	'systemd-analyze security --offline=true --no-pager "$1" 2>/dev/null | grep -q "SystemCallFilter=~@reboot .*kexec_file_load is allowed"' _ "$service"

# --- Bash completion ---------------------------------------------------------------------------
complete_words() {
	bash -c '
		source /usr/share/bash-completion/bash_completion
		source "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		_kexec_upgrade kexec-upgrade "${COMP_WORDS[-1]}" "${COMP_WORDS[-2]}"
		echo "${COMPREPLY[*]}"' _ "$work/pkg/usr/share/bash-completion/completions/kexec-upgrade" "$@"
}
check "completion: commands" test "$(complete_words kexec-upgrade '')" = "run status history check-config pause resume version"
check "completion: global options" test "$(complete_words kexec-upgrade -)" = "-h --help"
check "completion: run options" test "$(complete_words kexec-upgrade run -)" = "--dry-run --now"
check "completion: check-config options" test "$(complete_words kexec-upgrade check-config --json -)" = "--at"
check "completion: status and history options" test \
	"$(complete_words kexec-upgrade status -) / $(complete_words kexec-upgrade history --)" = "--json / --json"

# --- (e) A throwaway bookworm root ------------------------------------------------------------
# The host's Debian bookworm sources, one "deb URI SUITE COMPONENT" line each.
debian_sources() {
	apt-get indextargets --format '$(TARGET_OF) $(IDENTIFIER) $(CODENAME) $(REPO_URI) $(RELEASE) $(COMPONENT)' 2>/dev/null |
		awk '$1 == "deb" && $2 == "Packages" && $3 == "bookworm" && $6 == "main" { print "deb " $4 " " $5 " " $6 }' | sort -u
}
mapfile -t sources < <(debian_sources)
if [ ${#sources[@]} -eq 0 ]; then
	apt-get update -q >/dev/null 2>&1
	mapfile -t sources < <(debian_sources)
fi
[ ${#sources[@]} -gt 0 ] || die "root: the host's apt sources list no Debian bookworm main archive"
aptopts=()
for proxy in Acquire::http::Proxy Acquire::https::Proxy; do
	value=$(apt-config dump "$proxy" | sed -n "s/^$proxy \"\(.*\)\";$/\1/p")
	[ -z "$value" ] || aptopts+=(--aptopt="$proxy \"$value\"")
done

key=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)
tarball=$cache_dir/root-$key.tar
mkdir -p "$cache_dir"
if [ -f "$tarball" ]; then
	pass "root: cached $tarball"
else
	# Roots made by other versions of this script.
	find "$cache_dir" -mindepth 1 -maxdepth 1 -name 'root-*' -exec rm -rf {} +
	echo "test-deb.sh: creating a bookworm root with mmdebstrap (cached as $tarball)"
	# mmdebstrap picks the output format from the name: keep ".tar" last.
	if mmdebstrap --quiet --mode=root --variant=minbase --include=systemd,dbus "${aptopts[@]}" \
		bookworm "$cache_dir/tmp-$key.tar" "${sources[@]}" >"$work/mmdebstrap.log" 2>&1; then
		mv "$cache_dir/tmp-$key.tar" "$tarball"
		pass "root: mmdebstrap bookworm minbase + systemd + dbus"
	else
		rm -rf "$cache_dir/tmp-$key.tar"
		tail -n 30 "$work/mmdebstrap.log" | sed 's/^/    /'
		die "root: mmdebstrap failed"
	fi
fi
mkdir -p "$root"
tar -C "$root" -xf "$tarball" || die "root: cannot unpack $tarball"
# No service may start from maintainer scripts in the chroot.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"

# in_root CMD...: run CMD in the root, with /proc and /dev/pts (apt logs
# through a pty), in a private mount namespace that vanishes with it.
in_root() {
	unshare --mount --propagation private --fork -- /bin/sh -c \
		'mount -t proc proc "$0/proc" && mount --bind /dev/pts "$0/dev/pts" && exec chroot "$0" "$@"' "$root" \
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"
}
apt_in_root() {
	local deb=$1
	cp "$deb" "$root/tmp/"
	chmod 0644 "$root/tmp/${deb##*/}"
	in_root apt-get install -y -q \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "/tmp/${deb##*/}"
}

if apt_in_root "$deb" >"$work/install1.log" 2>&1; then
	pass "install: apt-get install ./${deb##*/} in the root"
else
	sed 's/^/    /' "$work/install1.log"
	die "install: apt-get install ./${deb##*/} in the root"
fi
check "install: kexec-upgrade.timer is enabled" test "$(systemctl --root="$root" is-enabled kexec-upgrade.timer 2>&1)" = enabled
check "install: kexec-upgrade.service is static (started by the timer only)" \
	test "$(systemctl --root="$root" is-enabled kexec-upgrade.service 2>&1)" = static
check "install: /usr/lib/tmpfiles.d/kexec-upgrade.conf is installed" test -f "$root/usr/lib/tmpfiles.d/kexec-upgrade.conf"
check "install: postinst created /run/kexec-upgrade.lock, 0600 root" \
	test "$(stat -c '%F %a %U' "$root/run/kexec-upgrade.lock" 2>&1)" = "regular empty file 600 root"
check "install: config.d is an empty directory" bash -c '[ -d "$1" ] && [ -z "$(ls -A "$1")" ]' _ "$root/etc/kexec-upgrade/config.d"
# prints WANT CMD...: CMD succeeds and prints WANT somewhere.
prints() {
	local want=$1 out
	shift
	out=$("$@" 2>&1) && grep -qF -- "$want" <<<"$out" && return 0
	printf '%s\n' "$out"
	return 1
}
check "install: kexec-upgrade version prints $version" prints "$version" in_root /usr/sbin/kexec-upgrade version
check "install: kexec-upgrade check-config accepts the shipped config" in_root /usr/sbin/kexec-upgrade check-config
check "install: journal catalog entries are in the root's catalog database" \
	test "$(in_root journalctl --list-catalog 2>/dev/null | grep -c 'kexec-upgrade: ')" = "$entries"
check "install: systemd-analyze verify accepts both units" in_root systemd-analyze verify --man=no \
	/lib/systemd/system/kexec-upgrade.service /lib/systemd/system/kexec-upgrade.timer

# The admin's edit: a window, as an admin would add it.
cat >>"$root/etc/kexec-upgrade/config.toml" <<'EOF'

# Added by the admin.
[[window]]
days = ["Sat", "Sun"]
start = "02:00"
end = "04:00"
time_zone = "UTC"
EOF
edited=$(sha256sum <"$root/etc/kexec-upgrade/config.toml")
# The JSON without white space: how it is laid out is not part of the spec.
compact() { "$@" | tr -d ' \n\t'; }
check "upgrade: check-config --json accepts the edited config and lists its windows" prints \
	'{"valid":true,"next_windows":[{"start":"2026-03-29T02:00:00Z","end":"2026-03-29T04:00:00Z"},' \
	compact in_root /usr/sbin/kexec-upgrade check-config --at 2026-03-29T00:30:00Z --json

# A newer build: the package repacked with a higher version and a changed
# shipped config.toml, so that dpkg meets a conffile changed on both sides.
# (md5sums lists no conffile, so it stays valid.)
new_version=$version+pkgtest1
new_deb=$work/kexec-upgrade_${new_version}_amd64.deb
if dpkg-deb -R "$deb" "$work/repack" &&
	sed -i "s/^Version: .*/Version: $new_version/" "$work/repack/DEBIAN/control" &&
	printf '\n# A line added by the newer build.\n' >>"$work/repack/etc/kexec-upgrade/config.toml" &&
	dpkg-deb --root-owner-group -b "$work/repack" "$new_deb" >"$work/build2.log" 2>&1; then
	pass "upgrade: built $new_version"
else
	sed 's/^/    /' "$work/build2.log"
	die "upgrade: build of $new_version"
fi
if apt_in_root "$new_deb" >"$work/install2.log" 2>&1; then
	pass "upgrade: apt-get install ./${new_deb##*/} over $version"
else
	sed 's/^/    /' "$work/install2.log"
	fail "upgrade: apt-get install ./${new_deb##*/} over $version"
fi
check "upgrade: $new_version is installed" test \
	"$(in_root dpkg-query -W -f '${Version} ${Status}' kexec-upgrade)" = "$new_version install ok installed"
check "upgrade: the admin's config.toml survived" test "$(sha256sum <"$root/etc/kexec-upgrade/config.toml")" = "$edited"
check "upgrade: the new shipped config is config.toml.dpkg-dist" \
	grep -q "A line added by the newer build" "$root/etc/kexec-upgrade/config.toml.dpkg-dist"
check "upgrade: kexec-upgrade.timer is still enabled" test "$(systemctl --root="$root" is-enabled kexec-upgrade.timer 2>&1)" = enabled

# --- (f) The service in a booted container -------------------------------------------
# systemd 252 boots the root with systemd-nspawn and runs the real service, in
# its real sandbox, against a fake kernel package whose image is not a bzImage:
# the run must refuse it (check "image") after every other check, D-Bus ones
# included, ran inside the sandbox. A refused kernel is never loaded, so this
# is safe on any host.
fake=$work/fake-kernel
mkdir -p "$fake/DEBIAN" "$fake/boot"
head -c 65536 /dev/zero >"$fake/boot/vmlinuz-99.0.0-1-amd64"
echo "not an initrd" >"$fake/boot/initrd.img-99.0.0-1-amd64"
printf '%s\n' "Package: linux-image-99.0.0-1-amd64" "Version: 99.0.0-1" "Architecture: amd64" \
	"Maintainer: kexec-upgrade developers <dev@kexec-upgrade.invalid>" \
	"Description: fake kernel for packaging/test-deb.sh" >"$fake/DEBIAN/control"
if ! { dpkg-deb --root-owner-group -b "$fake" "$root/var/tmp/fake-kernel.deb" &&
	in_root dpkg -i /var/tmp/fake-kernel.deb; } >"$work/fake.log" 2>&1; then
	sed 's/^/    /' "$work/fake.log"
	fail "container: install a fake kernel package"
fi

nspawn_pid=""
container_init=""
in_container() { nsenter -t "$container_init" -a "$@"; }
stop_container() {
	[ -n "$nspawn_pid" ] || return 0
	kill -TERM "$nspawn_pid" 2>/dev/null
	for _ in $(seq 60); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.5; done
	kill -KILL "$nspawn_pid" 2>/dev/null
	wait "$nspawn_pid" 2>/dev/null
	nspawn_pid=""
}
# --register=no and --keep-unit: the host need not run systemd itself.
systemd-nspawn --quiet --directory="$root" --register=no --keep-unit --boot --console=passive \
	>"$work/nspawn.log" 2>&1 &
nspawn_pid=$!
for _ in $(seq 60); do
	container_init=$(pgrep -P "$nspawn_pid" -x systemd | head -n 1)
	[ -n "$container_init" ] && break
	sleep 0.5
done
# Until its systemd answers and has finished booting.
state=""
for _ in $(seq 90); do
	[ -n "$container_init" ] || break
	state=$(nsenter -t "$container_init" -a systemctl is-system-running 2>/dev/null)
	case $state in running | degraded) break ;; esac
	sleep 1
done
if [ -z "$container_init" ] || ! [[ $state =~ ^(running|degraded)$ ]]; then
	stop_container
	sed 's/^/    /' "$work/nspawn.log" | tail -n 20
	skip "container: systemd-nspawn cannot boot the root here (no service test)"
else
	pass "container: booted, system state $state"
	check "container: kexec-upgrade.timer is active" in_container systemctl is-active --quiet kexec-upgrade.timer
	# /run is a fresh tmpfs in the container: systemd-tmpfiles-setup made the
	# lock at boot, before any run.
	check "container: /run/kexec-upgrade.lock exists at boot, 0600 root" \
		test "$(in_container stat -c '%F %a %U' /run/kexec-upgrade.lock 2>&1)" = "regular empty file 600 root"
	check "container: the service has no ExecStartPre=" \
		test -z "$(in_container systemctl show -P ExecStartPre kexec-upgrade.service 2>&1)"
	# The system calls the service may make, as systemd resolved them: an
	# allow list with kexec_file_load, without kexec_load (no signature
	# checks) and reboot.
	in_container systemctl show -P SystemCallFilter kexec-upgrade.service >"$work/syscalls.txt" 2>&1
	check "container: SystemCallFilter is an allow list with kexec_file_load" bash -c \
		'! grep -q "^~" "$1" && tr " " "\n" <"$1" | grep -qx kexec_file_load' _ "$work/syscalls.txt"
	check "container: SystemCallFilter allows neither kexec_load nor reboot" bash -c \
		'! tr " " "\n" <"$1" | grep -Ex "kexec_load|reboot"' _ "$work/syscalls.txt"
	security=$(in_container systemd-analyze security --no-pager kexec-upgrade.service 2>&1)
	exposure=$(sed -n 's/.*Overall exposure level for kexec-upgrade.service: \([0-9.]*\).*/\1/p' <<<"$security")
	check "container: systemd-analyze security kexec-upgrade.service: exposure ${exposure:-?} <= 2.5" \
		awk -v e="${exposure:-99}" 'BEGIN { exit !(e <= 2.5) }'
	if in_container systemctl start kexec-upgrade.service >"$work/start.log" 2>&1; then
		pass "container: systemctl start kexec-upgrade.service succeeds"
	else
		fail "container: systemctl start kexec-upgrade.service"
		in_container journalctl -b -u kexec-upgrade.service --no-pager -o cat 2>&1 | tail -n 20 | sed 's/^/    /'
	fi
	check "container: the run refused the fake kernel for its image (journal)" prints "KEXEC_UPGRADE_CHECK=image" \
		in_container journalctl -b MESSAGE_ID=3e4ec795f4614a1fadf1ae7cebe9e925 -o verbose --no-pager
	check "container: the run wrote /var/lib/kexec-upgrade/state.json" in_container test -s /var/lib/kexec-upgrade/state.json
	check "container: the run could lock /run/kexec-upgrade.lock" in_container test -f /run/kexec-upgrade.lock
	# The same sandbox with a dry run, whose trace shows every check.
	mkdir -p "$root/etc/systemd/system/kexec-upgrade.service.d"
	printf '[Service]\nExecStart=\nExecStart=/usr/sbin/kexec-upgrade run --dry-run\n' \
		>"$root/etc/systemd/system/kexec-upgrade.service.d/dry-run.conf"
	in_container systemctl daemon-reload
	in_container systemctl start kexec-upgrade.service >/dev/null 2>&1
	in_container journalctl -b -u kexec-upgrade.service --no-pager -o cat >"$work/dry-run.log" 2>&1
	for c in system-state dpkg-lock inhibitor; do
		check "container: in the sandbox, check $c passes" grep -Eq "^ *pass +$c " "$work/dry-run.log"
	done
	# Whether the host kernel allows kexec is the host's business; the sandbox
	# must keep CAP_SYS_BOOT.
	check "container: in the sandbox, check kexec-allowed ran and finds CAP_SYS_BOOT" bash -c \
		'grep -E "^ *(pass|fail) +kexec-allowed " "$1" | grep -qv CAP_SYS_BOOT' _ "$work/dry-run.log"
	rm -r "$root/etc/systemd/system/kexec-upgrade.service.d"
	stop_container
fi
in_root dpkg --purge linux-image-99.0.0-1-amd64 >/dev/null 2>&1

# Purge: what a run leaves behind, then apt-get purge.
mkdir -p "$root/var/lib/kexec-upgrade"
echo '{}' >"$root/var/lib/kexec-upgrade/state.json"
touch "$root/run/kexec-upgrade.lock"
rm -f "$root/etc/kexec-upgrade/config.toml.dpkg-dist"
if in_root apt-get purge -y -q kexec-upgrade >"$work/purge.log" 2>&1; then
	pass "purge: apt-get purge kexec-upgrade"
else
	sed 's/^/    /' "$work/purge.log"
	fail "purge: apt-get purge kexec-upgrade"
fi
check "purge: /var/lib/kexec-upgrade is gone" test ! -e "$root/var/lib/kexec-upgrade"
check "purge: /run/kexec-upgrade.lock is gone" test ! -e "$root/run/kexec-upgrade.lock"
check "purge: /etc/kexec-upgrade is gone" test ! -e "$root/etc/kexec-upgrade"
check "purge: no timer symlink is left" test ! -e "$root/etc/systemd/system/timers.target.wants/kexec-upgrade.timer"
status=$(in_root dpkg-query -W -f '${Status}' kexec-upgrade 2>/dev/null)
check "purge: dpkg lists the package as not installed (${status:-forgotten})" \
	bash -c 'case $1 in "" | *" not-installed") exit 0 ;; *) exit 1 ;; esac' _ "$status"

summary
