package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"time"
)

// clusterTimeout bounds each of initdb, start and stop.
const clusterTimeout = 60 * time.Second

// cluster is a throwaway Postgres server in a temporary directory.
type cluster struct {
	dir  string // holds data/, the log and the socket
	bin  string // the directory of initdb and pg_ctl
	asPG bool   // run the binaries as the postgres user: we are root
	url  string
}

// startCluster creates and starts a cluster. On failure it leaves nothing behind.
func startCluster() (*cluster, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	c := &cluster{dir: dir, bin: bin, asPG: os.Geteuid() == 0}
	if err := c.start(); err != nil {
		_ = c.stop()
		return nil, err
	}
	return c, nil
}

func (c *cluster) start() error {
	if c.asPG {
		// initdb refuses root; the postgres user must own the directory it writes to.
		if err := chownToPostgres(c.dir); err != nil {
			return err
		}
	}
	data := filepath.Join(c.dir, "data")
	// --no-sync: a cluster that lives as long as a test binary never needs to survive a crash.
	if err := c.run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
		"--locale=C.UTF-8", "--no-sync"); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", port, c.dir)
	if err := c.run("pg_ctl", "-D", data, "-l", filepath.Join(c.dir, "log"), "-o", opts,
		"-w", "-t", strconv.Itoa(int(clusterTimeout.Seconds())), "start"); err != nil {
		return err
	}
	c.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	return nil
}

// stop stops the server, if it runs, and removes the directory.
func (c *cluster) stop() error {
	var errs []error
	data := filepath.Join(c.dir, "data")
	if _, err := os.Stat(filepath.Join(data, "postmaster.pid")); err == nil {
		// immediate: the data is thrown away next, there is nothing to shut down cleanly for.
		errs = append(errs, c.run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"))
	}
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", c.dir, err))
	}
	return errors.Join(errs...)
}

// run runs one of the cluster's binaries, as the postgres user when we are root.
func (c *cluster) run(name string, args ...string) error {
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

// freePort returns a TCP port of 127.0.0.1 that nothing listens on. Another process could take
// it before the server does; the start then fails with the reason in the error.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
