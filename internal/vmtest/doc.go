//go:build vm

// Package vmtest is the end-to-end suite of kexec-upgrade: it boots Debian guests
// under QEMU (TCG, no KVM needed) and drives them over ssh and the serial console.
// The guests form a matrix (see [Guest]): bookworm (6.1) with a newer 6.1 build or
// bookworm-backports' 6.12, and trixie (6.12) with a newer 6.12 or trixie-backports' 7.x;
// build-image.sh picks every kernel at run time.
// Its effects are on the host: it runs build-image.sh (which may install host packages and
// builds a cached guest image), starts and kills QEMU processes, and writes logs.
//
// Every file carries the build tag vm, so `go test ./...` skips the suite; run it with
//
//	go test -tags vm ./internal/vmtest/ -v -timeout 75m
//
// Environment: KU_VM_CACHE (image cache, default /var/tmp/kexec-upgrade-vm), KU_VM_LOGS
// (log root, default logs/ beside this file), KU_VM_MAX (VMs at once across all test
// processes, default 2).
//
// A guest boots its kernel by QEMU's direct kernel boot, so a firmware restart
// ([VM.PowerCycle]) always comes back on the image's old kernel, while a kexec reaches
// whatever kernel was loaded. The guest prints "KU-BOOTED <release> <boot_id>" on its
// serial console when multi-user.target is reached; the harness waits on that line.
package vmtest
