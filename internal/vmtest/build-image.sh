#!/usr/bin/env bash
# build-image.sh builds, or finds in the cache, a Debian guest image of the VM end-to-end
# tests, and prints the image directory as its last line on stdout.
#
#   build-image.sh [SUITE [SOURCE [ARCH]]]  SUITE: bookworm (default), trixie, …
#                                           SOURCE: main (default) or backports
#                                           ARCH: amd64 (default) or arm64 (see arm64_setup)
#
# Every kernel is picked at run time from the archive, in `linux-version sort` order among
# the linux-image-<release>-cloud-<arch> packages:
#   old   the second newest release of SUITE, SUITE-updates and SUITE-security: the image
#         boots it
#   new   main: the newest release of those suites; backports: the newest release of
#         SUITE-backports and of the other series those suites carry beside their own
#         (bookworm-security's 6.12+deb12), downloaded with `-t SUITE-backports`, so a
#         pre-dependency such as the 7.x packaging's linux-base (>= 4.17~) comes from
#         backports too
# The new kernel's .deb files (for 7.x: linux-image-R, linux-binary-R, linux-modules-R,
# linux-base-R and linux-base) are exactly what the image lacks, resolved against the image's
# own dpkg status; scenarios install them together.
#
# The archive's addresses come from the host's own apt configuration: the entries that serve
# the host's Debian release (main archive) and its -security suite; the other suites are the
# same addresses with another suite name. apt runs with a private configuration, lists and
# cache under the cache directory, so the host's apt state is never touched. KU_VM_MIRROR and
# KU_VM_SECURITY_MIRROR override the two addresses.
#
# Cache: $KU_VM_CACHE (default /var/tmp/kexec-upgrade-vm), in two layers:
#   images/base/<suite>-<key>/           the file system and what does not depend on the new
#                                        kernel; <key> hashes this script, the suite, the old
#                                        kernel and the other cached packages' versions
#   images/<suite>-<source>-<key>/       one per suite+source: the base's files as hard links
#                                        plus the new kernel's packages; <key> adds them
# so a new kernel in backports costs a download, not a new file system. A changed script or
# a new old kernel builds a new base. Builds run in a temporary directory, are renamed into
# place when complete, and are serialised per suite by a lock on $KU_VM_CACHE/build-<suite>.lock
# (two suites build at once). The archive's lists are refreshed when older than
# $KU_VM_LISTS_MAX_AGE minutes (default 720).
#
# Layout of an image directory:
#   base.raw          ext4 file system of the guest (the whole disk /dev/vda, no partitions)
#   vmlinuz, initrd   the old kernel and its initramfs, for QEMU's direct kernel boot
#   id_ed25519        the key that logs in as root
#   dpkg.status       the image's /var/lib/dpkg/status
#   debs/old/*.deb    the old kernel's package
#   debs/new/*.deb    the new kernel's packages
#   debs/kexec/*.deb  kexec-tools and the packages it needs that the image lacks
#   debs/metrics/*.deb prometheus-node-exporter and the packages it needs that the image lacks
#   manifest.env      suite, source, releases, versions, file names, systemd's version and
#                     the guest's clock epoch (the earliest time systemd lets the clock have),
#                     as shell assignments
set -euo pipefail

self=$(readlink -f "$0")
here=$(dirname "$self")

die() {
	echo "build-image.sh: $*" >&2
	exit 1
}

# essential_hook runs inside mmdebstrap after the Essential packages are installed and
# before the kernel is: it configures initramfs-tools so that the kernel's postinst
# generates a small initramfs that can still find a virtio root disk.
essential_hook() {
	local root=$1
	mkdir -p "$root/etc/initramfs-tools/conf.d" "$root/usr/share/initramfs-tools/modules.d"
	# MODULES=dep cannot work in a chroot (it inspects the running root device), and
	# MODULES=most makes every initramfs update in the guest slow under TCG. The cloud
	# kernel builds virtio_pci and virtio_blk as modules, so they must be listed.
	cat >"$root/etc/initramfs-tools/conf.d/ku-vm.conf" <<-'CONF'
		MODULES=list
		RESUME=none
	CONF
	printf '%s\n' virtio_pci virtio_blk >"$root/usr/share/initramfs-tools/modules.d/ku-vm"
	# No documentation in the packages installed from here on. (mmdebstrap's --dpkgopt would
	# also filter the Essential packages, through a filter that costs minutes per build.)
	mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
	printf 'path-exclude=%s\n' '/usr/share/doc/*' '/usr/share/man/*' '/usr/share/info/*' \
		'/usr/share/locale/*' '/usr/share/lintian/*' >"$root/etc/dpkg/dpkg.cfg.d/ku-vm-nodoc"
	# No fsck of the root file system: passno 0. A scenario's guest clock may lie before
	# the time the image was made, and e2fsck would stop to fix the superblock times.
	printf '%s\n' '/dev/vda / ext4 rw,errors=remount-ro 0 0' >"$root/etc/fstab"
}

