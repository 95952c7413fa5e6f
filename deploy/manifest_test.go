package deploy_test

import (
	"fmt"
	"maps"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"druid-migrate/internal/pgurl"
	"druid-migrate/job"
	"druid-migrate/mapping"
)

const (
	cronJobPath      = "k8s/cronjob.yaml"
	migrationJobPath = "k8s/migration-job.yaml"
	// containerName is the container whose exit codes the pod failure policies name.
	containerName = "druid-migrate"
	// secretName is the Secret the manifests take credentials from; cronjob.yaml ends with its
	// shape, placeholders only, in a comment.
	secretName = "druid-migrate"
	// graceMargin is what a pod's grace period must leave beyond --timeout: on SIGTERM a run
	// waits up to --timeout for its calls in flight, then writes their outcomes and its summary.
	graceMargin = 15 * time.Second
)

// secretVars are the variables whose values are credentials: they come from the Secret, never
// from a ConfigMap or the manifest itself.
var secretVars = []string{"DRUID_TOKEN", "DRUID_CLIENT_ID", "DRUID_CLIENT_SECRET", "DRUID_HASH_KEY"}

// manifest is one file of k8s/, its objects decoded strictly into the Kubernetes API's types.
type manifest struct {
	path       string
	configMaps map[string]corev1.ConfigMap
	cronJobs   []batchv1.CronJob
	jobs       []batchv1.Job
	secret     corev1.Secret // the placeholder Secret of cronjob.yaml
	image      map[string]string
}

var documentSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// loadManifest reads the file at path: every document must decode, with no field the Kubernetes
// API does not know (a misspelt or misplaced field would otherwise be dropped by kubectl), into
// a kind these tests check.
func loadManifest(t *testing.T, path string) manifest {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	m := manifest{path: path, configMaps: map[string]corev1.ConfigMap{}, secret: placeholderSecret(t),
		image: loadDockerfile(t).final().env(t)}
	for i, doc := range documentSeparator.Split(string(data), -1) {
		var raw map[string]any
		require.NoError(t, yaml.Unmarshal([]byte(doc), &raw), "%s, document %d", path, i+1)
		if len(raw) == 0 {
			continue // comments only
		}
		where := fmt.Sprintf("%s, document %d", path, i+1)
		kind := fmt.Sprintf("%v %v", raw["apiVersion"], raw["kind"])
		switch kind {
		case "v1 ConfigMap":
			var cm corev1.ConfigMap
			strict(t, doc, &cm, where)
			require.NotContains(t, m.configMaps, cm.Name, "%s: a second ConfigMap %s", where, cm.Name)
			m.configMaps[cm.Name] = cm
		case "batch/v1 CronJob":
			var cj batchv1.CronJob
			strict(t, doc, &cj, where)
			m.cronJobs = append(m.cronJobs, cj)
		case "batch/v1 Job":
			var j batchv1.Job
			strict(t, doc, &j, where)
			m.jobs = append(m.jobs, j)
		default:
			t.Fatalf("%s: %s is not a kind these tests check", where, kind)
		}
	}
	return m
}

func strict(t *testing.T, doc string, into any, where string) {
	t.Helper()
	require.NoError(t, yaml.UnmarshalStrict([]byte(doc), into), where)
}

// placeholderSecret is the Secret that cronjob.yaml's closing comment shows, decoded strictly:
// every key the manifests may take from it, each holding a placeholder.
func placeholderSecret(t *testing.T) corev1.Secret {
	t.Helper()
	data, err := os.ReadFile(cronJobPath)
	require.NoError(t, err)
	lines := strings.Split(string(data), "\n")
	start := slices.Index(lines, "# kind: Secret") - 1
	require.Truef(t, start >= 0 && lines[start] == "# apiVersion: v1",
		"%s ends with the Secret, commented out, from its line '# apiVersion: v1'", cronJobPath)
	var doc strings.Builder
	for _, l := range lines[start:] {
		text, ok := strings.CutPrefix(l, "#")
		if !ok {
			break
		}
		doc.WriteString(strings.TrimPrefix(text, " ") + "\n")
	}
	var s corev1.Secret
	strict(t, doc.String(), &s, cronJobPath+", the Secret in its closing comment")
	require.Equal(t, secretName, s.Name)
	require.Empty(t, s.Data, "the Secret's placeholders are stringData")
	for k, v := range s.StringData {
		require.Contains(t, v, "REPLACE", "%s: the Secret's %s must be an obvious placeholder", cronJobPath, k)
	}
	return s
}

