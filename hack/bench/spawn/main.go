// Command spawn runs one command and writes its wall time and the kernel's accounting of it
// (getrusage through wait4) as JSON to a file: spawn RESULT_FILE COMMAND [ARG...].
//
// It exists because a child's peak RSS is not its own alone: at exec, Linux records the
// parent's peak RSS as the child's (exec_mmap's setmax_mm_hiwater_rss, with os/exec's
// vfork sharing the parent's memory), so every command the benchmark started itself would
// report at least the benchmark's own peak. This program stays a few MB, below any command
// measured, so the figure it reports is the command's.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Result is what the benchmark reads back.
type Result struct {
	WallNanos int64 `json:"wallNanos"`
	UserNanos int64 `json:"userNanos"`
	SysNanos  int64 `json:"sysNanos"`
	MaxRSSKiB int64 `json:"maxRSSKiB"`
	ExitCode  int   `json:"exitCode"`
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: spawn RESULT_FILE COMMAND [ARG...]")
		os.Exit(2)
	}
	code, err := run(os.Args[1], os.Args[2:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "spawn:", err)
		os.Exit(125)
	}
	os.Exit(code)
}

func run(resultFile string, argv []string) (int, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return 0, fmt.Errorf("running %s: %w", argv[0], err)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, errors.New("no rusage: Linux only")
	}
	res := Result{
		WallNanos: wall.Nanoseconds(),
		UserNanos: ru.Utime.Nano(),
		SysNanos:  ru.Stime.Nano(),
		MaxRSSKiB: ru.Maxrss, // KiB on Linux
		ExitCode:  cmd.ProcessState.ExitCode(),
	}
	data, err := json.Marshal(res)
	if err != nil {
		return 0, err
	}
	if err := os.WriteFile(resultFile, data, 0o644); err != nil {
		return 0, fmt.Errorf("writing %s: %w", resultFile, err)
	}
	return res.ExitCode, nil
}