# customize_hook runs inside mmdebstrap after all packages are installed.
customize_hook() {
	local root=$1 out=$2
	# Fixed identity: tests compare boot_id, never machine-id.
	echo 0d7d1d5e5c2a4f0b9b0e8a7c6d5e4f30 >"$root/etc/machine-id"
	echo ku-vm >"$root/etc/hostname"
	printf '127.0.0.1\tlocalhost\n127.0.1.1\tku-vm\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"

	# Root logs in with the key only.
	install -d -m 0700 "$root/root/.ssh"
	install -m 0600 "$out/id_ed25519.pub" "$root/root/.ssh/authorized_keys"
	cat >"$root/etc/ssh/sshd_config.d/ku-vm.conf" <<-'CONF'
		PermitRootLogin prohibit-password
		PasswordAuthentication no
		UseDNS no
	CONF

	# Networking: systemd-networkd, DHCP on QEMU's user network.
	cat >"$root/etc/systemd/network/10-ku-vm.network" <<-'CONF'
		[Match]
		Name=en* eth*

		[Network]
		DHCP=ipv4
		LinkLocalAddressing=no
		IPv6AcceptRA=no
	CONF
	chroot "$root" systemctl enable systemd-networkd.service
	# Nothing may set the clock but the scenario (through QEMU's RTC).
	chroot "$root" systemctl mask systemd-timesyncd.service systemd-networkd-wait-online.service
	# Timers that would run apt, dpkg or e2fsprogs jobs at some guest time would hold the
	# package manager or disturb a measurement; e2scrub_reap alone adds half a minute to
	# each boot under TCG.
	chroot "$root" systemctl mask apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer \
		e2scrub_all.timer e2scrub_reap.service fstrim.timer
	# Every guest boots a fresh copy of this image: without the stamps of an updated /usr,
	# each boot would rebuild the linker and journal catalog caches (ConditionNeedsUpdate=).
	# As systemd-update-done writes them; a second after /usr's time, so that the times
	# alone decide.
	local d usr_time
	usr_time=$(stat -c %Y "$root/usr")
	for d in etc var; do
		printf 'TIMESTAMP_NSEC=%s000000000\n' "$usr_time" >"$root/$d/.updated"
		touch -d "@$((usr_time + 1))" "$root/$d/.updated"
	done
	# QEMU's -cpu max offers SVM/VMX: udev would load KVM modules nobody uses.
	printf 'blacklist %s\n' kvm kvm_amd kvm_intel >"$root/etc/modprobe.d/ku-vm.conf"
	# No login prompt on the serial console: agetty hangs the line up when it starts, which
	# can swallow the KU-BOOTED line, and the harness logs in through ssh anyway.
	chroot "$root" systemctl mask serial-getty@ttyS0.service

	# The service whose availability the host probes during a switch.
	mkdir -p "$root/srv/www"
	echo 'kexec-upgrade vm http ok' >"$root/srv/www/index.html"
	cat >"$root/etc/systemd/system/ku-httpd.service" <<-'CONF'
		[Unit]
		Description=HTTP service probed by the kexec-upgrade VM tests
		After=network.target

		[Service]
		ExecStart=/bin/busybox httpd -f -p 8080 -h /srv/www
		Restart=always
		RestartSec=1

		[Install]
		WantedBy=multi-user.target
	CONF
	chroot "$root" systemctl enable ku-httpd.service

	# The harness waits for this line on the serial console.
	cat >"$root/etc/systemd/system/ku-booted.service" <<-'CONF'
		[Unit]
		Description=Report a finished boot to the kexec-upgrade VM test harness
		After=multi-user.target ssh.service ku-httpd.service

		[Service]
		Type=oneshot
		ExecStart=/bin/sh -c 'echo "KU-BOOTED $(uname -r) $(cat /proc/sys/kernel/random/boot_id)" >/dev/ttyS0'

		[Install]
		WantedBy=multi-user.target
	CONF
	chroot "$root" systemctl enable ku-booted.service

	# Packages that scenarios install into a running guest: downloaded by the guest's own
	# apt, so exactly the missing dependencies come along.
	local d
	for d in kexec metrics; do
		rm -rf "$root/var/cache/ku-vm-$d"
		mkdir -p "$root/var/cache/ku-vm-$d/partial" "$out/debs/$d"
	done
	chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get -q -y --no-install-recommends \
		-o Dir::Cache::Archives=/var/cache/ku-vm-kexec/ install --download-only kexec-tools >&2
	chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get -q -y --no-install-recommends \
		-o Dir::Cache::Archives=/var/cache/ku-vm-metrics/ install --download-only prometheus-node-exporter >&2
	for d in kexec metrics; do
		cp "$root/var/cache/ku-vm-$d/"*.deb "$out/debs/$d/"
		rm -rf "$root/var/cache/ku-vm-$d"
	done
}

