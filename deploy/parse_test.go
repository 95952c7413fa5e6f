package deploy_test

import (
	"maps"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"druid-migrate/cli"
	"druid-migrate/job"
)

// parse runs druid-migrate's command line on args with exactly env as the environment it reads:
// the test process's own DRUID_… and JOB_COMPLETION_INDEX are unset for it.
func parse(t *testing.T, args []string, env map[string]string) (job.Config, error) {
	t.Helper()
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); readByProduct(name) {
			t.Setenv(name, "")
			require.NoError(t, os.Unsetenv(name))
		}
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	return cli.Parse(append([]string{"druid-migrate"}, args...))
}

// readByProduct says whether the variable name is one of druid-migrate's own.
func readByProduct(name string) bool {
	return strings.HasPrefix(name, "DRUID_") || name == "JOB_COMPLETION_INDEX"
}

// comparable is cfg without what Parse makes afresh each time (the logger, the streams).
func comparable(cfg job.Config) job.Config {
	cfg.Log = zerolog.Logger{}
	cfg.Stdin, cfg.Stdout, cfg.Stderr = nil, nil, nil
	return cfg
}

// requireRead fails for every variable of env named like druid-migrate's own that its command
// line does not read: given another value, it must change the Config or be refused. A variable
// renamed in the product and not in the manifests is caught here, as a renamed flag is by Parse.
func requireRead(t *testing.T, where string, args []string, env map[string]string) {
	t.Helper()
	base, err := parse(t, args, env)
	require.NoError(t, err, where)
	for name := range env {
		if !readByProduct(name) {
			continue
		}
		changed := maps.Clone(env)
		changed[name] = "not-" + env[name] + "-unread"
		cfg, err := parse(t, args, changed)
		if err == nil && reflect.DeepEqual(comparable(cfg), comparable(base)) {
			t.Errorf("%s: %s is set, but druid-migrate does not read it: renamed?", where, name)
		}
	}
}
