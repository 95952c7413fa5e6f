package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// printTable writes the header line (the machine, and its load before and after the runs), one
// row per scenario, and then why each failed run failed: the reasons are too long for the table.
func printTable(w io.Writer, load [2]string, rows []*scenario) {
	fmt.Fprintf(w, "bench %s, %s/%s, GOMAXPROCS %d, NumCPU %d, %s; load average %s before, %s after\n\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), runtime.NumCPU(),
		time.Now().Format("2006-01-02 15:04 MST"), load[0], load[1])
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tworkers\tusers\twall\tusers/s\t×ceiling\tcpu/user\tmachine cpu/user\tpeak RSS\ttarget")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", r.name, r.workers, r.users, strings.Join(figures(r), "\t"))
	}
	_ = tw.Flush()
	var failed []string
	for _, r := range rows {
		if r.err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", r.name, r.err))
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(w, "\nfailed runs:\n  %s\n", strings.Join(failed, "\n  "))
	}
}

// figures are a row's cells after its name and users.
func figures(r *scenario) []string {
	if r.m == nil {
		return []string{"—", "—", "—", "—", "—", "—", "FAIL: the run failed (below)"}
	}
	cpuPerUser := r.m.cpu / time.Duration(r.users)
	share := "—"
	if r.share > 0 {
		share = fmt.Sprintf("%.2f", r.share)
	}
	return []string{
		fmt.Sprintf("%.1fs", r.m.wall.Seconds()),
		fmt.Sprintf("%.0f", r.usersPerSecond()),
		share,
		formatMicros(cpuPerUser),
		formatMicros(r.m.machine / time.Duration(r.users)),
		fmt.Sprintf("%.0f MB", r.peakMB()),
		verdict(r),
	}
}

// verdict is the target cell: every check with ✓ or ✗, then PASS or FAIL. A row held to no
// target (the ceiling) has none.
func verdict(r *scenario) string {
	if len(r.checks) == 0 {
		return ""
	}
	parts := make([]string, len(r.checks))
	for i, c := range r.checks {
		mark := "✓"
		if !c.ok {
			mark = "✗"
		}
		parts[i] = c.text + " " + mark
	}
	result := "PASS"
	if !r.passed() {
		result = "FAIL"
	}
	return strings.Join(parts, ", ") + "  " + result
}

func formatMicros(d time.Duration) string {
	us := float64(d) / float64(time.Microsecond)
	if us < 10 {
		return fmt.Sprintf("%.1fµs", us)
	}
	return fmt.Sprintf("%.0fµs", us)
}