# apt_env SUITE sets up the private apt configuration of the suite (APT_CONFIG) with the
# archive's addresses derived from the host's apt sources, and refreshes its lists when they
# are missing or old.
apt_env() {
	local suite=$1 codename main_uri=${KU_VM_MIRROR:-} security_uri=${KU_VM_SECURITY_MIRROR:-} uri rel
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	if [ -z "$main_uri" ] || [ -z "$security_uri" ]; then
		# The host's configuration, whatever its format (one-line or deb822).
		while IFS=$'\t' read -r uri rel; do
			case $rel in
			"$codename") [ -n "$main_uri" ] || main_uri=$uri ;;
			"$codename-security" | "$codename/updates") [ -n "$security_uri" ] || security_uri=$uri ;;
			esac
		done < <(env -u APT_CONFIG apt-get indextargets --no-release-info 'Identifier: Packages' \
			--format $'$(REPO_URI)\t$(RELEASE)')
	fi
	[ -n "$main_uri" ] || die "no entry for the host's release ${codename:-(unknown)} in its apt sources (set KU_VM_MIRROR)"
	[ -n "$security_uri" ] || die "no entry for ${codename:-(unknown)}-security in the host's apt sources (set KU_VM_SECURITY_MIRROR)"
	main_uri=${main_uri%/}
	security_uri=${security_uri%/}

	aptdir=$cache/apt/$tag
	mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial" "$aptdir/empty"
	# The sources the image's apt knows (no backports: a guest is a plain SUITE system) and
	# those the private apt knows (with backports).
	keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	guest_sources=(
		"deb [signed-by=$keyring] $main_uri $suite main"
		"deb [signed-by=$keyring] $main_uri $suite-updates main"
		"deb [signed-by=$keyring] $security_uri $suite-security main"
	)
	{
		printf '%s\n' "${guest_sources[@]}"
		echo "deb [signed-by=$keyring] $main_uri $suite-backports main"
	} >"$aptdir/sources.list.new"
	local changed=1
	if cmp -s "$aptdir/sources.list.new" "$aptdir/sources.list"; then
		changed=0
		rm "$aptdir/sources.list.new"
	else
		mv "$aptdir/sources.list.new" "$aptdir/sources.list"
	fi
	export APT_CONFIG=$aptdir/apt.conf
	cat >"$APT_CONFIG" <<-CONF
		Dir::Etc::Parts "$aptdir/empty";
		Dir::Etc::SourceList "$aptdir/sources.list";
		Dir::Etc::SourceParts "$aptdir/empty";
		Dir::Etc::Preferences "$aptdir/empty";
		Dir::Etc::PreferencesParts "$aptdir/empty";
		Dir::State "$aptdir";
		Dir::State::Lists "$aptdir/lists";
		Dir::Cache "$aptdir/cache";
		APT::Architecture "$arch";
		APT::Architectures { "$arch"; };
		APT::Install-Recommends "false";
		Acquire::GzipIndexes "false";
		Acquire::Languages "none";
		Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled "false";
		Acquire::IndexTargets::deb::DEP-11::DefaultEnabled "false";
		Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled "false";
		Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled "false";
	CONF
	local max_age=${KU_VM_LISTS_MAX_AGE:-720}
	if [ "$changed" = 1 ] || [ ! -f "$aptdir/lists.stamp" ] ||
		[ -n "$(find "$aptdir/lists.stamp" -mmin "+$max_age")" ]; then
		echo "build-image.sh: refreshing the $suite lists" >&2
		apt-get -q update >&2
		touch "$aptdir/lists.stamp"
	fi
}

# releases SUITE... prints the linux-image-<release>-cloud-<arch> releases the suites' lists
# name, in `linux-version sort` order.
releases() {
	local s f
	for s; do
		for f in "$aptdir/lists/"*_dists_"${s//\//_}"_main_binary-"$arch"_Packages; do
			[ -f "$f" ] || continue
			sed -n "s/^Package: linux-image-\\([0-9].*-cloud-$arch\\)\$/\\1/p" "$f"
		done
	done | sort -u | linux-version sort
}

# series_of RELEASE prints the kernel's upstream major.minor: 6.1 for 6.1.0-57-cloud-amd64,
# 6.12 for 6.12.118+deb13-cloud-amd64.
series_of() {
	printf '%s\n' "$1" | sed -n 's/^\([0-9]*\.[0-9]*\)[.+-].*/\1/p'
}

# candidate PKG prints the version apt would install ("" if none).
candidate() {
	apt-cache policy "$1" | awk '$1 == "Candidate:" && $2 != "(none)" {print $2}'
}

