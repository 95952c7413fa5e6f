// Command gensample writes a sample CRM export and the DRUID users it updates, for the demo.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"druid-migrate/internal/sample"
)

func main() {
	n := flag.Int("n", 2000, "users")
	dir := flag.String("dir", "demo", "output directory")
	invalid := flag.Bool("invalid", true, "add records the tool must refuse")
	rejected := flag.Bool("rejected", true, "add users DRUID refuses")
	flag.Parse()
	if err := run(*n, *dir, *invalid, *rejected); err != nil {
		fmt.Fprintln(os.Stderr, "gensample:", err)
		os.Exit(1)
	}
}

func run(n int, dir string, invalid, rejected bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	csvFile, err := os.Create(filepath.Join(dir, "users.csv"))
	if err != nil {
		return err
	}
	defer csvFile.Close()
	usersFile, err := os.Create(filepath.Join(dir, "druid-users.jsonl"))
	if err != nil {
		return err
	}
	defer usersFile.Close()
	tr, err := sample.Write(csvFile, usersFile, sample.Options{Users: n, Invalid: invalid, Rejected: rejected})
	if err != nil {
		return err
	}
	fmt.Printf("wrote %d users to %s (%d invalid records, %d users DRUID will refuse)\n",
		n, filepath.Join(dir, "users.csv"), len(tr.InvalidLines), len(tr.RejectedKeys))
	return nil
}