// podEnv is the environment the container starts with, as Kubernetes gives it: the image's ENV,
// then envFrom, then env; with the Secret's placeholders. source tells where each variable came
// from: "image", "configmap", "secret", "value" or "resource".
func (m manifest) podEnv(t *testing.T, c corev1.Container) (env, source map[string]string) {
	t.Helper()
	env, source = map[string]string{}, map[string]string{}
	set := func(name, value, from string) { env[name], source[name] = value, from }
	for k, v := range m.image {
		set(k, v, "image")
	}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			cm, ok := m.configMaps[ef.ConfigMapRef.Name]
			require.True(t, ok, "%s: envFrom names ConfigMap %s, which the file does not define", m.path, ef.ConfigMapRef.Name)
			for k, v := range cm.Data {
				set(ef.Prefix+k, v, "configmap")
			}
		case ef.SecretRef != nil:
			require.Equal(t, secretName, ef.SecretRef.Name, m.path)
			for k, v := range m.secret.StringData {
				set(ef.Prefix+k, v, "secret")
			}
		}
	}
	for _, e := range c.Env {
		where := fmt.Sprintf("%s: env %s", m.path, e.Name)
		require.NotContains(t, e.Value, "$(", "%s: these tests do not expand $(VAR)", where)
		switch from := e.ValueFrom; {
		case from == nil:
			set(e.Name, e.Value, "value")
		case from.ConfigMapKeyRef != nil:
			cm, ok := m.configMaps[from.ConfigMapKeyRef.Name]
			require.True(t, ok, "%s: no ConfigMap %s in the file", where, from.ConfigMapKeyRef.Name)
			v, ok := cm.Data[from.ConfigMapKeyRef.Key]
			require.True(t, ok, "%s: ConfigMap %s has no %s", where, cm.Name, from.ConfigMapKeyRef.Key)
			set(e.Name, v, "configmap")
		case from.SecretKeyRef != nil:
			require.Equal(t, secretName, from.SecretKeyRef.Name, where)
			v, ok := m.secret.StringData[from.SecretKeyRef.Key]
			require.True(t, ok, "%s: the Secret has no %s", where, from.SecretKeyRef.Key)
			set(e.Name, v, "secret")
		case from.ResourceFieldRef != nil:
			res := corev1.ResourceName(strings.TrimPrefix(from.ResourceFieldRef.Resource, "limits."))
			q, ok := c.Resources.Limits[res]
			require.True(t, ok, "%s: the container sets no %s, so Kubernetes would give the node's", where, from.ResourceFieldRef.Resource)
			set(e.Name, strconv.FormatInt(q.Value(), 10), "resource")
		default:
			t.Fatalf("%s: a valueFrom these tests do not resolve", where)
		}
	}
	return env, source
}

// volumeFile finds what the container sees at file: the mount and volume that hold it and, in a
// ConfigMap or the Secret, the key projected there and its content.
func (m manifest) volumeFile(t *testing.T, spec corev1.PodSpec, c corev1.Container, file string) (corev1.VolumeMount, corev1.Volume, string) {
	t.Helper()
	var mount *corev1.VolumeMount
	for i, vm := range c.VolumeMounts {
		if (file == vm.MountPath || strings.HasPrefix(file, vm.MountPath+"/")) &&
			(mount == nil || len(vm.MountPath) > len(mount.MountPath)) {
			mount = &c.VolumeMounts[i]
		}
	}
	require.NotNil(t, mount, "%s: no volume is mounted at %s", m.path, file)
	require.Empty(t, mount.SubPath, "%s: these tests do not follow subPath", m.path)
	i := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == mount.Name })
	require.True(t, i >= 0, "%s: the mount %s names no volume", m.path, mount.Name)
	vol := spec.Volumes[i]
	rel := strings.TrimPrefix(strings.TrimPrefix(file, mount.MountPath), "/")
	var (
		items []corev1.KeyToPath
		data  map[string]string
	)
	switch {
	case vol.ConfigMap != nil:
		cm, ok := m.configMaps[vol.ConfigMap.Name]
		require.True(t, ok, "%s: volume %s: no ConfigMap %s in the file", m.path, vol.Name, vol.ConfigMap.Name)
		items, data = vol.ConfigMap.Items, cm.Data
	case vol.Secret != nil:
		require.Equal(t, secretName, vol.Secret.SecretName, m.path)
		items, data = vol.Secret.Items, m.secret.StringData
	default:
		return *mount, vol, ""
	}
	key := rel
	if len(items) > 0 {
		j := slices.IndexFunc(items, func(k corev1.KeyToPath) bool { return k.Path == rel })
		require.True(t, j >= 0, "%s: volume %s projects nothing at %s", m.path, vol.Name, file)
		key = items[j].Key
	}
	content, ok := data[key]
	require.True(t, ok, "%s: %s: volume %s has no key %s", m.path, file, vol.Name, key)
	return *mount, vol, content
}

