// Command kexec-upgrade switches a Debian/Ubuntu VM to a newly installed
// kernel with kexec inside a maintenance window. See kexec-upgrade(8).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/kexec-upgrade/kexec-upgrade/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
