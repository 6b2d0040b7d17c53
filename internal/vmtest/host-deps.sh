#!/usr/bin/env bash
# host-deps.sh installs what the VM end-to-end tests need on a Debian bookworm or trixie host:
# QEMU (TCG is enough, KVM is used by nobody here), qemu-img, mmdebstrap, mke2fs, sfdisk, OVMF, ssh, and
# linux-base (linux-version, which orders kernel releases as Debian does), and for the arm64
# guest qemu-system-arm, qemu-user-static, binfmt-support and arch-test (mmdebstrap wants it
# for a foreign architecture).
# It runs `apt-get update` only when a package is missing, so a prepared machine pays nothing.
set -euo pipefail

pkgs=(qemu-system-x86 qemu-utils mmdebstrap e2fsprogs openssh-client linux-base
	# The GRUB guests: a partitioned disk (sfdisk), OVMF's Secure Boot firmware.
	fdisk ovmf
	# The arm64 guest: its emulator, and qemu-user-static with binfmt-support to build its root.
	qemu-system-arm qemu-user-static binfmt-support arch-test)

missing=()
for p in "${pkgs[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	case "$status" in
	ii*) ;;
	*) missing+=("$p") ;;
	esac
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "host-deps.sh: missing packages ${missing[*]}; run this script as root to install them" >&2
	exit 1
fi

echo "host-deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