// requireWritable fails unless the container can write in dir: a volume of its own, mounted
// read-write (the root file system is read-only).
func (m manifest) requireWritable(t *testing.T, spec corev1.PodSpec, c corev1.Container, dir, why string) {
	t.Helper()
	mount, vol, _ := m.volumeFile(t, spec, c, dir)
	require.False(t, mount.ReadOnly, "%s: %s is mounted read-only; %s", m.path, dir, why)
	require.True(t, vol.EmptyDir != nil || vol.PersistentVolumeClaim != nil || vol.Ephemeral != nil,
		"%s: %s is not on a writable volume; %s", m.path, dir, why)
}

// checkPod checks the pod of a workload and returns the Config its container runs with for each
// JOB_COMPLETION_INDEX of indexes ("" for none).
func (m manifest) checkPod(t *testing.T, spec corev1.PodSpec, indexes []string) []job.Config {
	t.Helper()
	require.Len(t, spec.Containers, 1, m.path)
	c := spec.Containers[0]
	require.Equal(t, containerName, c.Name, "%s: the pod failure policies name the container", m.path)
	require.Empty(t, c.Command, "%s: the image's ENTRYPOINT is druid-migrate, and args its command line", m.path)
	require.Equal(t, corev1.RestartPolicyNever, spec.RestartPolicy, "%s: a pod failure policy needs restartPolicy Never", m.path)

	// Not root, and nothing to escalate to; the image's USER is a name, which the kubelet
	// cannot check against runAsNonRoot without a numeric runAsUser.
	psc, csc := spec.SecurityContext, c.SecurityContext
	require.NotNil(t, psc, m.path)
	require.NotNil(t, csc, m.path)
	require.True(t, psc.RunAsNonRoot != nil && *psc.RunAsNonRoot, "%s: runAsNonRoot", m.path)
	require.True(t, psc.RunAsUser != nil && *psc.RunAsUser != 0, "%s: a numeric, non-root runAsUser", m.path)
	require.True(t, csc.ReadOnlyRootFilesystem != nil && *csc.ReadOnlyRootFilesystem, "%s: readOnlyRootFilesystem", m.path)
	require.True(t, csc.AllowPrivilegeEscalation != nil && !*csc.AllowPrivilegeEscalation, "%s: allowPrivilegeEscalation false", m.path)
	require.True(t, csc.Capabilities != nil && slices.Contains(csc.Capabilities.Drop, "ALL"), "%s: capabilities drop ALL", m.path)

	env, source := m.podEnv(t, c)
	for _, name := range secretVars {
		if from, ok := source[name]; ok {
			require.Equal(t, "secret", from, "%s: %s is a credential: it comes from the Secret", m.path, name)
		}
	}

	var configs []job.Config
	for _, index := range indexes {
		where := m.path
		run := env
		if index != "" {
			where = fmt.Sprintf("%s, JOB_COMPLETION_INDEX=%s", m.path, index)
			run = maps.Clone(env)
			run["JOB_COMPLETION_INDEX"] = index
		}
		cfg, err := parse(t, c.Args, run)
		require.NoError(t, err, "%s: args %q", where, c.Args)
		require.Equal(t, job.CommandRun, cfg.Command, where)
		requireRead(t, where, c.Args, run)
		configs = append(configs, cfg)
	}
	cfg := configs[0]

	// One checkpoint for every pod and every night: Postgres. An SQLite file would die with the
	// pod, and cannot be shared by shards.
	require.True(t, pgurl.Is(cfg.Checkpoint), "%s: the checkpoint is a postgres:// URL, not %q", m.path, cfg.Checkpoint)
	for flag, url := range map[string]string{"--checkpoint": cfg.Checkpoint, "--source": cfg.Source} {
		secrets, err := pgurl.Secrets(url)
		require.NoError(t, err)
		require.Empty(t, secrets, "%s: the %s URL holds a password: it belongs in the Secret's pgpass", m.path, flag)
	}
	require.Empty(t, cfg.Token, "%s: a token in the environment shows in the pod's spec: use DRUID_TOKEN_FILE", m.path)

	// The files it reads are mounted from the ConfigMap or the Secret.
	_, _, mappingFile := m.volumeFile(t, spec, c, cfg.Mapping)
	requireMapping(t, m.path, mappingFile, cfg)
	for _, file := range []string{cfg.TokenFile, cfg.HashKeyFile, env["PGPASSFILE"]} {
		if file != "" {
			_, vol, _ := m.volumeFile(t, spec, c, file)
			require.NotNil(t, vol.Secret, "%s: %s holds a credential: it comes from the Secret", m.path, file)
		}
	}
	// And the files it writes go to volumes of its own.
	if cfg.SummaryJSON != "" {
		m.requireWritable(t, spec, c, path.Dir(cfg.SummaryJSON), "--summary-json is written by rename beside its file")
	}
	tmp := env["TMPDIR"]
	if tmp == "" {
		tmp = "/tmp"
	}
	m.requireWritable(t, spec, c, tmp, "a large source's repeated keys spill to a temporary file")

	require.NotNil(t, spec.TerminationGracePeriodSeconds, m.path)
	grace := time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
	require.GreaterOrEqual(t, grace, cfg.Timeout+graceMargin,
		"%s: on SIGTERM a run waits up to --timeout (%s) for its calls in flight, then records them", m.path, cfg.Timeout)

	if cfg.MetricsAddr != "" {
		_, port, err := net.SplitHostPort(cfg.MetricsAddr)
		require.NoError(t, err)
		require.True(t, slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return strconv.Itoa(int(p.ContainerPort)) == port }),
			"%s: --metrics-addr %s, and no containerPort %s", m.path, cfg.MetricsAddr, port)
	}
	return configs
}

