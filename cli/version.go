package cli

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// Set at build time by the Makefile (-ldflags "-X druid-migrate/cli.version=… -X
// druid-migrate/cli.commit=…"); a plain go build leaves them empty, and the module's build
// information stands in.
var (
	version string
	commit  string
)

// buildInfo is the version, the commit and the Go version the binary was built with.
func buildInfo() (ver, rev, goVersion string) {
	ver, rev, goVersion = version, commit, runtime.Version()
	if info, ok := debug.ReadBuildInfo(); ok {
		if ver == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			ver = info.Main.Version
		}
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision" && rev == "":
				rev = s.Value
			case s.Key == "vcs.modified" && s.Value == "true" && rev != "" && commit == "":
				rev += "-dirty"
			}
		}
	}
	if ver == "" {
		ver = "dev"
	}
	if rev == "" {
		rev = "unknown"
	}
	return ver, rev, goVersion
}

// appVersion is the version the help shows.
func appVersion() string {
	ver, _, _ := buildInfo()
	return ver
}

// writeVersion writes the one line of `version` and `--version`.
func writeVersion(w io.Writer) {
	ver, rev, goVersion := buildInfo()
	fmt.Fprintf(w, "druid-migrate %s (commit %s, %s)\n", ver, rev, goVersion)
}

func versionCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "the version, the commit and the Go version it was built with (also --version)",
		Action: func(*cli.Context) error {
			writeVersion(stdout)
			return nil
		},
	}
}