# build builds the image of SUITE and SOURCE if the cache lacks it and prints its directory.
build() {
	suite=${1:-bookworm}
	source=${2:-main}
	arch=${3:-amd64}
	boot=${4:-direct}
	case $suite in "" | *[!a-z]*) die "suite $suite: want a Debian code name such as bookworm or trixie" ;; esac
	case $source in main | backports) ;; *) die "source $source: want main or backports" ;; esac
	# tag names the suite's caches, locks and images: the suite, or SUITE-arm64.
	case $arch in
	amd64) tag=$suite ;;
	arm64) arm64_setup ;;
	*) die "architecture $arch: want amd64 or arm64" ;;
	esac
	case $boot in
	direct) ;;
	grub | uefi) fw_setup ;;
	*) die "boot $boot: want direct (QEMU's -kernel), grub (SeaBIOS) or uefi (OVMF, Secure Boot)" ;;
	esac
	cache=${KU_VM_CACHE:-/var/tmp/kexec-upgrade-vm}
	mkdir -p "$cache/images/base" "$cache/debs/$tag"
	exec 9>"$cache/build-$tag.lock"
	flock 9

	"$here/host-deps.sh"
	[ "$arch" != arm64 ] || arm64_binfmt
	apt_env "$suite"

	# The suite's own kernel series: the one its linux-image-cloud-amd64 meta package
	# depends on (a suite may carry another series beside it, as bookworm-security carries
	# 6.12 beside 6.1).
	local meta series
	meta=$(apt-cache show "linux-image-cloud-$arch=$(candidate "linux-image-cloud-$arch")" 2>/dev/null |
		sed -n "s/^Depends:.*linux-image-\\([0-9][^ ,]*-cloud-$arch\\).*/\\1/p" | head -n 1)
	series=$(series_of "$meta")
	[ -n "$series" ] || die "linux-image-cloud-$arch of $suite names no kernel release (${meta:-none})"
	mapfile -t main_rels < <(releases "$suite" "$suite-updates" "$suite-security" | while read -r r; do
		[ "$(series_of "$r")" != "$series" ] || echo "$r"
	done)
	[ ${#main_rels[@]} -ge 2 ] || die "need two $series linux-image-*-cloud-$arch releases in $suite(-updates,-security), found: ${main_rels[*]:-none}"
	old_rel=${main_rels[-2]}
	case $source in
	main) new_rel=${main_rels[-1]} target_release="" ;;
	backports)
		# The newer series Debian offers for the suite: SUITE-backports' kernels, and the
		# other series SUITE-security carries beside its own (bookworm-security ships the
		# 6.12+deb12 line whose builds overtook bookworm-backports' 6.12.95, a kernel
		# that oopses in ACPI init under QEMU even booted directly).
		mapfile -t bpo_rels < <({
			releases "$suite-backports"
			releases "$suite" "$suite-updates" "$suite-security" | while read -r r; do
				[ "$(series_of "$r")" = "$series" ] || echo "$r"
			done
		} | linux-version sort)
		[ ${#bpo_rels[@]} -ge 1 ] || die "no linux-image-*-cloud-$arch in $suite-backports"
		new_rel=${bpo_rels[-1]} target_release=$suite-backports
		;;
	esac
	[ "$(linux-version sort "$old_rel" "$new_rel" | tail -n 1)" = "$new_rel" ] && [ "$old_rel" != "$new_rel" ] ||
		die "the new kernel $new_rel does not sort after the old one $old_rel"
	old_pkg=linux-image-$old_rel
	new_pkg=linux-image-$new_rel
	old_ver=$(candidate "$old_pkg")
	new_ver=$(candidate "$new_pkg")
	kexec_ver=$(candidate kexec-tools)
	metrics_ver=$(candidate prometheus-node-exporter)
	[ -n "$old_ver" ] && [ -n "$new_ver" ] && [ -n "$kexec_ver" ] && [ -n "$metrics_ver" ] ||
		die "no candidate for $old_pkg ($old_ver), $new_pkg ($new_ver), kexec-tools ($kexec_ver) or prometheus-node-exporter ($metrics_ver)"

	base_key=$({
		# What makes the base, not how the kernels are picked.
		declare -f essential_hook customize_hook build_base
		[ "$arch" = amd64 ] || declare -f "${arch}_customize_hook"
		[ "$boot" = direct ] || { echo "$boot"; declare -f fw_packages fw_essential_hook fw_customize_hook fw_disk fw_install_boot; }
		echo "$suite $old_pkg=$old_ver kexec-tools=$kexec_ver prometheus-node-exporter=$metrics_ver"
		printf '%s\n' "${guest_sources[@]}"
	} | sha256sum | cut -c1-16)
	base=$cache/images/base/$tag-$base_key
	[ -f "$base/base.env" ] || build_base
	key=$({
		declare -f build_layer
		echo "$base_key $source $new_pkg=$new_ver"
	} | sha256sum | cut -c1-16)
	image=$cache/images/$tag-$source-$key
	[ -f "$image/manifest.env" ] || build_layer
	echo "$image"
}

# build_base builds the file system of the suite with the old kernel into $base.
build_base() {
	echo "build-image.sh: building $base ($suite, old kernel $old_pkg $old_ver)" >&2
	local start
	# tmp is global: the EXIT trap runs after this function has returned.
	tmp=$(mktemp -d "$cache/build.XXXXXX")
	# --one-file-system: should a failed build leave something mounted in the root, the
	# clean-up must not descend into it.
	trap 'rm -rf --one-file-system "$tmp"' EXIT
	# The hooks run this copy, which also records in the image what built it.
	cp "$self" "$tmp/build-image.sh"
	ssh-keygen -q -t ed25519 -N '' -C ku-vm -f "$tmp/id_ed25519"

	start=$SECONDS
	# Another architecture's root gets its own customize hook after the common one.
	local arch_hook=()
	[ "$arch" = amd64 ] || arch_hook=(--customize-hook="'$tmp/build-image.sh' --$arch-customize-hook \"\$1\"")
	# A GRUB guest gets its boot packages, grub-pc's debconf answers before it is installed,
	# and its own customize hook (UUIDs in fstab, GRUB's settings, the setup boot's script).
	local boot_hooks=() boot_pkgs=""
	if [ "$boot" != direct ]; then
		{
			echo "boot=$boot"
			fw_ids
		} >"$tmp/fw.env"
		boot_pkgs=,$(fw_packages)
		boot_hooks=(--essential-hook="'$tmp/build-image.sh' --fw-essential-hook \"\$1\""
			--customize-hook="'$tmp/build-image.sh' --fw-customize-hook \"\$1\" '$tmp'")
	fi
	# shellcheck disable=SC2016 # "$1" in the hooks is mmdebstrap's, expanded by the hook's shell.
	# The private apt configuration is the host's business, not the guest's.
	env -u APT_CONFIG mmdebstrap --mode=root --variant=minbase --arch="$arch" \
		--include="systemd,systemd-sysv,dbus,udev,kmod,initramfs-tools,openssh-server,busybox,iproute2,procps,tzdata,zstd,$old_pkg$boot_pkgs" \
		--aptopt='APT::Install-Recommends "false"' \
		--skip=essential/unlink --skip=download/empty \
		--setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
		--setup-hook="sync-in '$cache/debs/$tag' /var/cache/apt/archives/" \
		--essential-hook="'$tmp/build-image.sh' --essential-hook \"\$1\"" \
		--customize-hook="'$tmp/build-image.sh' --customize-hook \"\$1\" '$tmp'" \
		"${arch_hook[@]}" "${boot_hooks[@]}" \
		--customize-hook="sync-out /var/cache/apt/archives '$cache/debs/$tag'" \
		"$suite" "$tmp/root" "${guest_sources[@]}" >&2
	echo "build-image.sh: mmdebstrap took $((SECONDS - start)) s" >&2

	cp "$tmp/root/boot/vmlinuz-$old_rel" "$tmp/vmlinuz"
	cp "$tmp/root/boot/initrd.img-$old_rel" "$tmp/initrd"
	cp "$tmp/root/var/lib/dpkg/status" "$tmp/dpkg.status"
	# systemd moves a clock that is earlier than its build time (TIME_EPOCH) forward to it;
	# Debian clamps the files' times to that build time, so the binary's mtime tells it.
	local clock_epoch systemd_ver
	clock_epoch=$(stat -c %Y "$tmp/root/usr/lib/systemd/systemd")
	systemd_ver=$(dpkg-query --admindir="$tmp/root/var/lib/dpkg" -W -f '${Version}' systemd)
	mkdir -p "$tmp/debs/old"
	local old_deb="${old_pkg}_${old_ver//:/%3a}_$arch.deb"
	cp "$cache/debs/$tag/$old_deb" "$tmp/debs/old/"

	# The package cache keeps only what this image installed; it would grow with every update.
	declare -A installed=()
	local format deb f
	# shellcheck disable=SC2016 # a dpkg-query format, not shell
	format='${Package}_${Version}_${Architecture}.deb\n'
	while read -r deb; do
		installed[${deb/:/%3a}]=1
	done < <(dpkg-query --admindir="$tmp/root/var/lib/dpkg" -W -f "$format")
	for f in "$cache/debs/$tag/"*.deb; do
		[ -n "${installed[$(basename "$f")]:-}" ] || rm -f "$f"
	done

	if [ "$boot" != direct ]; then
		fw_disk
	else
		mke2fs -q -t ext4 -L ku-root -d "$tmp/root" -F "$tmp/base.raw" 3G >&2
	fi
	rm -rf --one-file-system "$tmp/root"
	[ "$boot" = direct ] || fw_install_boot

	local kexec_debs="" metrics_debs=""
	for f in "$tmp/debs/kexec/"*.deb; do
		kexec_debs+="$(basename "$f") "
	done
	for f in "$tmp/debs/metrics/"*.deb; do
		metrics_debs+="$(basename "$f") "
	done
	cat >"$tmp/base.env" <<-EOF
	SUITE=$suite
	ARCH=$arch
	SYSTEMD_VERSION=$systemd_ver
	OLD_PACKAGE=$old_pkg
	OLD_VERSION=$old_ver
	OLD_RELEASE=$old_rel
	OLD_DEB=debs/old/$old_deb
	KEXEC_DEBS="${kexec_debs% }"
	METRICS_DEBS="${metrics_debs% }"
	CLOCK_EPOCH=$clock_epoch
	BOOT=$boot
	EOF
	[ "$boot" = direct ] || grep -v '^boot=' "$tmp/fw.env" >>"$tmp/base.env"

	mv "$tmp" "$base"
	trap - EXIT
	# Older bases of this suite are of no further use (the images made from them hold hard
	# links to their files; a running VM keeps its open backing file).
	local old
	# (Exactly a key after the tag: trixie's must not take trixie-grub's or trixie-arm64's.)
	for old in "$cache/images/base/$tag"-????????????????; do
		[ "$old" = "$base" ] || rm -rf --one-file-system "$old"
	done
	echo "build-image.sh: base ready in $((SECONDS - start)) s" >&2
}

# build_layer makes the image of the suite and source from $base and the new kernel's
# packages.
build_layer() {
	echo "build-image.sh: building $image ($suite $source: $old_pkg $old_ver → $new_pkg $new_ver)" >&2
	local start=$SECONDS f name
	tmp=$(mktemp -d "$cache/build.XXXXXX")
	trap 'rm -rf --one-file-system "$tmp"' EXIT
	cp -al "$base/." "$tmp/"
	mkdir -p "$tmp/debs/new/partial"
	# What the image lacks for the new kernel, as the image's own apt would resolve it.
	apt-get -q -y -o Dir::State::status="$base/dpkg.status" -o Dir::Cache::Archives="$tmp/debs/new/" \
		-o APT::Sandbox::User=root \
		${target_release:+-t "$target_release"} install --download-only "$new_pkg=$new_ver" >&2
	rm -rf "$tmp/debs/new/partial" "$tmp/debs/new/lock"
	local new_deb="" new_debs=""
	for f in "$tmp/debs/new/"*.deb; do
		name=$(basename "$f")
		new_debs+="$name "
		case $name in "${new_pkg}_"*) new_deb=$name ;; esac
	done
	[ -n "$new_deb" ] || die "apt did not download $new_pkg=$new_ver"
	{
		cat "$base/base.env"
		cat <<-EOF
		SOURCE=$source
		NEW_PACKAGE=$new_pkg
		NEW_VERSION=$new_ver
		NEW_RELEASE=$new_rel
		NEW_DEB=debs/new/$new_deb
		NEW_DEBS="${new_debs% }"
		EOF
	} >"$tmp/manifest.env"
	mv "$tmp" "$image"
	trap - EXIT
	local old
	for old in "$cache/images/$tag-$source"-*; do
		[ "$old" = "$image" ] || rm -rf --one-file-system "$old"
	done
	# Images of the layout before the layers (a bare key) are of no further use.
	for old in "$cache/images/"*; do
		case $(basename "$old") in *[!0-9a-f]*) ;; *) rm -rf --one-file-system "$old" ;; esac
	done
	echo "build-image.sh: image ready in $((SECONDS - start)) s: $(echo "$new_debs" | wc -w) packages for the new kernel" >&2
}