// requireMapping checks a mapping file as a run would before reading its first record: it
// loads, and compiles against a source that has the columns it names.
func requireMapping(t *testing.T, where, content string, cfg job.Config) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "mapping.yaml")
	require.NoError(t, os.WriteFile(file, []byte(content), 0o600))
	f, err := mapping.Load(file)
	require.NoError(t, err, where)
	header := []string{f.Key}
	for column := range f.Columns {
		header = append(header, column)
	}
	_, err = mapping.Compile(f, header, mapping.Options{KeyColumn: cfg.Key, AppID: cfg.AppID, Verb: cfg.Verb, Device: cfg.Device})
	require.NoError(t, err, where)
}

// action is what the pod failure policy does with a pod whose container exited with code, as
// the Job controller decides: the first rule that matches, else Count.
func action(t *testing.T, p *batchv1.PodFailurePolicy, code int32) batchv1.PodFailurePolicyAction {
	t.Helper()
	require.NotNil(t, p)
	for _, r := range p.Rules {
		on := r.OnExitCodes
		if on == nil {
			continue
		}
		require.True(t, on.ContainerName == nil || *on.ContainerName == containerName,
			"a rule names container %v, which the pod does not have", on.ContainerName)
		if slices.Contains(on.Values, code) == (on.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn) {
			return r.Action
		}
	}
	return batchv1.PodFailurePolicyActionCount
}

// disruptionAction is what the pod failure policy does with a pod Kubernetes itself stopped (a
// drained node, a preemption).
func disruptionAction(t *testing.T, p *batchv1.PodFailurePolicy) batchv1.PodFailurePolicyAction {
	t.Helper()
	require.NotNil(t, p)
	for _, r := range p.Rules {
		for _, c := range r.OnPodConditions {
			if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue {
				return r.Action
			}
		}
	}
	return batchv1.PodFailurePolicyActionCount
}

// exitActions are the failure policy's actions the workloads must take, per exit code (README,
// Exit codes).
type exitActions map[int32]batchv1.PodFailurePolicyAction

func requireActions(t *testing.T, where string, p *batchv1.PodFailurePolicy, want exitActions) {
	t.Helper()
	for code, a := range want {
		require.Equal(t, a, action(t, p, code), "%s: exit code %d", where, code)
	}
	require.Equal(t, batchv1.PodFailurePolicyActionIgnore, disruptionAction(t, p),
		"%s: a pod stopped by a disruption is replaced without counting as a failure", where)
}

