#!/usr/bin/env bash
# build-image.sh builds, or finds in the cache, the Debian bookworm guest image of the VM
# end-to-end tests, and prints the image directory as its last line on stdout.
#
# The image holds the OLDER of the two newest linux-image-6.1.0-N-cloud-amd64 builds in the
# archive; the NEWER one and kexec-tools (with the dependencies the guest lacks) are kept as
# .deb files beside it, for scenarios that install them into a running guest.
#
# Cache: $KU_VM_CACHE (default /var/tmp/kexec-upgrade-vm)/images/<key>/, where <key> hashes
# this script and the chosen package versions: a changed script or a new kernel in the
# archive builds a new image. Builds run in a temporary directory under the cache, are
# renamed into place when complete, and are serialised by a lock on $KU_VM_CACHE/build.lock.
# The apt sources come from the host's own apt configuration (KU_VM_SOURCES may name one
# sources file to use instead).
#
# Layout of an image directory:
#   base.raw          ext4 file system of the guest (the whole disk /dev/vda, no partitions)
#   vmlinuz, initrd   the old kernel and its initramfs, for QEMU's direct kernel boot
#   id_ed25519        the key that logs in as root
#   debs/old/*.deb    the old kernel's package
#   debs/new/*.deb    the new kernel's package
#   debs/kexec/*.deb  kexec-tools and the packages it needs that the image lacks
#   debs/metrics/*.deb prometheus-node-exporter and the packages it needs that the image lacks
#   manifest.env      releases, versions, file names and the guest's clock epoch (the
#                     earliest time systemd lets the clock have), as shell assignments
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
	# No fsck of the root file system: passno 0. A scenario's guest clock may lie before
	# the time the image was made, and e2fsck would stop to fix the superblock times.
	printf '%s\n' '/dev/vda / ext4 rw,errors=remount-ro 0 0' >"$root/etc/fstab"
}

# customize_hook runs inside mmdebstrap after all packages are installed.
customize_hook() {
	local root=$1 out=$2 new_pkg=$3
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
	for d in new kexec metrics; do
		rm -rf "$root/var/cache/ku-vm-$d"
		mkdir -p "$root/var/cache/ku-vm-$d/partial" "$out/debs/$d"
	done
	chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get -q -y --no-install-recommends \
		-o Dir::Cache::Archives=/var/cache/ku-vm-new/ install --download-only "$new_pkg" >&2
	chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get -q -y --no-install-recommends \
		-o Dir::Cache::Archives=/var/cache/ku-vm-kexec/ install --download-only kexec-tools >&2
	chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get -q -y --no-install-recommends \
		-o Dir::Cache::Archives=/var/cache/ku-vm-metrics/ install --download-only prometheus-node-exporter >&2
	for d in new kexec metrics; do
		cp "$root/var/cache/ku-vm-$d/"*.deb "$out/debs/$d/"
		rm -rf "$root/var/cache/ku-vm-$d"
	done
}

