package deploy_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const dockerfilePath = "Dockerfile"

// dockerfile is the Dockerfile as these tests read it: its build stages in order, each with its
// instructions. It understands what deploy/Dockerfile uses, and refuses the rest rather than
// guess.
type dockerfile struct {
	stages []stage
}

// stage is one FROM of a Dockerfile and the instructions under it.
type stage struct {
	from, name string
	instrs     []instruction
}

// instruction is one instruction, continuation lines joined: its upper-cased keyword and the
// rest of the line.
type instruction struct {
	keyword, args string
}

func loadDockerfile(t *testing.T) dockerfile {
	t.Helper()
	data, err := os.ReadFile(dockerfilePath)
	require.NoError(t, err)
	var (
		d    dockerfile
		line string
	)
	for raw := range strings.SplitSeq(string(data), "\n") {
		trimmed := strings.TrimSpace(raw)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(trimmed, `\`); ok {
			line += cont + " "
			continue
		}
		line += trimmed
		keyword, args, _ := strings.Cut(line, " ")
		keyword, args, line = strings.ToUpper(keyword), strings.TrimSpace(args), ""
		if keyword == "FROM" {
			from, name, _ := strings.Cut(args, " ")
			if as, n, ok := strings.Cut(strings.TrimSpace(name), " "); ok && strings.EqualFold(as, "AS") {
				name = strings.TrimSpace(n)
			}
			d.stages = append(d.stages, stage{from: from, name: name})
			continue
		}
		require.NotEmpty(t, d.stages, "%s: %s before the first FROM", dockerfilePath, keyword)
		last := &d.stages[len(d.stages)-1]
		last.instrs = append(last.instrs, instruction{keyword: keyword, args: args})
	}
	require.Empty(t, line, "%s ends inside a continued line", dockerfilePath)
	require.NotEmpty(t, d.stages, "%s has no FROM", dockerfilePath)
	return d
}

// final is the stage the image is made of.
func (d dockerfile) final() stage { return d.stages[len(d.stages)-1] }

// all is the arguments of every instruction of s with keyword, in order.
func (s stage) all(keyword string) []string {
	var out []string
	for _, in := range s.instrs {
		if in.keyword == keyword {
			out = append(out, in.args)
		}
	}
	return out
}

// buildArgs is the stage's ARGs with their defaults ("" for none).
func (s stage) buildArgs(t *testing.T) map[string]string {
	t.Helper()
	args := map[string]string{}
	for _, a := range s.all("ARG") {
		name, value, _ := strings.Cut(a, "=")
		args[name] = strings.Trim(value, `"`)
	}
	return args
}

// env is the environment the stage's ENV instructions give the image.
func (s stage) env(t *testing.T) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range s.all("ENV") {
		words, err := shellWords(e, nil)
		require.NoError(t, err, "%s: ENV %s", dockerfilePath, e)
		for _, w := range words {
			name, value, ok := strings.Cut(w, "=")
			require.True(t, ok, "%s: ENV %s: write NAME=value", dockerfilePath, e)
			env[name] = value
		}
	}
	return env
}

// execForm is the JSON array of an ENTRYPOINT or CMD.
func execForm(t *testing.T, args string) []string {
	t.Helper()
	var words []string
	require.NoError(t, json.Unmarshal([]byte(args), &words), "%s: %q is not the exec (JSON) form", dockerfilePath, args)
	return words
}

