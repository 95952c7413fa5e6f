package cli

import (
	"io"
	"os"
	"strings"

	"github.com/rs/zerolog"
)

// newLogger builds the logger of --log-level and --log-format, which job.Config.Validate has
// checked, writing to w.
func newLogger(levelName, format string, w io.Writer) zerolog.Logger {
	level, err := zerolog.ParseLevel(strings.ToLower(levelName))
	if err != nil {
		level = zerolog.InfoLevel
	}
	// Workers log concurrently; SyncWriter makes each line one write, whatever the writer.
	out := zerolog.SyncWriter(w)
	if format == "console" || (format == "auto" && isTerminal(w)) {
		out = zerolog.ConsoleWriter{Out: out, TimeFormat: "15:04:05"}
	}
	return zerolog.New(out).Level(level).With().Timestamp().Logger()
}

// isTerminal reports whether w is a character device, such as an operator's terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