// TestCronJob checks the nightly sync: one run at a time, deadlines, retries only where a
// retry can help, and a pod whose args and environment druid-migrate accepts.
func TestCronJob(t *testing.T) {
	m := loadManifest(t, cronJobPath)
	require.Len(t, m.cronJobs, 1)
	require.Empty(t, m.jobs)
	cj := m.cronJobs[0]
	require.Equal(t, batchv1.ForbidConcurrent, cj.Spec.ConcurrencyPolicy)
	require.True(t, cj.Spec.StartingDeadlineSeconds != nil && *cj.Spec.StartingDeadlineSeconds > 0, "startingDeadlineSeconds")
	js := cj.Spec.JobTemplate.Spec
	require.True(t, js.ActiveDeadlineSeconds != nil && *js.ActiveDeadlineSeconds > 0, "activeDeadlineSeconds")
	require.NotNil(t, js.BackoffLimit)
	require.Equal(t, batchv1.Failed, ptrValue(js.PodReplacementPolicy),
		"a replacement pod overlapping its predecessor would find the job's lease held, and exit 4")
	requireActions(t, cronJobPath, js.PodFailurePolicy, exitActions{
		1: batchv1.PodFailurePolicyActionFailJob, // data to fix: the next night is soon enough
		2: batchv1.PodFailurePolicyActionFailJob,
		3: batchv1.PodFailurePolicyActionCount,   // run again to resume
		4: batchv1.PodFailurePolicyActionFailJob, // another run is doing the work
	})

	cfg := m.checkPod(t, js.Template.Spec, []string{""})[0]
	require.NotEmpty(t, cfg.SinceColumn, "the nightly sync reads only the rows changed since its last run")
	require.Zero(t, cfg.Shards, "the nightly sync is one process")
	require.Empty(t, cfg.Shard, "the nightly sync is one process")
}

// TestMigrationJob checks the migration: an Indexed Job of one pod per shard, all running at
// once, none overlapping its replacement, each parsing as its own shard.
func TestMigrationJob(t *testing.T) {
	m := loadManifest(t, migrationJobPath)
	require.Len(t, m.jobs, 1)
	require.Empty(t, m.cronJobs)
	js := m.jobs[0].Spec
	require.Equal(t, batchv1.IndexedCompletion, ptrValue(js.CompletionMode))
	require.NotNil(t, js.Completions)
	n := *js.Completions
	require.Equal(t, n, ptrValue(js.Parallelism), "parallelism = completions: every shard runs at once")
	require.True(t, js.BackoffLimitPerIndex != nil && *js.BackoffLimitPerIndex > 0, "backoffLimitPerIndex")
	require.Equal(t, batchv1.Failed, ptrValue(js.PodReplacementPolicy),
		"a replacement pod overlapping its predecessor would find its shard's lease held")
	requireActions(t, migrationJobPath, js.PodFailurePolicy, exitActions{
		1: batchv1.PodFailurePolicyActionFailIndex, // this shard's data to fix; the others go on
		2: batchv1.PodFailurePolicyActionFailJob,   // configuration: the same for every shard
		3: batchv1.PodFailurePolicyActionCount,     // run again to resume
		4: batchv1.PodFailurePolicyActionCount,     // nothing done; the holder is not of this Job
	})

	var indexes []string
	for i := range n {
		indexes = append(indexes, strconv.Itoa(int(i)))
	}
	for i, cfg := range m.checkPod(t, js.Template.Spec, indexes) {
		require.Equal(t, int(n), cfg.Shards, "--shards is the Job's completions")
		require.Equal(t, strconv.Itoa(i), cfg.ShardIndex)
		require.Empty(t, cfg.Shard, "each pod's shard comes from JOB_COMPLETION_INDEX")
	}
}

// TestNightlySyncContinuesTheMigration: the two workloads are one job of the checkpoint, built
// the same way, so that the first nightly run skips every user the migration applied instead
// of sending them all again.
func TestNightlySyncContinuesTheMigration(t *testing.T) {
	nightly, migration := loadManifest(t, cronJobPath), loadManifest(t, migrationJobPath)
	nightlySpec, migrationSpec := nightly.cronJobs[0].Spec.JobTemplate.Spec.Template.Spec, migration.jobs[0].Spec.Template.Spec
	a := nightly.checkPod(t, nightlySpec, []string{""})[0]
	b := migration.checkPod(t, migrationSpec, []string{"0"})[0]
	same := func(c job.Config) []string {
		return []string{c.Job, c.Checkpoint, c.CheckpointSchema, c.Source, c.Query, c.Key,
			c.Endpoint, c.AppID, c.EntryPoint, c.Device, c.Verb}
	}
	require.Equal(t, same(b), same(a))
	_, _, mappingA := nightly.volumeFile(t, nightlySpec, nightlySpec.Containers[0], a.Mapping)
	_, _, mappingB := migration.volumeFile(t, migrationSpec, migrationSpec.Containers[0], b.Mapping)
	require.Equal(t, mappingB, mappingA, "the skip rule compares payloads built by the same mapping")
}

func ptrValue[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