# --- arm64 guests -------------------------------------------------------------------------
# An arm64 guest is built on the amd64 machine: mmdebstrap --arch=arm64 runs the guest's
# maintainer scripts under qemu-user-static through binfmt_misc, and QEMU's -M virt boots it
# (vm.go). Its caches and images are named SUITE-arm64 (tag); everything else is the amd64
# build with arm64 packages.

# arm64_setup sets the arm64 build's names.
arm64_setup() {
	tag=$suite-arm64
}

# arm64_binfmt makes sure the kernel runs arm64 programs through qemu-user-static (the
# package registers the format; a machine whose binfmt_misc is not mounted, or where the
# format was disabled, needs this).
arm64_binfmt() {
	if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
		mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc ||
			die "cannot mount binfmt_misc: arm64 programs cannot run on this machine"
	fi
	[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64 >&2 ||
		die "cannot register qemu-aarch64 with binfmt_misc"
	grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 || die "binfmt_misc's qemu-aarch64 is disabled"
}

# arm64_customize_hook runs after customize_hook in an arm64 root: QEMU's virt machine has
# a PL011 console, ttyAMA0, not ttyS0.
arm64_customize_hook() {
	local root=$1
	sed -i 's|/dev/ttyS0|/dev/ttyAMA0|' "$root/etc/systemd/system/ku-booted.service"
	chroot "$root" systemctl mask serial-getty@ttyAMA0.service
	rm -f "$root/etc/modprobe.d/ku-vm.conf"
}

# --- GRUB guests ------------------------------------------------------------------------------
# A GRUB guest boots like a cloud image, from a partitioned disk through firmware and GRUB, with
# root=UUID= and BOOT_IMAGE= on the command line and the installed packages' own kernel and
# initrd; Debian's own grub-install puts GRUB on the disk, inside the guest (fw_install_boot).
# Its caches and images are named SUITE-grub or SUITE-uefi (tag).
#   grub  SeaBIOS, grub-pc in the MBR; partition 1 /boot (ext4, 400 MiB, label ku-boot),
#         partition 2 / (ext4, 3 GiB)
#   uefi  OVMF with Secure Boot and Microsoft's keys enrolled (the host's ovmf package),
#         shim-signed and grub-efi-amd64-signed on the ESP (GPT partition 1, vfat, 100 MiB,
#         /boot/efi), Debian's signed kernels; partition 2 / (ext4, 3 GiB) holds /boot
# The file systems' identities are in base.env: ROOT_UUID, BOOT_UUID (grub), ESP_ID (uefi).

# fw_setup sets the GRUB build's names.
fw_setup() {
	[ "$arch" = amd64 ] || die "a $boot guest is amd64 only"
	tag=$tag-$boot
}

# fw_ids prints the file systems' identities as shell assignments.
fw_ids() {
	echo "ROOT_UUID=$(cat /proc/sys/kernel/random/uuid)"
	case $boot in
	grub) echo "BOOT_UUID=$(cat /proc/sys/kernel/random/uuid)" ;;
	uefi) echo "ESP_ID=$(od -An -N4 -tx4 /dev/urandom | tr -d ' ' | tr a-f A-F)" ;;
	esac
}