# build builds the image if the cache lacks it and prints its directory.
build() {
	cache=${KU_VM_CACHE:-/var/tmp/kexec-upgrade-vm}
	mkdir -p "$cache/images" "$cache/debs"
	exec 9>"$cache/build.lock"
	flock 9

	"$here/host-deps.sh"

	# apt sources: the host's own configuration, only the entries of this Debian release signed
	# by the Debian archive keyring (third-party repositories need keys the guest lacks).
	sources=()
	if [ -n "${KU_VM_SOURCES:-}" ]; then
		sources=("$KU_VM_SOURCES")
	else
		for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
			[ -f "$f" ] || continue
			grep -Eq '^[^#]*bookworm' "$f" || continue
			if grep -Eqi '^[^#]*signed-by' "$f" && ! grep -Eqi '^[^#]*signed-by.*debian-archive-keyring' "$f"; then
				continue
			fi
			sources+=("$f")
		done
	fi
	[ ${#sources[@]} -gt 0 ] || die "no bookworm apt sources found in /etc/apt (set KU_VM_SOURCES)"

	kernel_packages() {
		apt-cache search --names-only '^linux-image-6.1.0-[0-9]+-cloud-amd64$' | awk '{print $1}' | sort -V | tail -n 2
	}
	candidate() {
		apt-cache policy "$1" | awk '$1 == "Candidate:" {print $2}'
	}
	mapfile -t kernels < <(kernel_packages)
	if [ ${#kernels[@]} -lt 2 ] || [ -z "$(candidate kexec-tools)" ]; then
		apt-get update -qq >&2
		mapfile -t kernels < <(kernel_packages)
	fi
	[ ${#kernels[@]} -eq 2 ] || die "need two linux-image-6.1.0-*-cloud-amd64 packages in the archive, found: ${kernels[*]:-none}"
	old_pkg=${kernels[0]}
	new_pkg=${kernels[1]}
	old_ver=$(candidate "$old_pkg")
	new_ver=$(candidate "$new_pkg")
	kexec_ver=$(candidate kexec-tools)

	key=$({
		cat "$self"
		echo "$old_pkg=$old_ver"
		echo "$new_pkg=$new_ver"
		echo "kexec-tools=$kexec_ver"
	} | sha256sum | cut -c1-16)
	image="$cache/images/$key"
	if [ -f "$image/manifest.env" ]; then
		echo "$image"
		exit 0
	fi

	echo "build-image.sh: building $image (old $old_pkg $old_ver, new $new_pkg $new_ver)" >&2
	tmp=$(mktemp -d "$cache/build.XXXXXX")
	# --one-file-system: should a failed build leave something mounted in the root, the
	# clean-up must not descend into it.
	trap 'rm -rf --one-file-system "$tmp"' EXIT
	# The hooks run this copy, which also records in the image what built it.
	cp "$self" "$tmp/build-image.sh"
	ssh-keygen -q -t ed25519 -N '' -C ku-vm -f "$tmp/id_ed25519"

	start=$SECONDS
	# shellcheck disable=SC2016 # "$1" in the hooks is mmdebstrap's, expanded by the hook's shell.
	mmdebstrap --mode=root --variant=minbase \
		--include="systemd,systemd-sysv,dbus,udev,kmod,initramfs-tools,openssh-server,busybox,iproute2,procps,tzdata,zstd,$old_pkg" \
		--aptopt='APT::Install-Recommends "false"' \
		--dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/info/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--dpkgopt='path-exclude=/usr/share/lintian/*' \
		--skip=essential/unlink --skip=download/empty \
		--setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
		--setup-hook="sync-in '$cache/debs' /var/cache/apt/archives/" \
		--essential-hook="'$tmp/build-image.sh' --essential-hook \"\$1\"" \
		--customize-hook="'$tmp/build-image.sh' --customize-hook \"\$1\" '$tmp' '$new_pkg'" \
		--customize-hook="sync-out /var/cache/apt/archives '$cache/debs'" \
		bookworm "$tmp/root" "${sources[@]}" >&2
	echo "build-image.sh: mmdebstrap took $((SECONDS - start)) s" >&2

	old_rel=${old_pkg#linux-image-}
	new_rel=${new_pkg#linux-image-}
	cp "$tmp/root/boot/vmlinuz-$old_rel" "$tmp/vmlinuz"
	cp "$tmp/root/boot/initrd.img-$old_rel" "$tmp/initrd"
	# systemd moves a clock that is earlier than its build time (TIME_EPOCH) forward to it;
	# Debian clamps the files' times to that build time, so the binary's mtime tells it.
	clock_epoch=$(stat -c %Y "$tmp/root/usr/lib/systemd/systemd")
	mkdir -p "$tmp/debs/old"
	old_deb="${old_pkg}_${old_ver//:/%3a}_amd64.deb"
	cp "$cache/debs/$old_deb" "$tmp/debs/old/"

	# The package cache keeps only what this image installed; it would grow with every update.
	declare -A installed=()
	# shellcheck disable=SC2016 # a dpkg-query format, not shell
	format='${Package}_${Version}_${Architecture}.deb\n'
	while read -r deb; do
		installed[${deb/:/%3a}]=1
	done < <(dpkg-query --admindir="$tmp/root/var/lib/dpkg" -W -f "$format")
	for f in "$cache/debs/"*.deb; do
		[ -n "${installed[$(basename "$f")]:-}" ] || rm -f "$f"
	done

	mke2fs -q -t ext4 -L ku-root -d "$tmp/root" -F "$tmp/base.raw" 3G >&2
	rm -rf --one-file-system "$tmp/root"

	new_debs=("$tmp/debs/new/${new_pkg}"_*.deb)
	new_deb=$(basename "${new_debs[0]}")
	kexec_debs=""
	for f in "$tmp/debs/kexec/"*.deb; do
		kexec_debs+="$(basename "$f") "
	done
	metrics_debs=""
	for f in "$tmp/debs/metrics/"*.deb; do
		metrics_debs+="$(basename "$f") "
	done
	cat >"$tmp/manifest.env" <<-EOF
	OLD_PACKAGE=$old_pkg
	OLD_VERSION=$old_ver
	OLD_RELEASE=$old_rel
	OLD_DEB=debs/old/$old_deb
	NEW_PACKAGE=$new_pkg
	NEW_VERSION=$new_ver
	NEW_RELEASE=$new_rel
	NEW_DEB=debs/new/$new_deb
	KEXEC_DEBS="${kexec_debs% }"
	METRICS_DEBS="${metrics_debs% }"
	CLOCK_EPOCH=$clock_epoch
	EOF

	mv "$tmp" "$image"
	trap - EXIT
	# Older images are of no further use; a running VM keeps its open backing file.
	for old in "$cache/images"/*; do
		[ "$old" = "$image" ] || rm -rf --one-file-system "$old"
	done
	echo "build-image.sh: image ready in $((SECONDS - start)) s" >&2
	echo "$image"
}

# Everything runs from functions, which bash reads whole before running them, so that an
# edit of this file while a build runs cannot change what the build executes.
case "${1:-}" in
--essential-hook) essential_hook "$2" ;;
--customize-hook) customize_hook "$2" "$3" "$4" ;;
"") build ;;
*) die "usage: build-image.sh (no arguments)" ;;
esac
exit
