package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// clusterTimeout bounds each of initdb, start and stop.
const clusterTimeout = 60 * time.Second

// Cluster is a PostgreSQL server of the test's own, in a temporary directory, on a fixed port
// for its life. Unlike the server of Schema and DB, which other tests share, it can be stopped
// and started again: it is how a test sees what its code does when Postgres goes away and comes
// back.
//
// It listens on 127.0.0.1 only, with trust authentication, as the user postgres. Its settings
// favour speed (fsync off: only an operating-system crash would lose data) except that commits
// are synchronous, so that what a client saw committed survives Stop as it would survive the
// crash of a real server.
type Cluster struct {
	dir  string // holds data/, the log and the socket
	bin  string // the directory of initdb and pg_ctl
	asPG bool   // run the binaries as the postgres user: we are root
	port int
	url  string

	// reservation keeps the port ours while the server is stopped: see reservePort.
	reservation net.PacketConn

	mu sync.Mutex // serialises Start, Stop and remove
	up bool
}

// NewCluster creates and starts a cluster for tb, and stops and removes it, directory included,
// when tb ends. It takes a second or two: initdb runs for each cluster. When PostgreSQL's
// binaries are missing or cannot run, tb is skipped with the reason, or fails when the
// environment variable CI is "true".
//
// It needs no TestMain: tb's cleanup, not Main, removes it.
func NewCluster(tb testing.TB) *Cluster {
	tb.Helper()
	c, err := newCluster()
	if err != nil {
		unavailable(tb, fmt.Sprintf("throwaway cluster: %v", err), false)
	}
	tb.Cleanup(func() {
		if err := c.remove(); err != nil {
			tb.Errorf("pgtest: %v", err)
		}
	})
	return c
}

// URL returns the URL of the cluster's postgres database as the postgres user. It stays the
// same across Stop and Start.
func (c *Cluster) URL() string { return c.url }

// Stop stops the server as a crash would: pg_ctl's immediate mode, so no shutdown checkpoint,
// and open connections are cut. Connections fail until Start; the next Start recovers from the
// write-ahead log, and no committed transaction is lost. Stopping a stopped cluster does
// nothing. Like tb.Fatal, call it from the test's goroutine.
func (c *Cluster) Stop(tb testing.TB) {
	tb.Helper()
	if err := c.stop(); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
}

// Start starts the server again, on the same port and data directory, and returns once it
// accepts connections. Starting a running cluster does nothing. Like tb.Fatal, call it from the
// test's goroutine.
func (c *Cluster) Start(tb testing.TB) {
	tb.Helper()
	if err := c.start(); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
}

// newCluster creates and starts a cluster. On failure it leaves nothing behind.
func newCluster() (*Cluster, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	c := &Cluster{dir: dir, bin: bin, asPG: os.Geteuid() == 0}
	if err := c.create(); err != nil {
		return nil, errors.Join(err, c.remove())
	}
	return c, nil
}

// create reserves the port and initdb's and starts the cluster.
func (c *Cluster) create() error {
	if c.asPG {
		// initdb refuses root; the postgres user must own the directory it writes to.
		if err := chownToPostgres(c.dir); err != nil {
			return err
		}
	}
	port, reservation, err := reservePort()
	if err != nil {
		return err
	}
	c.port, c.reservation = port, reservation
	c.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	// --no-sync: a cluster that lives as long as a test never needs to survive an OS crash.
	if err := c.run("initdb", "-D", c.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8",
		"--locale=C.UTF-8", "--no-sync"); err != nil {
		return err
	}
	return c.start()
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

// start starts the server unless it runs.
func (c *Cluster) start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.up {
		return nil
	}
	// synchronous_commit stays on: with fsync off it costs a write(2), not a disk flush, and
	// without it an immediate stop would lose commits the client saw acknowledged.
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200",
		c.port, c.dir)
	// -w waits until the server reports itself ready for connections, crash recovery done.
	err := c.run("pg_ctl", "-D", c.data(), "-l", c.log(), "-o", opts,
		"-w", "-t", strconv.Itoa(int(clusterTimeout.Seconds())), "start")
	if err != nil {
		// pg_ctl says only "see the log"; the reason, such as a port taken, is at its end.
		return fmt.Errorf("%w; server log: %s", err, c.logTail())
	}
	c.up = true
	return nil
}