# fw_packages prints the packages the boot path adds to the image.
fw_packages() {
	case $boot in
	grub) echo grub-pc ;;
	# Not grub-efi-amd64: its postinst would run grub-install in the chroot.
	uefi) echo grub2-common,grub-efi-amd64-bin,grub-efi-amd64-signed,shim-signed,dosfstools ;;
	esac
}

# fw_essential_hook answers grub-pc's questions before it is installed: no install device
# yet (the guest runs grub-install itself, fw_install_boot).
fw_essential_hook() {
	local root=$1
	chroot "$root" debconf-set-selections <<-'SEL'
		grub-pc grub-pc/install_devices multiselect
		grub-pc grub-pc/install_devices_empty boolean true
	SEL
}

# fw_customize_hook runs after customize_hook in a GRUB guest's root: fstab by UUID, GRUB's
# settings, and the script that installs GRUB on the guest's one setup boot.
fw_customize_hook() {
	local root=$1 out=$2 boot ROOT_UUID BOOT_UUID ESP_ID install
	. "$out/fw.env"
	# passno 0 as in essential_hook: no fsck stopping on a scenario's clock. Under TCG on a
	# loaded machine udev took more than systemd's 90 s to announce /boot's partition,
	# and the boot ended in emergency mode: the devices get 10 minutes.
	local wait=x-systemd.device-timeout=10min
	{
		echo "UUID=$ROOT_UUID / ext4 rw,errors=remount-ro 0 0"
		case $boot in
		grub) echo "UUID=$BOOT_UUID /boot ext4 defaults,$wait 0 0" ;;
		uefi) echo "UUID=${ESP_ID:0:4}-${ESP_ID:4:4} /boot/efi vfat umask=0077,$wait 0 0" ;;
		esac
	} >"$root/etc/fstab"
	# GRUB on the serial console, one second to choose; the cloud kernel's console there too.
	mkdir -p "$root/etc/default/grub.d" "$root/boot/efi"
	cat >"$root/etc/default/grub.d/ku-vm.cfg" <<-'EOF'
		GRUB_DEFAULT=0
		GRUB_TIMEOUT=1
		GRUB_DISTRIBUTOR=Debian
		GRUB_CMDLINE_LINUX_DEFAULT=""
		GRUB_CMDLINE_LINUX="console=ttyS0,115200 net.ifnames=0"
		GRUB_TERMINAL=serial
		GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
		GRUB_DISABLE_OS_PROBER=true
	EOF
	case $boot in
	grub) install="mount /boot && grub-install --target=i386-pc /dev/vda" ;;
	# The removable path (EFI/BOOT/BOOTX64.EFI: shim) too: OVMF boots it without a
	# boot entry in its variables, which a fresh variable store lacks. The signed GRUB
	# reads its configuration from EFI/debian (its built-in prefix), whatever the path
	# it was started from.
	uefi) install="mkfs.vfat -i $ESP_ID /dev/vda1 && udevadm settle && mount /boot/efi &&
			grub-install --target=x86_64-efi --bootloader-id=debian --uefi-secure-boot --no-nvram --force-extra-removable &&
			test -f /boot/efi/EFI/BOOT/BOOTX64.EFI" ;;
	esac
	# PID 1 of the setup boot (fw_install_boot): Debian's grub-install and update-grub on
	# the real disk, with udev for /dev/disk/by-uuid (so GRUB writes root=UUID=), then
	# power off.
	cat >"$root/usr/local/sbin/ku-grub-setup" <<-EOF
		#!/bin/sh
		exec >/dev/ttyS0 2>&1
		mount -t proc proc /proc
		mount -t sysfs sys /sys
		mount -t devtmpfs dev /dev 2>/dev/null
		mount -t tmpfs tmpfs /run
		mount -o remount,rw /
		/usr/lib/systemd/systemd-udevd --daemon && udevadm trigger --action=add && udevadm settle --timeout=120
		ok=0
		if $install && update-grub && grep -q "root=UUID=" /boot/grub/grub.cfg; then
			ok=1
		fi
		rm -f /usr/local/sbin/ku-grub-setup
		udevadm control --exit
		sync
		umount /boot/efi /boot 2>/dev/null
		mount -o remount,ro /
		[ "\$ok" = 1 ] && echo KU-GRUB-READY || echo KU-GRUB-FAILED
		echo o >/proc/sysrq-trigger
		sleep 60
	EOF
	chmod 0755 "$root/usr/local/sbin/ku-grub-setup"
}

