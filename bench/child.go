package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// measurement is what one child process cost.
type measurement struct {
	wall time.Duration // from start to exit, process start-up included
	cpu  time.Duration // user + system
	// machine is the CPU time the whole machine spent meanwhile, on every core: the child, the
	// simulator, PostgreSQL and anything else. On a machine they share, a run can go no faster
	// than the cores divided by its machine time per user.
	machine time.Duration
	peakKiB int64 // peak resident memory: see peakOf
	stdout  string
}

// stderrKept is how much of a child's stderr a failure quotes: its end, where the reason is.
const stderrKept = 4 << 10

// measure runs bin with args to its end, bounded by -timeout, and measures it. A child that
// does not exit 0 is an error quoting the end of its stderr. env, when not nil, is added to
// this process's environment.
func (b *bench) measure(ctx context.Context, bin string, args, env []string) (*measurement, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var stdout bytes.Buffer
	stderr := &tail{max: stderrKept}
	cmd.Stdout, cmd.Stderr = &stdout, stderr

	busy0 := machineBusy()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// Read after Start: the child exec'd by then, so this bounds what it inherited (peakOf).
	parentKiB := hwm("/proc/self/status")
	stop := make(chan struct{})
	polled := watchHWM(cmd.Process.Pid, stop)
	err := cmd.Wait()
	wall := time.Since(start)
	busy := machineBusy() - busy0
	close(stop)
	polledKiB := <-polled

	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", err, context.Cause(ctx))
		}
		return nil, fmt.Errorf("%s %s: %w: %s", shortName(bin), args[0], err, msg)
	}
	ps := cmd.ProcessState
	ru, _ := ps.SysUsage().(*syscall.Rusage)
	return &measurement{
		wall:    wall,
		cpu:     ps.UserTime() + ps.SystemTime(),
		machine: busy,
		peakKiB: peakOf(ru, parentKiB, polledKiB),
		stdout:  stdout.String(),
	}, nil
}

// peakOf decides a child's peak resident memory.
//
// The kernel's figure (rusage's ru_maxrss) cannot be taken as it is: Go starts a child with
// vfork, sharing this process's memory until exec, and at exec the kernel folds the high-water
// mark of that memory into the child's ru_maxrss. It is thus at least this process's own peak
// at the time, and this process holds the simulator and its users (a million users run to
// gigabytes). So ru_maxrss is exact only when it exceeds this process's peak as read right after
// the exec (parentKiB): the excess can only be the child's own memory. Otherwise the child's
// own high-water mark (VmHWM), sampled while it ran, is used; being a high-water mark it misses
// only growth in the last sampling interval before the exit.
func peakOf(ru *syscall.Rusage, parentKiB, polledKiB int64) int64 {
	if ru != nil && ru.Maxrss > parentKiB {
		return max(ru.Maxrss, polledKiB)
	}
	return polledKiB
}

// hwmInterval is how often watchHWM samples.
const hwmInterval = 10 * time.Millisecond

// watchHWM samples the VmHWM of process pid until stop is closed or the process is gone, and
// sends the highest value read, in KiB.
func watchHWM(pid int, stop <-chan struct{}) <-chan int64 {
	out := make(chan int64, 1)
	path := "/proc/" + strconv.Itoa(pid) + "/status"
	go func() {
		var peak int64
		defer func() { out <- peak }()
		t := time.NewTicker(hwmInterval)
		defer t.Stop()
		for {
			kib := hwm(path)
			if kib < 0 {
				return // exited: a zombie has no memory left to report
			}
			peak = max(peak, kib)
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// hwm reads the VmHWM line of a /proc/…/status file, in KiB; -1 when there is none.
func hwm(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	_, rest, ok := bytes.Cut(b, []byte("\nVmHWM:"))
	if !ok {
		return -1
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(string(line)), " kB"), 10, 64)
	if err != nil {
		return -1
	}
	return kib
}

// userHZ is the unit of /proc/stat's times: USER_HZ, 100 on every Linux architecture Go runs on.
const userHZ = 100

// machineBusy is the CPU time every core of the machine has spent since it booted, out of idle
// and I/O wait (user, nice, system, irq, softirq and steal of /proc/stat's first line); 0 where
// there is no /proc/stat.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} { // 4 is idle, 5 iowait
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ
}

// tail keeps the last max bytes written to it.
type tail struct {
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string { return string(t.buf) }

func shortName(bin string) string {
	if i := strings.LastIndexByte(bin, '/'); i >= 0 {
		return bin[i+1:]
	}
	return bin
}