// goBuild is the Dockerfile's go build line: the stage it runs in, the environment it sets
// (CGO_ENABLED=0 …) and the go command's arguments, with the build arguments expanded from
// the ARG defaults overridden by buildArgs.
func (d dockerfile) goBuild(t *testing.T, buildArgs map[string]string) (st stage, env, goArgs []string) {
	t.Helper()
	var found []string
	for _, s := range d.stages {
		for _, run := range s.all("RUN") {
			if !strings.Contains(run, "go build") {
				continue
			}
			require.Nil(t, found, "%s: more than one RUN holds go build", dockerfilePath)
			vars := s.buildArgs(t)
			for k, v := range buildArgs {
				_, declared := vars[k]
				require.True(t, declared, "%s: the build stage declares no ARG %s", dockerfilePath, k)
				vars[k] = v
			}
			words, err := shellWords(run, vars)
			require.NoError(t, err, "%s: RUN %s", dockerfilePath, run)
			st, found = s, words
		}
	}
	require.NotNil(t, found, "%s: no RUN holds go build", dockerfilePath)
	i := slices.Index(found, "go")
	require.True(t, i >= 0 && i+1 < len(found) && found[i+1] == "build",
		"%s: the go build line is not NAME=value … go build …: %q", dockerfilePath, found)
	for _, w := range found[:i] {
		require.Contains(t, w, "=", "%s: %q before go build is not NAME=value", dockerfilePath, w)
	}
	return st, found[:i], found[i+1:]
}

// shellWords splits the one simple command a RUN or an ENV holds as a shell would: words
// between blanks, quotes grouping, $NAME and ${NAME} expanded from vars. Anything more (&&, ;,
// pipes, substitutions) is an error: a build line the tests cannot reproduce exactly must not
// pass for one they can.
func shellWords(s string, vars map[string]string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
		quote  byte
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '$':
			name, n, err := varRef(s[i+1:])
			if err != nil {
				return nil, err
			}
			v, ok := vars[name]
			if !ok {
				return nil, fmt.Errorf("$%s is not a build argument", name)
			}
			cur.WriteString(v)
			inWord, i = true, i+n
		case quote == '"':
			switch {
			case c == '"':
				quote = 0
			case c == '\\' && i+1 < len(s):
				i++
				cur.WriteByte(s[i])
			default:
				cur.WriteByte(c)
			}
		case c == '"' || c == '\'':
			quote, inWord = c, true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case strings.IndexByte(";&|`<>()\\", c) >= 0:
			return nil, fmt.Errorf("%q: only one plain command is understood here", c)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, errors.New("unterminated quote")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// varRef reads the name of a variable reference after its $: NAME or {NAME}, and how many bytes
// it took.
func varRef(s string) (name string, n int, err error) {
	isName := func(c byte) bool {
		return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	if strings.HasPrefix(s, "{") {
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return "", 0, errors.New("unterminated ${")
		}
		name = s[1:end]
		for i := range len(name) {
			if !isName(name[i]) {
				return "", 0, fmt.Errorf("${%s}: only ${NAME} is understood here", name)
			}
		}
		return name, end + 1, nil
	}
	for n < len(s) && isName(s[n]) {
		n++
	}
	if n == 0 {
		return "", 0, errors.New("a $ names no variable")
	}
	return s[:n], n, nil
}

func TestShellWords(t *testing.T) {
	vars := map[string]string{"V": "1.2", "C": "abc"}
	tests := []struct {
		in   string
		want []string
		err  string
	}{
		{in: `CGO_ENABLED=0 go build -ldflags "-s -X a.v=${V} -X a.c=$C" -o /out/x .`,
			want: []string{"CGO_ENABLED=0", "go", "build", "-ldflags", "-s -X a.v=1.2 -X a.c=abc", "-o", "/out/x", "."}},
		{in: `echo 'single $V' "double \"q\""`, want: []string{"echo", "single $V", `double "q"`}},
		{in: `a  b	c`, want: []string{"a", "b", "c"}},
		{in: `go build && rm x`, err: `'&'`},
		{in: `go build; true`, err: `';'`},
		{in: `go build $(date)`, err: "no variable"},
		{in: `go build ${UNSET}`, err: "UNSET"},
		{in: `go build ${V:-x}`, err: "only ${NAME}"},
		{in: `go build "open`, err: "unterminated"},
	}
	for _, tt := range tests {
		got, err := shellWords(tt.in, vars)
		if tt.err != "" {
			require.ErrorContains(t, err, tt.err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		require.Equal(t, tt.want, got, tt.in)
	}
}