# fw_disk makes the partitioned base.raw from $tmp/root.
fw_disk() {
	local ROOT_UUID BOOT_UUID ESP_ID first=101
	. "$tmp/fw.env"
	if [ "$boot" = grub ]; then
		first=401
		mke2fs -q -t ext4 -L ku-boot -U "$BOOT_UUID" -d "$tmp/root/boot" -F "$tmp/boot.ext4" 400M >&2
		find "$tmp/root/boot" -mindepth 1 -delete
	fi
	mke2fs -q -t ext4 -L ku-root -U "$ROOT_UUID" -d "$tmp/root" -F "$tmp/root.ext4" 3G >&2
	truncate -s $((first + 3072 + 1))M "$tmp/base.raw"
	case $boot in
	grub) sfdisk -q "$tmp/base.raw" >&2 <<-'EOF' ;;
		label: dos
		start=1MiB, size=400MiB, type=83, bootable
		start=401MiB, size=3GiB, type=83
	EOF
	uefi) sfdisk -q "$tmp/base.raw" >&2 <<-'EOF' ;;
		label: gpt
		start=1MiB, size=100MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=esp
		start=101MiB, size=3GiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=root
	EOF
	esac
	[ "$boot" != grub ] || dd if="$tmp/boot.ext4" of="$tmp/base.raw" bs=1M seek=1 conv=notrunc,sparse status=none
	dd if="$tmp/root.ext4" of="$tmp/base.raw" bs=1M seek="$first" conv=notrunc,sparse status=none
	rm -f "$tmp/boot.ext4" "$tmp/root.ext4"
}

