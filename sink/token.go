package sink

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog"
)

// tokenFileMax bounds what is read of --token-file: a bearer token is a few hundred bytes, and a
// path pointing at the wrong file must not load a log or a disk image into memory.
const tokenFileMax = 64 << 10

// errNoToken is what a user gets when neither the record nor the configuration holds a token.
var errNoToken = errors.New("no token: the record has no token column value and neither --token nor --token-file is set")

// token is one bearer token and the generation of the file read that produced it. The generation
// lets concurrent 401s tell whether the file was re-read after they took their token, so that
// they share that re-read instead of each doing their own.
type token struct {
	value string
	gen   uint64
	// unread says the re-read that made this generation failed: the file was being
	// rewritten, or could not be opened. A 401 then says nothing of the file's token.
	unread bool
}

// tokenSource hands out the static bearer token (--token) or the one read from --token-file, and
// re-reads the file when DRUID says the token no longer works.
type tokenSource struct {
	path     string // empty: the token is static and never refreshed
	readFile func(path string) (string, error)
	log      zerolog.Logger

	cur atomic.Pointer[token] // read on every call without a lock
	mu  sync.Mutex            // serializes re-reads of the file
}

// newTokenSource returns the source of the configured token, or nil when the configuration has
// none (every record then carries its own). The token file is read now so that an unreadable or
// empty file stops the run at start, not at the first 401.
func newTokenSource(static, path string, log zerolog.Logger) (*tokenSource, error) {
	s := &tokenSource{path: path, readFile: readTokenFile, log: log}
	var v string
	switch {
	case path != "":
		var err error
		if v, err = s.readFile(path); err != nil {
			return nil, err
		}
	case static != "":
		v = strings.TrimSpace(static)
		if !headerSafe(v) {
			return nil, errors.New("--token holds characters an HTTP header cannot carry")
		}
	default:
		return nil, nil
	}
	s.cur.Store(&token{value: v})
	return s, nil
}

// current returns the token to send now.
func (s *tokenSource) current() token {
	return *s.cur.Load()
}

// refreshable reports whether a 401 is worth a re-read: only a token file can change under us.
func (s *tokenSource) refreshable() bool {
	return s != nil && s.path != ""
}

// refresh is called after DRUID answered 401 to a call made with used. It re-reads the token file
// unless another call already did so after used was handed out, and reports whether the token
// now differs from used: only then is another try worth making.
//
// A failed re-read keeps the token in force but still counts as a re-read, so the calls waiting
// behind it do not hammer a file that is being rewritten.
func (s *tokenSource) refresh(used token) (token, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.cur.Load()
	if cur.gen != used.gen {
		return *cur, cur.value != used.value
	}
	next := &token{value: cur.value, gen: cur.gen + 1}
	v, err := s.readFile(s.path)
	switch {
	case err != nil:
		next.unread = true
		s.log.Warn().Err(err).Msg("re-read of the token file failed; keeping the token in force")
	case v == cur.value:
		s.log.Warn().Str("token_file", s.path).Msg("token rejected by DRUID and the token file still holds it")
	default:
		next.value = v
		s.log.Info().Str("token_file", s.path).Msg("token file re-read: new token in use")
	}
	s.cur.Store(next)
	return *next, next.value != used.value
}

// readTokenFile reads the bearer token held in path. Its errors name the path and never the
// content: a file that is not a token may still be somebody's secret.
func readTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, tokenFileMax+1))
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	if len(b) > tokenFileMax {
		return "", fmt.Errorf("--token-file %q is larger than %d KiB: not a token", path, tokenFileMax>>10)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("--token-file %q is empty", path)
	}
	if !headerSafe(v) {
		return "", fmt.Errorf("--token-file %q holds characters an HTTP header cannot carry", path)
	}
	return v, nil
}

// headerSafe reports whether s can be sent as a header value. Checking before the call keeps a
// bad per-user token from turning into a transport error that would be retried for nothing.
func headerSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; (b < 0x20 && b != '\t') || b == 0x7f {
			return false
		}
	}
	return true
}