// stop stops the server if it runs.
func (c *Cluster) stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	// The pid file, not c.up: a start that timed out may have left a server running.
	if _, err := os.Stat(filepath.Join(c.data(), "postmaster.pid")); err != nil {
		c.up = false
		return nil
	}
	if err := c.run("pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "stop"); err != nil {
		return err
	}
	c.up = false
	return nil
}

// remove stops the server, if it runs, and removes the directory and the port's reservation.
func (c *Cluster) remove() error {
	errs := []error{c.stop()}
	if c.reservation != nil {
		errs = append(errs, c.reservation.Close())
	}
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", c.dir, err))
	}
	return errors.Join(errs...)
}

func (c *Cluster) log() string { return filepath.Join(c.dir, "log") }

// logTail returns the end of the server's log, where a failed start says why.
func (c *Cluster) logTail() string {
	text, err := os.ReadFile(c.log())
	if err != nil {
		return err.Error()
	}
	const keep = 1000
	if len(text) > keep {
		text = text[len(text)-keep:]
	}
	return strings.ReplaceAll(string(bytes.TrimSpace(text)), "\n", "; ")
}

// run runs one of the cluster's binaries, as the postgres user when we are root.
func (c *Cluster) run(name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	path := filepath.Join(c.bin, name)
	var cmd *exec.Cmd
	if c.asPG {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	// pg_ctl start leaves the server running in the background holding the command's stdout: a
	// pipe would keep cmd.Run waiting for the server to end. A file does not.
	out, err := os.CreateTemp("", "pgtest-"+name+"-*.out")
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		text, _ := os.ReadFile(out.Name())
		return fmt.Errorf("%s: %w: %s", name, err, bytes.TrimSpace(text))
	}
	return nil
}

// findBin returns the bin directory of the newest Postgres installed under /usr/lib/postgresql.
func findBin() (string, error) {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(found) == 0 {
		if path, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(path), nil
		}
		return "", errors.New("no initdb under /usr/lib/postgresql/*/bin or on PATH")
	}
	version := func(path string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
		return v
	}
	sort.Slice(found, func(i, j int) bool { return version(found[i]) > version(found[j]) })
	return filepath.Dir(found[0]), nil
}

func chownToPostgres(dir string) error {
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("running as root, and initdb refuses root: %w", err)
	}
	if _, err := exec.LookPath("runuser"); err != nil {
		return fmt.Errorf("running as root, and initdb refuses root: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return fmt.Errorf("give %s to postgres: %w", dir, err)
	}
	return nil
}

// reservePort picks a TCP port of 127.0.0.1 for a cluster and keeps it from other clusters for
// as long as the returned socket is open, across the cluster's stops.
//
// Nothing can hold a TCP port the server must bind itself, so the port is kept two ways. It
// lies outside the kernel's ephemeral range, which the outgoing connections of every test and
// the listeners on port 0 (httptest) draw from. And the returned socket holds the same number
// in UDP, which the server does not use: every cluster, in this process or another, takes only
// a port whose UDP twin it can bind, so no two clusters pick the same port. A program outside
// pgtest that binds a fixed port could still take it; Start then fails and says so.
func reservePort() (int, net.PacketConn, error) {
	lo, hi := portRange()
	var lastErr error
	for range 100 {
		port := lo + rand.IntN(hi-lo+1)
		udp, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			lastErr = err
			continue
		}
		tcp, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			udp.Close()
			lastErr = err
			continue
		}
		tcp.Close()
		return port, udp, nil
	}
	return 0, nil, fmt.Errorf("find a free port in %d-%d: %w", lo, hi, lastErr)
}

// portRange returns the ports reservePort picks from: above the well-known services, below the
// ephemeral range or, when that leaves too few, above it.
func portRange() (lo, hi int) {
	const floor, enough = 10000, 1000
	// Linux's default; other systems start theirs higher, which leaves this range free as well.
	ephLo, ephHi := 32768, 60999
	if text, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(text)); len(f) == 2 {
			a, errA := strconv.Atoi(f[0])
			b, errB := strconv.Atoi(f[1])
			if errA == nil && errB == nil {
				ephLo, ephHi = a, b
			}
		}
	}
	switch {
	case ephLo-floor >= enough:
		return floor, ephLo - 1
	case 65535-ephHi >= enough:
		return ephHi + 1, 65535
	default:
		// The ephemeral range covers nearly everything: a port in it is the best there is.
		return floor, 65535
	}
}