# fw_install_boot boots the disk once by QEMU's -kernel with ku-grub-setup as PID 1, which
# installs GRUB on the disk and writes grub.cfg; from then on the disk boots through its
# firmware.
fw_install_boot() {
	local ROOT_UUID BOOT_UUID ESP_ID start=$SECONDS
	. "$tmp/fw.env"
	timeout 1200 qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m 1024 -nodefaults -no-user-config \
		-nographic -no-reboot -serial "file:$tmp/grub-setup.log" -monitor none \
		-kernel "$tmp/vmlinuz" -initrd "$tmp/initrd" \
		-append "root=UUID=$ROOT_UUID rw console=ttyS0,115200 init=/usr/local/sbin/ku-grub-setup" \
		-drive "file=$tmp/base.raw,if=virtio,format=raw" >&2 || true
	grep -q KU-GRUB-READY "$tmp/grub-setup.log" || {
		tail -n 40 "$tmp/grub-setup.log" >&2
		die "installing GRUB in the guest failed (console above)"
	}
	echo "build-image.sh: GRUB installed in the guest in $((SECONDS - start)) s" >&2
}

# Everything runs from functions, which bash reads whole before running them, so that an
# edit of this file while a build runs cannot change what the build executes.
case "${1:-}" in
--essential-hook) essential_hook "$2" ;;
--customize-hook) customize_hook "$2" "$3" ;;
--arm64-customize-hook) arm64_customize_hook "$2" ;;
--fw-essential-hook) fw_essential_hook "$2" ;;
--fw-customize-hook) fw_customize_hook "$2" "$3" ;;
--*) die "usage: build-image.sh [SUITE [main|backports [amd64|arm64 [direct|grub|uefi]]]]" ;;
*) build "$@" ;;
esac
exit
