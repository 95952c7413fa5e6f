package checkpoint

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"druid-migrate/migrations"
)

// newLocation returns a fresh, empty checkpoint for one test: what to pass to Open. Opening it
// more than once reaches the same database, as a second process would.
type newLocation func(t *testing.T) (dsn string, opts Options)

// versioner is implemented by both stores, for the tests: the versions in schema_migrations.
type versioner interface {
	appliedVersions(ctx context.Context) ([]int, error)
}

// upgrader is implemented by both stores, for the tests: Migrate as an older druid-migrate, which
// knew the migrations up to last only, did it.
type upgrader interface {
	migrateTo(ctx context.Context, last int) error
}

// runConformance runs every behaviour of conformance against the store that location makes, each
// in a subtest of its own, in parallel.
func runConformance(t *testing.T, dialect string, location newLocation) {
	c := conformer{dialect: dialect, location: location}
	for _, tt := range conformance {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, c)
		})
	}
}

// conformance is the behaviour every Store must have, one function per behaviour.
var conformance = []struct {
	name string
	test func(t *testing.T, c conformer)
}{
	{"MigrateTwiceIsANoOp", conformMigrateTwiceIsANoOp},
	{"ConcurrentMigrateFromSeveralProcesses", conformConcurrentMigrateFromSeveralProcesses},
	{"OperationsBeforeMigrateFail", conformOperationsBeforeMigrateFail},
	{"UpgradeFromVersion1KeepsTheData", conformUpgradeFromVersion1KeepsTheData},
	{"UpgradeFromVersion2KeepsTheData", conformUpgradeFromVersion2KeepsTheData},
	{"UpgradeFromVersion5KeepsTheData", conformUpgradeFromVersion5KeepsTheData},
	{"BackupsRoundTripByteForByteInKeyOrder", conformBackupsRoundTripByteForByteInKeyOrder},
	{"SaveBackupsKeepsTheFirstState", conformSaveBackupsKeepsTheFirstState},
	{"BackupsOfRunsAndJobsAreIsolated", conformBackupsOfRunsAndJobsAreIsolated},
	{"BackupsOfARunWithoutAnyAreNotFound", conformBackupsOfARunWithoutAnyAreNotFound},
	{"SaveBackupsRejectsWhatItCannotKeep", conformSaveBackupsRejectsWhatItCannotKeep},
	{"SaveBackups5000InOneCall", conformSaveBackups5000InOneCall},
	{"BackupsStreamWhileTheStoreIsUsedAndStopWithFnsError", conformBackupsStreamWhileTheStoreIsUsedAndStopWithFnsError},
	{"BackupsSurviveCloseAndReopen", conformBackupsSurviveCloseAndReopen},
	{"WriteThenPriorAndFailuresReturnTheRow", conformWriteThenPriorAndFailuresReturnTheRow},
	{"HasUsersOnlyOnceTheJobHasARow", conformHasUsersOnlyOnceTheJobHasARow},
	{"EmptyHashAndErrorRoundTrip", conformEmptyHashAndErrorRoundTrip},
	{"UpsertReplacesEveryField", conformUpsertReplacesEveryField},
	{"SameKeyTwiceInOneWriteLastWins", conformSameKeyTwiceInOneWriteLastWins},
	{"PriorOf5000KeysInOneCall", conformPriorOf5000KeysInOneCall},
	{"UnknownKeysAreAbsent", conformUnknownKeysAreAbsent},
	{"AwkwardKeysRoundTripAndSortByBytes", conformAwkwardKeysRoundTripAndSortByBytes},
	{"RowsThatCannotBeKeptAreRefusedAndTheOthersWritten", conformRowsThatCannotBeKeptAreRefusedAndTheOthersWritten},
	{"EveryRowRefusedWritesNothing", conformEveryRowRefusedWritesNothing},
	{"ErrorTextIsStoredEvenWithBadBytes", conformErrorTextIsStoredEvenWithBadBytes},
	{"JobsAreIsolated", conformJobsAreIsolated},
	{"RunsRoundTripNewestFirst", conformRunsRoundTripNewestFirst},
	{"RunsOfEveryShardWithTheirShard", conformRunsOfEveryShardWithTheirShard},
	{"AbandonRunsEndsTheUnendedRunsOfItsJobAndShard", conformAbandonRunsEndsTheUnendedRunsOfItsJobAndShard},
	{"FinishRunOfUnknownRunIsNotFound", conformFinishRunOfUnknownRunIsNotFound},
	{"UnknownJobIsNotFound", conformUnknownJobIsNotFound},
	{"KnownJobWithNothingToShowIsNotAnError", conformKnownJobWithNothingToShowIsNotAnError},
	{"StatusCountsPerOutcomeAndCode", conformStatusCountsPerOutcomeAndCode},
	{"StatusCountsRecordsWithoutAUserApart", conformStatusCountsRecordsWithoutAUserApart},
	{"BulkIDRoundTripsAndARowWithoutOneClearsIt", conformBulkIDRoundTripsAndARowWithoutOneClearsIt},
	{"SubmittedGivesTheJobsSubmittedRowsByBatch", conformSubmittedGivesTheJobsSubmittedRowsByBatch},
	{"SubmittedStreamsWhileTheBatchesAreAnsweredAndStopsWithFnsError", conformSubmittedStreamsWhileTheBatchesAreAnsweredAndStopsWithFnsError},
	{"JobsListsEveryJobByNameWithItsCountsAndNewestRun", conformJobsListsEveryJobByNameWithItsCountsAndNewestRun},
	{"FailuresFiltersByOutcomeInKeyOrder", conformFailuresFiltersByOutcomeInKeyOrder},
	{"FailuresStopsWithFnsError", conformFailuresStopsWithFnsError},
	{"FailuresStreamsWhileTheStoreIsUsed", conformFailuresStreamsWhileTheStoreIsUsed},
	{"DeleteKeysRemovesOnlyThePrefix", conformDeleteKeysRemovesOnlyThePrefix},
	{"Write10000RowsInOneCall", conformWrite10000RowsInOneCall},
	{"UpdatedAtIsNowWhenZeroAndUTCAlways", conformUpdatedAtIsNowWhenZeroAndUTCAlways},
	{"RowsSurviveCloseAndReopen", conformRowsSurviveCloseAndReopen},
	{"ClosedStoreReturnsErrors", conformClosedStoreReturnsErrors},
	{"CancelledContextIsReportedAsSuch", conformCancelledContextIsReportedAsSuch},
	{"WatermarkOfAJobWithoutOneIsNotFound", conformWatermarkOfAJobWithoutOneIsNotFound},
	{"WatermarkRoundTripsInUTCToTheMicrosecond", conformWatermarkRoundTripsInUTCToTheMicrosecond},
	{"SetWatermarkOverwrites", conformSetWatermarkOverwrites},
	{"WatermarksOfJobsAreIsolated", conformWatermarksOfJobsAreIsolated},
	{"WatermarksOfShardsAreIsolated", conformWatermarksOfShardsAreIsolated},
	{"WatermarkSurvivesCloseAndReopen", conformWatermarkSurvivesCloseAndReopen},
	{"SetWatermarkRejectsWhatItCannotKeep", conformSetWatermarkRejectsWhatItCannotKeep},
	{"HashKeyOfAJobWithoutOneIsNotFound", conformHashKeyOfAJobWithoutOneIsNotFound},
	{"SetHashKeyOverwritesPerJob", conformSetHashKeyOverwritesPerJob},
	{"SetHashKeyRejectsWhatItCannotKeep", conformSetHashKeyRejectsWhatItCannotKeep},
	{"SelectFiltersByOutcomesAndCodesInKeyOrder", conformSelectFiltersByOutcomesAndCodesInKeyOrder},
	{"SelectOfAnUnknownJobIsNotFound", conformSelectOfAnUnknownJobIsNotFound},
	{"SelectStopsWithFnsError", conformSelectStopsWithFnsError},
	{"ConcurrentReadersAndWritersInSeveralProcesses", conformConcurrentReadersAndWritersInSeveralProcesses},
	{"LeaseIsRefusedAtOnceNamingItsHolder", conformLeaseIsRefusedAtOnceNamingItsHolder},
	{"LeaseReleasedIsTakenByTheNext", conformLeaseReleasedIsTakenByTheNext},
	{"LeasesOfOtherJobsAndShardsAreIndependent", conformLeasesOfOtherJobsAndShardsAreIndependent},
	{"LeaseDefaultsItsHolderToThisProcess", conformLeaseDefaultsItsHolderToThisProcess},
	{"LeaseRejectsWhatItCannotName", conformLeaseRejectsWhatItCannotName},
	{"LeaseBeforeMigrateFailsAndLeavesTheLeaseFree", conformLeaseBeforeMigrateFailsAndLeavesTheLeaseFree},
	{"LeaseDiesWithItsProcess", conformLeaseDiesWithItsProcess},
}

// conformer makes the checkpoints of one kind of store for the conformance tests.
type conformer struct {
	dialect  string      // the migrations' dialect
	location newLocation // a fresh, empty checkpoint
}

// open opens the checkpoint at dsn and closes it when the test ends.
func (c conformer) open(t *testing.T, dsn string, opts Options) Store {
	t.Helper()
	s, err := Open(context.Background(), dsn, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// fresh opens a new, migrated checkpoint.
func (c conformer) fresh(t *testing.T) Store {
	t.Helper()
	dsn, opts := c.location(t)
	s := c.open(t, dsn, opts)
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

// twice opens a new, migrated checkpoint twice, as two processes would.
func (c conformer) twice(t *testing.T) (first, second Store) {
	t.Helper()
	dsn, opts := c.location(t)
	first = c.open(t, dsn, opts)
	require.NoError(t, first.Migrate(context.Background()))
	return first, c.open(t, dsn, opts)
}

// written opens a new, migrated checkpoint that holds rows.
func (c conformer) written(t *testing.T, rows []Row) Store {
	t.Helper()
	s := c.fresh(t)
	require.NoError(t, s.Write(context.Background(), rows))
	return s
}

// reopened opens a new, migrated checkpoint, gives it to write, closes it, and opens the same
// checkpoint again, as the next process would.
func (c conformer) reopened(t *testing.T, write func(s Store)) Store {
	t.Helper()
	dsn, opts := c.location(t)
	s, err := Open(context.Background(), dsn, opts)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	write(s)
	require.NoError(t, s.Close())
	return c.open(t, dsn, opts)
}

// upgraded makes a checkpoint as an older druid-migrate, which knew the migrations up to version
// from only, made it, gives it to write, closes it, then opens it with this one and migrates
// it, checking that every migration is then applied.
func (c conformer) upgraded(t *testing.T, from int, write func(old Store)) Store {
	t.Helper()
	ctx := context.Background()
	dsn, opts := c.location(t)
	old := c.open(t, dsn, opts)
	require.NoError(t, old.(upgrader).migrateTo(ctx, from))
	write(old)
	require.NoError(t, old.Close())

	// This binary opens the same checkpoint.
	s := c.open(t, dsn, opts)
	require.NoError(t, s.Migrate(ctx))
	require.Equal(t, c.allVersions(t), versions(t, s))
	return s
}

// withRunAndRow opens a new checkpoint in which the job "nightly" has a run, whose id it
// returns, and the row of one user, and nothing else.
func (c conformer) withRunAndRow(t *testing.T) (Store, int64) {
	t.Helper()
	ctx := context.Background()
	s := c.fresh(t)
	id, err := s.StartRun(ctx, "nightly", "run", "")
	require.NoError(t, err)
	require.NoError(t, s.Write(ctx, []Row{row("nightly", "ana", "updated", 200)}))
	return s, id
}

// jobsOfEveryKind are the jobs a look-up may name in withRunAndRow's checkpoint: the job with a
// run and a row, one never seen, and names no row can hold.
var jobsOfEveryKind = []string{"nightly", "never-ran", "", "bad\xff", "n\x00ul"}

// allVersions lists the versions of every migration of the dialect.
func (c conformer) allVersions(t *testing.T) []int {
	t.Helper()
	all, err := migrations.Files(c.dialect)
	require.NoError(t, err)
	var v []int
	for _, m := range all {
		v = append(v, m.Version)
	}
	return v
}

func conformMigrateTwiceIsANoOp(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	require.NoError(t, s.Write(ctx, []Row{row("job", "ana", "updated", 200)}))

	require.NoError(t, s.Migrate(ctx))

	got, err := s.Prior(ctx, "job", []string{"ana"})
	require.NoError(t, err)
	require.Contains(t, got, "ana", "a second Migrate lost the data")
	require.Equal(t, c.allVersions(t), versions(t, s))
}

func conformConcurrentMigrateFromSeveralProcesses(t *testing.T, c conformer) {
	dsn, opts := c.location(t)
	const processes = 4
	stores := make([]Store, processes)
	errs := make([]error, processes)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range processes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			s, err := Open(context.Background(), dsn, opts)
			if err != nil {
				errs[i] = err
				return
			}
			stores[i] = s
			errs[i] = s.Migrate(context.Background())
		}()
	}
	close(start)
	wg.Wait()
	for _, s := range stores {
		if s != nil {
			t.Cleanup(func() { _ = s.Close() })
		}
	}
	for i, err := range errs {
		require.NoError(t, err, "process %d", i)
	}
	require.Equal(t, c.allVersions(t), versions(t, stores[0]), "each migration recorded once")
}

func conformOperationsBeforeMigrateFail(t *testing.T, c conformer) {
	dsn, opts := c.location(t)
	s := c.open(t, dsn, opts)
	_, err := s.Prior(context.Background(), "job", []string{"ana"})
	require.Error(t, err)
	require.Error(t, s.Write(context.Background(), []Row{row("job", "ana", "updated", 200)}))
	// A missing table is not a job without a watermark: that would read the whole source
	// and then fail to record where it got to.
	_, err = s.Watermark(context.Background(), "job", "")
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrNotFound)
	// Nor is it a job without a hash key: the run would say the key changed.
	_, err = s.HashKey(context.Background(), "job")
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrNotFound)
	// Nor is a missing table a run without backups: rollback would report nothing to do.
	require.Error(t, s.SaveBackups(context.Background(), []Backup{backup("job", 1, "ana")}))
	err = s.Backups(context.Background(), "job", 1, func(Backup) error { return nil })
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrNotFound)
}

func conformUpgradeFromVersion1KeepsTheData(t *testing.T, c conformer) {
	ctx := context.Background()
	// What an older druid-migrate wrote: outcomes and a finished run, the first run, 1.
	const id = 1
	written := []Row{
		row("nightly", "ana", "updated", 200),
		row("nightly", "bob", "rejected", 416),
		row("nightly", "carla", "failed", 503),
	}
	s := c.upgraded(t, 1, func(old Store) {
		require.Equal(t, []int{1}, versions(t, old))
		oldRun(t, old, "nightly", "run", time.Now(), time.Now(), Counts{Read: 3, Updated: 1, Rejected: 1, Failed: 1}, 1)
		oldRows(t, old, written...)
		_, err := old.Watermark(ctx, "nightly", "")
		require.Error(t, err, "version 1 has no watermarks")
	})

	require.Equal(t, written, selectRows(t, s, "nightly", Filter{}))
	require.Equal(t, written[1:2], selectRows(t, s, "nightly", Filter{Outcomes: []string{"failed", "rejected"}, Codes: []int{416}}))
	runs, err := s.Runs(ctx, "nightly")
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, int64(id), runs[0].ID)
	require.Equal(t, Counts{Read: 3, Updated: 1, Rejected: 1, Failed: 1}, runs[0].Counts)
	require.Equal(t, []StatusCount{
		{Outcome: "failed", StatusCode: 503, Users: 1},
		{Outcome: "rejected", StatusCode: 416, Users: 1},
		{Outcome: "updated", StatusCode: 200, Users: 1},
	}, status(t, s, "nightly"))

	_, err = s.Watermark(ctx, "nightly", "")
	require.ErrorIs(t, err, ErrNotFound)
	w := Watermark{Column: "updated_at", Value: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC), RunID: id}
	require.NoError(t, s.SetWatermark(ctx, "nightly", "", w))
	require.Equal(t, w, watermark(t, s, "nightly", ""))
	require.NoError(t, s.Write(ctx, []Row{row("nightly", "dora", "updated", 200)}))
}

func conformUpgradeFromVersion2KeepsTheData(t *testing.T, c conformer) {
	ctx := context.Background()
	// What a druid-migrate without backups wrote: outcomes, a finished run (the first, 1) and a
	// watermark.
	const id = 1
	written := []Row{row("nightly", "ana", "updated", 200), row("nightly", "bob", "rejected", 416)}
	w := Watermark{Column: "updated_at", Value: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC), RunID: id}
	s := c.upgraded(t, 2, func(old Store) {
		oldRun(t, old, "nightly", "run", time.Now(), time.Now(), Counts{Read: 2, Updated: 1, Rejected: 1}, 1)
		oldRows(t, old, written...)
		oldWatermark(t, old, "nightly", w)
		require.Error(t, old.SaveBackups(ctx, []Backup{backup("nightly", id, "ana")}), "version 2 has no backups")
	})

	require.Equal(t, written, selectRows(t, s, "nightly", Filter{}))
	runs, err := s.Runs(ctx, "nightly")
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, Counts{Read: 2, Updated: 1, Rejected: 1}, runs[0].Counts)
	require.Equal(t, w, watermark(t, s, "nightly", ""))

	// The runs before the upgrade have no backups; the next ones can have them.
	err = s.Backups(ctx, "nightly", id, func(Backup) error { return nil })
	require.ErrorIs(t, err, ErrNotFound)
	next, err := s.StartRun(ctx, "nightly", "run", "")
	require.NoError(t, err)
	saved := []Backup{backup("nightly", next, "ana")}
	require.NoError(t, s.SaveBackups(ctx, saved))
	require.Equal(t, saved, backups(t, s, "nightly", next))
}

func conformBackupsRoundTripByteForByteInKeyOrder(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	// States as DRUID may spell them: what jsonb or a re-encoding would rewrite must survive.
	states := map[string]string{
		"ana":     `{"z":1,"a":[true,null],"name":"Ana"}`,
		"Bea":     "{\n  \"name\" : \"Bea\",\t\"n\": 1.50e+2 }\n",
		"carla":   `{"a":1,"a":2}`,
		"José":    `{"name":"José 🙂 日本語","escaped":"\u00e9\u0000\"\\"}`,
		"O'Brien": `"just a string"`,
		"#line 1": `[]`,
		"zoë":     `{"big":123456789012345678901234567890}`,
	}
	created := time.Date(2024, 10, 22, 23, 30, 0, 123456789, time.FixedZone("CEST", 2*60*60))
	var saved []Backup
	for key, state := range states {
		saved = append(saved, Backup{Job: "job", RunID: 7, Key: key, ObjectID: "obj-" + key,
			State: []byte(state), CreatedAt: created})
	}
	noObject := Backup{Job: "job", RunID: 7, Key: "eva", State: []byte(`{}`)}
	saved = append(saved, noObject)
	before := time.Now().Add(-time.Second)
	require.NoError(t, s.SaveBackups(ctx, saved))
	after := time.Now().Add(time.Second)

	got := backups(t, s, "job", 7)
	var keys []string
	for _, b := range got {
		keys = append(keys, b.Key)
	}
	want := append(slices.Collect(maps.Keys(states)), "eva")
	sort.Strings(want) // byte order, whatever the database's collation
	require.Equal(t, want, keys)
	for _, b := range got {
		require.Equal(t, "job", b.Job)
		require.Equal(t, int64(7), b.RunID)
		require.Equal(t, time.UTC, b.CreatedAt.Location())
		if b.Key == "eva" {
			require.Empty(t, b.ObjectID)
			require.Equal(t, `{}`, string(b.State))
			require.True(t, b.CreatedAt.After(before) && b.CreatedAt.Before(after), "zero CreatedAt stored as %v", b.CreatedAt)
			continue
		}
		require.Equal(t, "obj-"+b.Key, b.ObjectID)
		require.Equal(t, states[b.Key], string(b.State), "user %q", b.Key)
		require.Equal(t, time.Date(2024, 10, 22, 21, 30, 0, 123456000, time.UTC), b.CreatedAt)
	}
	require.True(t, noObject.CreatedAt.IsZero(), "SaveBackups must not modify its argument")
}

func conformSaveBackupsKeepsTheFirstState(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	first := backup("job", 1, "ana")
	require.NoError(t, s.SaveBackups(ctx, []Backup{first}))

	// Read again after the run updated the user: not the state to restore.
	later := first
	later.State, later.ObjectID = []byte(`{"name":"after the update"}`), "obj-2"
	bob1, bob2 := backup("job", 1, "bob"), backup("job", 1, "bob")
	bob2.State = []byte(`{"name":"bob, second"}`)
	require.NoError(t, s.SaveBackups(ctx, []Backup{later, bob1, bob2}))

	require.Equal(t, []Backup{first, bob1}, backups(t, s, "job", 1))
}

func conformBackupsOfRunsAndJobsAreIsolated(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	nightly1 := []Backup{backup("nightly", 1, "ana"), backup("nightly", 1, "bob")}
	nightly2 := []Backup{withState(backup("nightly", 2, "ana"), `{"run":2}`)}
	backfill1 := []Backup{withState(backup("backfill", 1, "ana"), `{"job":"backfill"}`)}
	require.NoError(t, s.SaveBackups(ctx, append(append(slices.Clone(nightly1), nightly2...), backfill1...)))

	require.Equal(t, nightly1, backups(t, s, "nightly", 1))
	require.Equal(t, nightly2, backups(t, s, "nightly", 2))
	require.Equal(t, backfill1, backups(t, s, "backfill", 1))
	err := s.Backups(ctx, "backfill", 2, func(Backup) error { return nil })
	require.ErrorIs(t, err, ErrNotFound)
	err = s.Backups(ctx, "Nightly", 1, func(Backup) error { return nil })
	require.ErrorIs(t, err, ErrNotFound, "job names are compared byte for byte")
}

func conformBackupsOfARunWithoutAnyAreNotFound(t *testing.T, c conformer) {
	ctx := context.Background()
	// A run that backed nothing up (no --backup, or nothing changed) has nothing to roll back.
	s, id := c.withRunAndRow(t)
	for _, job := range jobsOfEveryKind {
		err := s.Backups(ctx, job, id, func(Backup) error {
			t.Fatal("fn called")
			return nil
		})
		require.ErrorIs(t, err, ErrNotFound, "job %q", job)
	}
	err := s.Backups(ctx, "nightly", id, func(Backup) error { return nil })
	require.ErrorContains(t, err, fmt.Sprintf(`run %d of job "nightly"`, id))
}

func conformSaveBackupsRejectsWhatItCannotKeep(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	tests := []struct {
		name, wantErr string
		b             Backup
	}{
		{"state not JSON", "not valid JSON", withState(backup("job", 1, "ana"), `{"name":`)},
		{"empty state", "not valid JSON", withState(backup("job", 1, "ana"), ``)},
		{"state not UTF-8", "not valid UTF-8", withState(backup("job", 1, "ana"), "{\"name\":\"\xff\"}")},
		{"key with NUL", "NUL", backup("job", 1, "an\x00a")},
		{"job not UTF-8", "not valid UTF-8", backup("j\xffob", 1, "ana")},
		{"object id not UTF-8", "object id", func() Backup { b := backup("job", 1, "ana"); b.ObjectID = "o\xff"; return b }()},
		{"no run", "run id 0", backup("job", 0, "ana")},
		{"five-digit year", "outside years", func() Backup {
			b := backup("job", 1, "ana")
			b.CreatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
			return b
		}()},
	}
	for _, tt := range tests {
		err := s.SaveBackups(ctx, []Backup{backup("job", 1, "bob"), tt.b})
		require.ErrorContains(t, err, tt.wantErr, tt.name)
		require.ErrorContains(t, err, "save 2 backups", tt.name)
		require.ErrorContains(t, err, fmt.Sprintf("user %q", tt.b.Key), tt.name)
	}
	err := s.Backups(ctx, "job", 1, func(Backup) error { return nil })
	require.ErrorIs(t, err, ErrNotFound, "a rejected call must write nothing")
	require.NoError(t, s.SaveBackups(ctx, nil))
}

func conformSaveBackups5000InOneCall(t *testing.T, c conformer) {
	s := c.fresh(t)
	saved := numberedBackups("job", 3, "user-%05d", 5000)
	require.NoError(t, s.SaveBackups(context.Background(), saved))
	require.Equal(t, saved, backups(t, s, "job", 3))
}

func conformBackupsStreamWhileTheStoreIsUsedAndStopWithFnsError(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	require.NoError(t, s.SaveBackups(ctx, numberedBackups("job", 1, "u%04d", 1000)))

	// rollback writes each user's outcome while it reads the backups.
	seen := 0
	err := s.Backups(ctx, "job", 1, func(b Backup) error {
		seen++
		if seen%250 == 1 {
			if err := s.Write(ctx, []Row{row("job", b.Key, "updated", 200)}); err != nil {
				return err
			}
			return s.SaveBackups(ctx, []Backup{backup("job", 2, b.Key)})
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 1000, seen)
	require.Len(t, backups(t, s, "job", 2), 4)

	requireStopsWithFnsError(t, func(fn func() error) error {
		return s.Backups(ctx, "job", 1, func(Backup) error { return fn() })
	})
	require.Len(t, backups(t, s, "job", 1), 1000, "the cursor was released")
}

func conformBackupsSurviveCloseAndReopen(t *testing.T, c conformer) {
	saved := []Backup{backup("job", 1, "ana"), backup("job", 1, "bob")}
	s := c.reopened(t, func(s Store) {
		require.NoError(t, s.SaveBackups(context.Background(), saved))
	})
	require.Equal(t, saved, backups(t, s, "job", 1))
}

func conformWriteThenPriorAndFailuresReturnTheRow(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	want := Row{
		Job: "job", Key: "ana", StatusCode: 416, Outcome: "rejected", Attempts: 3,
		PayloadHash: "hash-1", Error: "ids.email: bad format", RunID: 7,
		UpdatedAt: time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC),
	}
	require.NoError(t, s.Write(ctx, []Row{want}))

	got, err := s.Prior(ctx, "job", []string{"ana"})
	require.NoError(t, err)
	require.Equal(t, map[string]Prior{"ana": {Outcome: "rejected", PayloadHash: "hash-1", StatusCode: 416}}, got)
	require.Equal(t, []Row{want}, failures(t, s, "job", "rejected"))
}

func conformHasUsersOnlyOnceTheJobHasARow(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	has := func(job string) bool {
		t.Helper()
		ok, err := s.HasUsers(ctx, job)
		require.NoError(t, err)
		return ok
	}
	require.False(t, has("job"), "a new checkpoint")
	_, err := s.StartRun(ctx, "job", "run", "")
	require.NoError(t, err)
	require.False(t, has("job"), "a run without outcomes holds no user")

	require.NoError(t, s.Write(ctx, []Row{row("job", "#line 3", "invalid", 0)}))
	require.True(t, has("job"), "an invalid record is a row like any other")
	require.False(t, has("jo"), "jobs are isolated")
	require.False(t, has("job2"), "jobs are isolated")

	require.NoError(t, s.DeleteKeys(ctx, "job", "#line "))
	require.False(t, has("job"), "once its only row is deleted")
	require.NoError(t, s.Write(ctx, []Row{row("job", "ana", "failed", 503)}))
	require.True(t, has("job"), "a failed user")
}

func conformEmptyHashAndErrorRoundTrip(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	r := row("job", "ana", "updated", 200)
	r.PayloadHash, r.Error = "", ""
	require.NoError(t, s.Write(ctx, []Row{r}))
	got := failures(t, s, "job", "updated")
	require.Len(t, got, 1)
	require.Empty(t, got[0].PayloadHash)
	require.Empty(t, got[0].Error)
}

func conformUpsertReplacesEveryField(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	first := Row{Job: "job", Key: "ana", StatusCode: 503, Outcome: "failed", Attempts: 6,
		PayloadHash: "h1", Error: "503 Service Unavailable", RunID: 1}
	second := Row{Job: "job", Key: "ana", StatusCode: 200, Outcome: "updated", Attempts: 1,
		PayloadHash: "h2", RunID: 2, UpdatedAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	require.NoError(t, s.Write(ctx, []Row{first}))
	require.NoError(t, s.Write(ctx, []Row{second}))

	require.Empty(t, failures(t, s, "job", "failed"))
	require.Equal(t, []Row{second}, failures(t, s, "job", "updated"), "the error of the failed try must be gone")
}

func conformSameKeyTwiceInOneWriteLastWins(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	rows := []Row{
		row("job", "ana", "failed", 503),
		row("job", "bob", "updated", 200),
		row("job", "ana", "rejected", 404),
		row("job", "ana", "partial", 206),
	}
	require.NoError(t, s.Write(ctx, rows))
	got, err := s.Prior(ctx, "job", []string{"ana", "bob"})
	require.NoError(t, err)
	require.Equal(t, "partial", got["ana"].Outcome)
	require.Equal(t, 206, got["ana"].StatusCode)
	require.Equal(t, "updated", got["bob"].Outcome)
	require.Equal(t, "job", rows[0].Job, "Write must not modify its argument")
}

func conformPriorOf5000KeysInOneCall(t *testing.T, c conformer) {
	rows := numbered("job", "user-%05d", 5000, "updated", 200)
	s := c.written(t, rows)
	keys := keysOf(rows)
	for i := range 100 {
		keys = append(keys, fmt.Sprintf("stranger-%d", i))
	}

	got, err := s.Prior(context.Background(), "job", keys)
	require.NoError(t, err)
	require.Len(t, got, 5000)
	require.Equal(t, Prior{Outcome: "updated", PayloadHash: "hash-user-04999", StatusCode: 200}, got["user-04999"])
}

func conformUnknownKeysAreAbsent(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	require.NoError(t, s.Write(ctx, []Row{row("job", "ana", "updated", 200)}))
	for _, keys := range [][]string{nil, {}, {"bob"}, {"ana\xff"}, {"an\x00a"}} {
		got, err := s.Prior(ctx, "job", keys)
		require.NoError(t, err, "keys %q", keys)
		require.NotNil(t, got)
		require.Empty(t, got, "keys %q", keys)
	}
}

func conformAwkwardKeysRoundTripAndSortByBytes(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	keys := []string{
		`O'Brien`, `"quoted"`, `back\slash`, `50%_off`, `%`, `_`, `a_b`, `a%b`, ` padded `,
		"tab\there", "new\nline", "José", "ÁLVARO", "zoë", "日本語", "🙂", "Z", "a", "#line 1",
		"'; DROP TABLE migration_status; --", "",
	}
	var rows []Row
	for _, k := range keys {
		rows = append(rows, row("job", k, "failed", 500))
	}
	require.NoError(t, s.Write(ctx, rows))

	got, err := s.Prior(ctx, "job", keys)
	require.NoError(t, err)
	require.Len(t, got, len(keys))
	for _, k := range keys {
		require.Contains(t, got, k)
	}
	want := append([]string(nil), keys...)
	sort.Strings(want) // byte order, whatever the database's collation
	require.Equal(t, want, keysOf(failures(t, s, "job", "failed")))
}

// A row that cannot be kept is the row's fault, not an outage: the others are written, and the
// error lists it, with a reason, every time it is written again.
func conformRowsThatCannotBeKeptAreRefusedAndTheOthersWritten(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	long := longKey(10 << 10)
	rows := []Row{
		row("job", "ana", "updated", 200),
		row("job", "M\xfcller", "updated", 200), // Latin-1
		row("job", "bob", "updated", 200),
		row("job", long, "updated", 200),
		row("job", "n\x00ul", "failed", 503),
		row("job\xff", "carla", "updated", 200),
		row("job", "dora", "rejected", 416),
	}
	for attempt := 1; attempt <= 2; attempt++ {
		err := s.Write(ctx, rows)
		require.ErrorIs(t, err, ErrRowRefused, "attempt %d", attempt)
		require.NotErrorIs(t, err, ErrUnavailable, "attempt %d", attempt)
		var refused *RowsRefused
		require.ErrorAs(t, err, &refused, "attempt %d", attempt)
		byIndex := map[int]RefusedRow{}
		for _, r := range refused.Rows {
			require.Equal(t, rows[r.Index].Key, r.Key)
			require.NotEmpty(t, r.Reason)
			require.NotContains(t, r.Reason, rows[r.Index].Key, "the reason quotes no key")
			byIndex[r.Index] = r
		}
		require.Contains(t, byIndex[1].Reason, "not valid UTF-8")
		require.Contains(t, byIndex[4].Reason, "NUL")
		require.Contains(t, byIndex[5].Reason, "job")
		require.Less(t, len(err.Error()), 1000, "the message cuts long keys")

		durable, err := s.Prior(ctx, "job", []string{"ana", "bob", "dora", long})
		require.NoError(t, err)
		for _, k := range []string{"ana", "bob", "dora"} {
			require.Contains(t, durable, k, "attempt %d: a good row was not written", attempt)
		}
		// SQLite keeps a 10 KB key; Postgres's index cannot. Either way it is written or
		// refused, never lost without a word.
		_, written := durable[long]
		_, listed := byIndex[3]
		require.True(t, written != listed, "the long key is written %v, refused %v", written, listed)
		require.Len(t, refused.Rows, 3+btoi(listed))
	}
	got, err := s.Prior(ctx, "job", []string{"M\xfcller", "n\x00ul"})
	require.NoError(t, err)
	require.Empty(t, got)
}

// Refused rows are listed by their place in the call, every copy of a key refused with it, and
// a call whose rows are all refused writes nothing and says so.
func conformEveryRowRefusedWritesNothing(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	rows := []Row{row("job", "a\xff", "updated", 200), row("job", "b\x00", "updated", 200),
		row("job", "a\xff", "failed", 503)}
	err := s.Write(ctx, rows)
	var refused *RowsRefused
	require.ErrorAs(t, err, &refused)
	require.Equal(t, []int{0, 1, 2}, refusedIndexes(refused))
	require.ErrorContains(t, err, "write 3 outcomes: 3 refused: ")
	has, err := s.HasUsers(ctx, "job")
	require.NoError(t, err)
	require.False(t, has)
}

func conformErrorTextIsStoredEvenWithBadBytes(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	r := row("job", "ana", "rejected", 400)
	r.Error = "bad \xff byte and a \x00 NUL"
	require.NoError(t, s.Write(ctx, []Row{r}))
	got := failures(t, s, "job", "rejected")
	require.Len(t, got, 1)
	require.Equal(t, "bad \uFFFD byte and a  NUL", got[0].Error)
}

func conformJobsAreIsolated(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	require.NoError(t, s.Write(ctx, []Row{
		row("nightly", "ana", "updated", 200),
		row("nightly", "#line 2", "invalid", 0),
		row("backfill", "ana", "failed", 503),
		row("backfill", "#line 2", "invalid", 0),
	}))

	got, err := s.Prior(ctx, "nightly", []string{"ana"})
	require.NoError(t, err)
	require.Equal(t, "updated", got["ana"].Outcome)
	got, err = s.Prior(ctx, "backfill", []string{"ana"})
	require.NoError(t, err)
	require.Equal(t, "failed", got["ana"].Outcome)

	require.Equal(t, []StatusCount{
		{Outcome: "invalid", StatusCode: 0, Users: 1, Keyless: true},
		{Outcome: "updated", StatusCode: 200, Users: 1},
	}, status(t, s, "nightly"))
	require.Empty(t, failures(t, s, "nightly", "failed"))

	require.NoError(t, s.DeleteKeys(ctx, "nightly", "#line "))
	got, err = s.Prior(ctx, "backfill", []string{"#line 2"})
	require.NoError(t, err)
	require.Contains(t, got, "#line 2", "DeleteKeys reached into another job")
}

func conformRunsRoundTripNewestFirst(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	before := time.Now().Add(-time.Second)
	first, err := s.StartRun(ctx, "job", "run", "")
	require.NoError(t, err)
	second, err := s.StartRun(ctx, "job", "retry", "")
	require.NoError(t, err)
	other, err := s.StartRun(ctx, "other", "run", "")
	require.NoError(t, err)
	require.Greater(t, second, first)
	require.Greater(t, other, second)

	counts := Counts{Read: 1_000_000, Skipped: 2, Updated: 3, Partial: 4, Unchanged: 5, Invalid: 6, Rejected: 7, Failed: 8}
	require.NoError(t, s.FinishRun(ctx, first, counts, 1))
	after := time.Now().Add(time.Second)

	runs, err := s.Runs(ctx, "job")
	require.NoError(t, err)
	require.Len(t, runs, 2)

	require.Equal(t, second, runs[0].ID)
	require.Equal(t, "retry", runs[0].Command)
	require.Nil(t, runs[0].FinishedAt, "an unfinished run has no end")
	require.Nil(t, runs[0].ExitCode)
	require.Equal(t, Counts{}, runs[0].Counts)

	require.Equal(t, first, runs[1].ID)
	require.Equal(t, "job", runs[1].Job)
	require.Equal(t, "run", runs[1].Command)
	require.Equal(t, counts, runs[1].Counts)
	require.NotNil(t, runs[1].ExitCode)
	require.Equal(t, 1, *runs[1].ExitCode)
	require.NotNil(t, runs[1].FinishedAt)
	for _, tm := range []time.Time{runs[1].StartedAt, *runs[1].FinishedAt} {
		require.Equal(t, time.UTC, tm.Location())
		require.True(t, tm.After(before) && tm.Before(after), "%v not between %v and %v", tm, before, after)
	}
	require.False(t, runs[1].FinishedAt.Before(runs[1].StartedAt))
}

func conformRunsOfEveryShardWithTheirShard(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	whole := started(t, s, "job", "run", "")
	first := started(t, s, "job", "run", "0/2")
	second := started(t, s, "job", "retry", "1/2")
	started(t, s, "other", "run", "0/2")
	require.NoError(t, s.FinishRun(ctx, first, Counts{Read: 1, Updated: 1}, 0))

	runs, err := s.Runs(ctx, "job")
	require.NoError(t, err)
	type ran struct {
		id             int64
		command, shard string
	}
	var got []ran
	for _, r := range runs {
		got = append(got, ran{r.ID, r.Command, r.Shard})
	}
	require.Equal(t, []ran{{second, "retry", "1/2"}, {first, "run", "0/2"}, {whole, "run", ""}}, got,
		"every run of the job, newest first, whatever its shard")
	require.Equal(t, Counts{Read: 1, Updated: 1}, runs[1].Counts)

	_, err = s.StartRun(ctx, "job", "run", "1/2\xff")
	require.ErrorContains(t, err, "shard")
	runs, err = s.Runs(ctx, "job")
	require.NoError(t, err)
	require.Len(t, runs, 3, "a run whose shard cannot be kept is not recorded")
}

func conformAbandonRunsEndsTheUnendedRunsOfItsJobAndShard(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	ended := started(t, s, "job", "run", "")
	require.NoError(t, s.FinishRun(ctx, ended, Counts{Read: 1, Updated: 1}, 0))
	killed := started(t, s, "job", "run", "")   // wrote outcomes, then died
	silent := started(t, s, "job", "run", "")   // died before its first outcome
	shard := started(t, s, "job", "run", "0/2") // another shard's, maybe running
	other := started(t, s, "other", "run", "")  // another job's
	last := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	outcome := func(key string, runID int64, at time.Time) Row {
		r := row("job", key, "updated", 200)
		r.RunID, r.UpdatedAt = runID, at
		return r
	}
	require.NoError(t, s.Write(ctx, []Row{
		outcome("ana", killed, last.Add(-time.Minute)),
		outcome("bob", killed, last),
		outcome("carla", killed, last.Add(-time.Second)),
		outcome("dora", shard, last.Add(time.Minute)),
		outcome("eva", ended, last.Add(2*time.Minute)),
	}))
	before, err := s.Runs(ctx, "job")
	require.NoError(t, err)

	n, err := s.AbandonRuns(ctx, "job", "")
	require.NoError(t, err)
	require.EqualValues(t, 2, n)

	byID := func(job string) map[int64]Run {
		t.Helper()
		runs, err := s.Runs(ctx, job)
		require.NoError(t, err)
		out := map[int64]Run{}
		for _, r := range runs {
			out[r.ID] = r
		}
		return out
	}
	runs := byID("job")
	was := map[int64]Run{}
	for _, r := range before {
		was[r.ID] = r
	}
	require.Equal(t, was[ended], runs[ended], "a run that recorded its end keeps it")
	require.Equal(t, was[shard], runs[shard], "another shard's run is not this shard's to end")
	require.Nil(t, byID("other")[other].FinishedAt, "another job's run is not this job's to end")
	for id, want := range map[int64]time.Time{killed: last, silent: runs[silent].StartedAt} {
		r := runs[id]
		require.NotNil(t, r.FinishedAt, "run %d", id)
		require.Equal(t, want, *r.FinishedAt, "run %d ends with its last outcome, or its start", id)
		require.Nil(t, r.ExitCode, "run %d: an end without a record has no exit code", id)
		require.Equal(t, Counts{}, r.Counts, "run %d", id)
	}

	n, err = s.AbandonRuns(ctx, "job", "")
	require.NoError(t, err)
	require.Zero(t, n, "runs already ended are left as they are")
	n, err = s.AbandonRuns(ctx, "job", "0/2")
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	require.Equal(t, last.Add(time.Minute), *byID("job")[shard].FinishedAt)
	for _, job := range jobsOfEveryKind {
		_, err := s.AbandonRuns(ctx, job, "\xff")
		require.NoError(t, err, "job %q", job)
	}
}

func conformFinishRunOfUnknownRunIsNotFound(t *testing.T, c conformer) {
	s := c.fresh(t)
	err := s.FinishRun(context.Background(), 424242, Counts{}, 0)
	require.ErrorIs(t, err, ErrNotFound)
}

func conformUnknownJobIsNotFound(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	require.NoError(t, s.Write(ctx, []Row{row("job", "ana", "updated", 200)}))

	_, err := s.Runs(ctx, "jbo")
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorContains(t, err, `"jbo"`)
	_, err = s.Status(ctx, "jbo")
	require.ErrorIs(t, err, ErrNotFound)
	err = s.Failures(ctx, "jbo", []string{"failed"}, func(Row) error { return nil })
	require.ErrorIs(t, err, ErrNotFound)
}

func conformKnownJobWithNothingToShowIsNotAnError(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	_, err := s.StartRun(ctx, "started", "run", "") // a run that read an empty source
	require.NoError(t, err)
	require.NoError(t, s.Write(ctx, []Row{row("written", "ana", "updated", 200)}))

	require.Empty(t, status(t, s, "started"))
	runs, err := s.Runs(ctx, "written")
	require.NoError(t, err)
	require.Empty(t, runs)
	require.Empty(t, failures(t, s, "written", "failed"))
	require.Empty(t, failures(t, s, "written"), "no outcomes asked, none given")
}

func conformStatusCountsPerOutcomeAndCode(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	var rows []Row
	add := func(n int, outcome string, code int) {
		for range n {
			rows = append(rows, row("job", fmt.Sprintf("u%d", len(rows)), outcome, code))
		}
	}
	add(5, "updated", 200)
	add(2, "rejected", 416)
	add(1, "rejected", 404)
	add(3, "failed", 503)
	add(1, "failed", 0)
	add(4, "unchanged", 304)
	add(2, "invalid", 0)
	add(1, "partial", 206)
	require.NoError(t, s.Write(ctx, rows))

	require.Equal(t, []StatusCount{
		{Outcome: "failed", StatusCode: 0, Users: 1}, {Outcome: "failed", StatusCode: 503, Users: 3},
		{Outcome: "invalid", StatusCode: 0, Users: 2},
		{Outcome: "partial", StatusCode: 206, Users: 1},
		{Outcome: "rejected", StatusCode: 404, Users: 1}, {Outcome: "rejected", StatusCode: 416, Users: 2},
		{Outcome: "unchanged", StatusCode: 304, Users: 4},
		{Outcome: "updated", StatusCode: 200, Users: 5},
	}, status(t, s, "job"))
}

func conformStatusCountsRecordsWithoutAUserApart(t *testing.T, c conformer) {
	s := c.written(t, []Row{
		row("job", "ana", "updated", 200),
		row("job", "bob", "invalid", 0),
		row("job", KeylessPrefix+"4", "invalid", 0),
		row("job", KeylessPrefix+"9", "invalid", 0),
		row("job", KeylessPrefix+"12", "updated", 200), // a repeated key's record, sent
		// Near misses are users: the prefix is compared byte for byte, from the first.
		row("job", "#LINE 3", "invalid", 0),
		row("job", "#line", "invalid", 0),
		row("job", "x#line 5", "invalid", 0),
		row("other", KeylessPrefix+"2", "invalid", 0),
	})
	require.Equal(t, []StatusCount{
		{Outcome: "invalid", StatusCode: 0, Users: 4},
		{Outcome: "invalid", StatusCode: 0, Users: 2, Keyless: true},
		{Outcome: "updated", StatusCode: 200, Users: 1},
		{Outcome: "updated", StatusCode: 200, Users: 1, Keyless: true},
	}, status(t, s, "job"))
}

func conformBulkIDRoundTripsAndARowWithoutOneClearsIt(t *testing.T, c conformer) {
	ctx := context.Background()
	ana := submitted(row("job", "ana", "", 0), "6f1c0b7e-bulk-1")
	s := c.written(t, []Row{ana, row("job", "bob", "updated", 200)})
	require.Equal(t, []Row{ana, row("job", "bob", "updated", 200)}, selectRows(t, s, "job", Filter{}))
	got, err := s.Prior(ctx, "job", []string{"ana"})
	require.NoError(t, err)
	require.Equal(t, Prior{Outcome: SubmittedOutcome, PayloadHash: "hash-ana"}, got["ana"])

	// The batch's result: the user's row no longer waits on it.
	answered := row("job", "ana", "rejected", 416)
	require.NoError(t, s.Write(ctx, []Row{answered}))
	require.Equal(t, []Row{answered}, selectRows(t, s, "job", Filter{Outcomes: []string{"rejected"}}))
	// A result may keep its batch's id; a later row replaces it.
	kept := submitted(row("job", "ana", "updated", 200), "6f1c0b7e-bulk-1")
	require.NoError(t, s.Write(ctx, []Row{kept}))
	require.Equal(t, []Row{kept, row("job", "bob", "updated", 200)}, selectRows(t, s, "job", Filter{}))
}

func conformSubmittedGivesTheJobsSubmittedRowsByBatch(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.written(t, []Row{
		submitted(row("job", "dora", "", 0), "b2"),
		submitted(row("job", "carla", "", 0), "b1"),
		submitted(row("job", "ana", "", 0), "b2"),
		submitted(row("job", "Bob", "", 0), "b1"), // upper case first, in byte order
		submitted(row("job", "eva", "updated", 200), "b1"),
		submitted(row("job", "fran", "", 0), ""), // no poll can answer it
		submitted(row("job", "gil", "", 0), "B3"),
		row("job", "hugo", "failed", 503),
		submitted(row("other", "ana", "", 0), "b1"),
	})
	type batch struct {
		id   string
		keys []string
	}
	var got []batch
	require.NoError(t, s.Submitted(ctx, "job", func(id string, rows []Row) error {
		for _, r := range rows {
			require.Equal(t, id, r.BulkID)
			require.Equal(t, SubmittedOutcome, r.Outcome)
		}
		got = append(got, batch{id, keysOf(rows)})
		return nil
	}))
	require.Equal(t, []batch{
		{"", []string{"fran"}},
		{"B3", []string{"gil"}},
		{"b1", []string{"Bob", "carla"}},
		{"b2", []string{"ana", "dora"}},
	}, got)

	for _, job := range append(jobsOfEveryKind, "other ") {
		require.NoError(t, s.Submitted(ctx, job, func(id string, rows []Row) error {
			return fmt.Errorf("job %q: batch %q", job, id)
		}), "a job without submitted rows gives no batch")
	}
}

func conformSubmittedStreamsWhileTheBatchesAreAnsweredAndStopsWithFnsError(t *testing.T, c conformer) {
	ctx := context.Background()
	var rows []Row
	for b := range 5 {
		for _, r := range numbered("job", fmt.Sprintf("b%d-user-%%03d", b), 200, "", 0) {
			rows = append(rows, submitted(r, fmt.Sprintf("b%d", b)))
		}
	}
	s := c.written(t, rows)

	// A resumed run records each batch's results as it polls them.
	batches := 0
	require.NoError(t, s.Submitted(ctx, "job", func(id string, rows []Row) error {
		batches++
		require.Len(t, rows, 200, "batch %s", id)
		answered := make([]Row, len(rows))
		for i, r := range rows {
			r.Outcome, r.StatusCode = "updated", 200
			answered[i] = r
		}
		return s.Write(ctx, answered)
	}))
	require.Equal(t, 5, batches)
	require.NoError(t, s.Submitted(ctx, "job", func(id string, _ []Row) error {
		return fmt.Errorf("batch %q is answered", id)
	}))
	require.Equal(t, []StatusCount{{Outcome: "updated", StatusCode: 200, Users: 1000}}, status(t, s, "job"))

	s = c.written(t, rows)
	requireStopsWithFnsError(t, func(fn func() error) error {
		return s.Submitted(ctx, "job", func(string, []Row) error { return fn() })
	})
}

func conformJobsListsEveryJobByNameWithItsCountsAndNewestRun(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	jobs, err := s.Jobs(ctx)
	require.NoError(t, err)
	require.Empty(t, jobs, "a new checkpoint holds no job")
	require.NotNil(t, jobs)

	first := started(t, s, "nightly", "run", "")
	require.NoError(t, s.FinishRun(ctx, first, Counts{Read: 3}, 1))
	started(t, s, "nightly", "retry", "0/2")
	started(t, s, "started", "run", "") // a run that read an empty source
	require.NoError(t, s.Write(ctx, []Row{
		row("nightly", "ana", "updated", 200),
		row("nightly", "bob", "failed", 503),
		row("nightly", KeylessPrefix+"3", "invalid", 0),
		row("backfill", "carla", "updated", 200),
		row("Zeta", "dora", "updated", 200), // upper case first, in byte order
		row("only-keyless", KeylessPrefix+"1", "invalid", 0),
	}))

	newest := func(job string) *Run {
		t.Helper()
		runs, err := s.Runs(ctx, job)
		require.NoError(t, err)
		return &runs[0]
	}
	jobs, err = s.Jobs(ctx)
	require.NoError(t, err)
	require.Equal(t, []JobInfo{
		{Job: "Zeta", Users: 1},
		{Job: "backfill", Users: 1},
		{Job: "nightly", Users: 2, Keyless: 1, LastRun: newest("nightly")},
		{Job: "only-keyless", Keyless: 1},
		{Job: "started", LastRun: newest("started")},
	}, jobs)
	require.Equal(t, "0/2", jobs[2].LastRun.Shard, "the newest run, whatever its shard")
}

func conformFailuresFiltersByOutcomeInKeyOrder(t *testing.T, c conformer) {
	s := c.written(t, mixedOutcomes)
	require.Equal(t, []string{"Bea", "ana", "carla"}, keysOf(failures(t, s, "job", "failed", "rejected")))
	require.Equal(t, []string{"Bea", "ana", "carla", "dora"}, keysOf(failures(t, s, "job", "failed", "rejected", "invalid")))
	require.Equal(t, []string{"dora"}, keysOf(failures(t, s, "job", "invalid")))
}

func conformFailuresStopsWithFnsError(t *testing.T, c conformer) {
	s := c.written(t, numbered("job", "u%03d", 100, "failed", 500))
	requireStopsWithFnsError(t, func(fn func() error) error {
		return s.Failures(context.Background(), "job", []string{"failed"}, func(Row) error { return fn() })
	})
	// The store is still usable: the cursor was released.
	require.Len(t, failures(t, s, "job", "failed"), 100)
}

func conformFailuresStreamsWhileTheStoreIsUsed(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	const n = 10_000
	require.NoError(t, s.Write(ctx, numbered("job", "u%05d", n, "failed", 500)))

	// fn using the store mid-stream must not deadlock on a connection or a lock the stream holds.
	seen := 0
	err := s.Failures(ctx, "job", []string{"failed"}, func(r Row) error {
		seen++
		if seen%2500 == 1 {
			if _, err := s.Prior(ctx, "job", []string{r.Key}); err != nil {
				return err
			}
			return s.Write(ctx, []Row{row("retry", r.Key, "updated", 200)})
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, n, seen)
	require.Equal(t, []StatusCount{{Outcome: "updated", StatusCode: 200, Users: 4}}, status(t, s, "retry"))
}

func conformDeleteKeysRemovesOnlyThePrefix(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	keys := []string{
		"#line 1", "#line 2", "#line 10", // the prefix
		"#LINE 3", "#line", "x#line 1", "#lines 4", // near misses
		"50%_off", "500", "50x_off", "a_1", "ab1", `a\b`, "ab",
	}
	var rows []Row
	for _, k := range keys {
		rows = append(rows, row("job", k, "invalid", 0))
	}
	rows = append(rows, row("other", "#line 1", "invalid", 0))
	require.NoError(t, s.Write(ctx, rows))

	remaining := func() []string {
		got, err := s.Prior(ctx, "job", keys)
		require.NoError(t, err)
		var out []string
		for k := range got {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}

	require.NoError(t, s.DeleteKeys(ctx, "job", "#line "))
	require.Equal(t, []string{"#LINE 3", "#line", "#lines 4", "50%_off", "500", "50x_off", `a\b`, "a_1", "ab", "ab1", "x#line 1"}, remaining())

	// Wildcards in the prefix are literal characters.
	require.NoError(t, s.DeleteKeys(ctx, "job", "50%"))
	require.NoError(t, s.DeleteKeys(ctx, "job", "a_"))
	require.NoError(t, s.DeleteKeys(ctx, "job", `a\`))
	require.Equal(t, []string{"#LINE 3", "#line", "#lines 4", "500", "50x_off", "ab", "ab1", "x#line 1"}, remaining())

	got, err := s.Prior(ctx, "other", []string{"#line 1"})
	require.NoError(t, err)
	require.Len(t, got, 1, "another job's rows were deleted")

	require.ErrorContains(t, s.DeleteKeys(ctx, "job", ""), "empty prefix")
	require.Len(t, remaining(), 8, "an empty prefix must delete nothing")
}

func conformWrite10000RowsInOneCall(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	require.NoError(t, s.Write(ctx, numbered("job", "user-%05d", 10_000, "updated", 200)))
	require.Equal(t, []StatusCount{{Outcome: "updated", StatusCode: 200, Users: 10_000}}, status(t, s, "job"))
}

func conformUpdatedAtIsNowWhenZeroAndUTCAlways(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	madrid := time.FixedZone("CEST", 2*60*60)
	given := time.Date(2024, 10, 22, 23, 30, 0, 123456789, madrid)
	before := time.Now().Add(-time.Second)
	zero := row("job", "ana", "failed", 500)
	zero.UpdatedAt = time.Time{}
	set := row("job", "bob", "failed", 500)
	set.UpdatedAt = given
	require.NoError(t, s.Write(ctx, []Row{zero, set}))
	after := time.Now().Add(time.Second)

	got := failures(t, s, "job", "failed")
	require.Len(t, got, 2)
	require.Equal(t, time.UTC, got[0].UpdatedAt.Location())
	require.True(t, got[0].UpdatedAt.After(before) && got[0].UpdatedAt.Before(after), "zero UpdatedAt stored as %v", got[0].UpdatedAt)
	require.Equal(t, time.Date(2024, 10, 22, 21, 30, 0, 123456000, time.UTC), got[1].UpdatedAt)
}

func conformRowsSurviveCloseAndReopen(t *testing.T, c conformer) {
	ctx := context.Background()
	var id int64
	s := c.reopened(t, func(s Store) {
		var err error
		id, err = s.StartRun(ctx, "job", "run", "")
		require.NoError(t, err)
		require.NoError(t, s.Write(ctx, []Row{row("job", "ana", "updated", 200)}))
	})
	got, err := s.Prior(ctx, "job", []string{"ana"})
	require.NoError(t, err)
	require.Equal(t, Prior{Outcome: "updated", PayloadHash: "hash-ana", StatusCode: 200}, got["ana"])
	runs, err := s.Runs(ctx, "job")
	require.NoError(t, err)
	require.Equal(t, id, runs[0].ID)
}

func conformClosedStoreReturnsErrors(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	require.NoError(t, s.Close())

	require.Error(t, s.Migrate(ctx))
	_, err := s.Prior(ctx, "job", []string{"ana"})
	require.Error(t, err)
	require.Error(t, s.Write(ctx, []Row{row("job", "ana", "updated", 200)}))
	require.Error(t, s.DeleteKeys(ctx, "job", "#line "))
	_, err = s.HasUsers(ctx, "job")
	require.Error(t, err)
	_, err = s.StartRun(ctx, "job", "run", "")
	require.Error(t, err)
	require.Error(t, s.FinishRun(ctx, 1, Counts{}, 0))
	_, err = s.AbandonRuns(ctx, "job", "")
	require.Error(t, err)
	_, err = s.Runs(ctx, "job")
	require.Error(t, err)
	_, err = s.Status(ctx, "job")
	require.Error(t, err)
	_, err = s.Jobs(ctx)
	require.Error(t, err)
	require.Error(t, s.Submitted(ctx, "job", func(string, []Row) error { return nil }))
	_, err = s.HashKey(ctx, "job")
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrNotFound)
	require.Error(t, s.SetHashKey(ctx, "job", "f"))
	require.Error(t, s.Failures(ctx, "job", []string{"failed"}, func(Row) error { return nil }))
	require.Error(t, s.Select(ctx, "job", Filter{}, func(Row) error { return nil }))
	_, err = s.Watermark(ctx, "job", "")
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrNotFound)
	require.Error(t, s.SetWatermark(ctx, "job", "", Watermark{Column: "c", Value: time.Now()}))
	require.Error(t, s.SaveBackups(ctx, []Backup{backup("job", 1, "ana")}))
	err = s.Backups(ctx, "job", 1, func(Backup) error { return nil })
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrNotFound)
	require.NotPanics(t, func() { _ = s.Close() })
}

func conformCancelledContextIsReportedAsSuch(t *testing.T, c conformer) {
	s := c.fresh(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, s.Write(ctx, []Row{row("job", "ana", "updated", 200)}), context.Canceled)
	_, err := s.Prior(ctx, "job", []string{"ana"})
	require.ErrorIs(t, err, context.Canceled)
	w := Watermark{Column: "c", Value: time.Now()}
	require.ErrorIs(t, s.SetWatermark(ctx, "job", "", w), context.Canceled)
	_, err = s.Watermark(ctx, "job", "")
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, s.Select(ctx, "job", Filter{}, func(Row) error { return nil }), context.Canceled)
	require.ErrorIs(t, s.Submitted(ctx, "job", func(string, []Row) error { return nil }), context.Canceled)
	require.ErrorIs(t, s.SetHashKey(ctx, "job", "f"), context.Canceled)
	_, err = s.HashKey(ctx, "job")
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, s.SaveBackups(ctx, []Backup{backup("job", 1, "ana")}), context.Canceled)
	require.ErrorIs(t, s.Backups(ctx, "job", 1, func(Backup) error { return nil }), context.Canceled)

	got, err := s.Prior(context.Background(), "job", []string{"ana"})
	require.NoError(t, err)
	require.Empty(t, got, "a cancelled Write must write nothing")
	_, err = s.Watermark(context.Background(), "job", "")
	require.ErrorIs(t, err, ErrNotFound, "a cancelled SetWatermark must write nothing")
	err = s.Backups(context.Background(), "job", 1, func(Backup) error { return nil })
	require.ErrorIs(t, err, ErrNotFound, "a cancelled SaveBackups must write nothing")
	_, err = s.HashKey(context.Background(), "job")
	require.ErrorIs(t, err, ErrNotFound, "a cancelled SetHashKey must write nothing")
}

func conformWatermarkOfAJobWithoutOneIsNotFound(t *testing.T, c conformer) {
	ctx := context.Background()
	// A job with runs and rows, but no completed incremental run, has no watermark either.
	s, _ := c.withRunAndRow(t)
	for _, job := range jobsOfEveryKind {
		_, err := s.Watermark(ctx, job, "")
		require.ErrorIs(t, err, ErrNotFound, "job %q", job)
	}
	_, err := s.Watermark(ctx, "never-ran", "")
	require.ErrorContains(t, err, `"never-ran"`)
}

func conformWatermarkRoundTripsInUTCToTheMicrosecond(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	madrid := time.FixedZone("CEST", 2*60*60)
	set := Watermark{Column: "updated_at", Value: time.Date(2024, 10, 22, 23, 30, 0, 123456789, madrid), RunID: 42}
	require.NoError(t, s.SetWatermark(ctx, "nightly", "", set))

	got, err := s.Watermark(ctx, "nightly", "")
	require.NoError(t, err)
	// Cut to the microsecond, never rounded up: the newest row is read again, not missed.
	want := Watermark{Column: "updated_at", Value: time.Date(2024, 10, 22, 21, 30, 0, 123456000, time.UTC), RunID: 42}
	require.Equal(t, want, got)
	require.Equal(t, time.UTC, got.Value.Location())
	require.True(t, got.Value.Equal(set.Value.Truncate(time.Microsecond)))

	// The extremes a source can hold: the first microsecond of a second, and far dates.
	for _, v := range []time.Time{
		time.Date(2024, 1, 1, 0, 0, 0, 1000, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC),
	} {
		require.NoError(t, s.SetWatermark(ctx, "extremes", "", Watermark{Column: "c", Value: v, RunID: 1}))
		got, err := s.Watermark(ctx, "extremes", "")
		require.NoError(t, err)
		require.Equal(t, v, got.Value)
	}
}

func conformSetWatermarkOverwrites(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	first := Watermark{Column: "updated_at", Value: time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC), RunID: 1}
	second := Watermark{Column: "modified", Value: time.Date(2024, 5, 7, 0, 0, 0, 500, time.UTC), RunID: 2}
	require.NoError(t, s.SetWatermark(ctx, "nightly", "", first))
	require.NoError(t, s.SetWatermark(ctx, "nightly", "", second))

	second.Value = second.Value.Truncate(time.Microsecond)
	require.Equal(t, second, watermark(t, s, "nightly", ""))

	// The last call wins, even one that moves the watermark back (an operator's reset).
	require.NoError(t, s.SetWatermark(ctx, "nightly", "", first))
	require.Equal(t, first, watermark(t, s, "nightly", ""))
}

func conformWatermarksOfJobsAreIsolated(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	nightly := Watermark{Column: "updated_at", Value: time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC), RunID: 1}
	require.NoError(t, s.SetWatermark(ctx, "nightly", "", nightly))
	_, err := s.Watermark(ctx, "backfill", "")
	require.ErrorIs(t, err, ErrNotFound)
	_, err = s.Watermark(ctx, "Nightly", "")
	require.ErrorIs(t, err, ErrNotFound, "job names are compared byte for byte")

	backfill := Watermark{Column: "changed_at", Value: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), RunID: 2}
	require.NoError(t, s.SetWatermark(ctx, "backfill", "", backfill))
	require.Equal(t, nightly, watermark(t, s, "nightly", ""))
	require.Equal(t, backfill, watermark(t, s, "backfill", ""))
}

func conformWatermarksOfShardsAreIsolated(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	whole := Watermark{Column: "updated_at", Value: time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC), RunID: 1}
	first := Watermark{Column: "updated_at", Value: time.Date(2024, 5, 7, 0, 0, 0, 0, time.UTC), RunID: 2}
	require.NoError(t, s.SetWatermark(ctx, "nightly", "0/2", first))
	_, err := s.Watermark(ctx, "nightly", "")
	require.ErrorIs(t, err, ErrNotFound, "a shard's watermark is not the whole job's")
	_, err = s.Watermark(ctx, "nightly", "1/2")
	require.ErrorIs(t, err, ErrNotFound, "nor another shard's")
	_, err = s.Watermark(ctx, "nightly", "0/3")
	require.ErrorIs(t, err, ErrNotFound, "nor a shard of another split")
	require.ErrorContains(t, err, `shard "0/3"`)

	require.NoError(t, s.SetWatermark(ctx, "nightly", "", whole))
	require.Equal(t, whole, watermark(t, s, "nightly", ""))
	require.Equal(t, first, watermark(t, s, "nightly", "0/2"))

	for _, shard := range []string{"0/2\xff", "0/2\x00"} {
		err := s.SetWatermark(ctx, "nightly", shard, first)
		require.ErrorContains(t, err, "shard", "%q", shard)
		_, err = s.Watermark(ctx, "nightly", shard)
		require.ErrorIs(t, err, ErrNotFound, "%q", shard)
	}
}

func conformWatermarkSurvivesCloseAndReopen(t *testing.T, c conformer) {
	ctx := context.Background()
	w := Watermark{Column: "updated_at", Value: time.Date(2024, 5, 6, 7, 8, 9, 654321000, time.UTC), RunID: 9}
	s := c.reopened(t, func(s Store) {
		require.NoError(t, s.SetWatermark(ctx, "nightly", "", w))
	})
	require.Equal(t, w, watermark(t, s, "nightly", ""))
}

func conformSetWatermarkRejectsWhatItCannotKeep(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	valid := Watermark{Column: "updated_at", Value: time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC), RunID: 1}
	tests := []struct {
		name, job, wantErr string
		w                  Watermark
	}{
		{"zero value", "nightly", "zero value", Watermark{Column: "updated_at", RunID: 1}},
		{"no column", "nightly", "no column", Watermark{Value: valid.Value, RunID: 1}},
		{"column not UTF-8", "nightly", "not valid UTF-8", Watermark{Column: "up\xffdated", Value: valid.Value}},
		{"job with NUL", "n\x00ightly", "NUL", valid},
		{"five-digit year", "nightly", "outside years", Watermark{Column: "c", Value: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"year before 1", "nightly", "outside years", Watermark{Column: "c", Value: time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC)}},
	}
	for _, tt := range tests {
		err := s.SetWatermark(ctx, tt.job, "", tt.w)
		require.ErrorContains(t, err, tt.wantErr, tt.name)
		require.ErrorContains(t, err, "set watermark of job", tt.name)
	}
	_, err := s.Watermark(ctx, "nightly", "")
	require.ErrorIs(t, err, ErrNotFound, "a rejected watermark must not be written")
}

func conformHashKeyOfAJobWithoutOneIsNotFound(t *testing.T, c conformer) {
	// A job with runs and rows, but whose runs recorded no key, has no fingerprint either.
	s, _ := c.withRunAndRow(t)
	for _, job := range jobsOfEveryKind {
		_, err := s.HashKey(context.Background(), job)
		require.ErrorIs(t, err, ErrNotFound, "job %q", job)
	}
	_, err := s.HashKey(context.Background(), "never-ran")
	require.ErrorContains(t, err, `"never-ran"`)
}

func conformSetHashKeyOverwritesPerJob(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.reopened(t, func(s Store) {
		require.NoError(t, s.SetHashKey(ctx, "nightly", "hmac-sha256:1f2e"))
		require.NoError(t, s.SetHashKey(ctx, "backfill", "hmac-sha256:9a8b"))
	})
	hashKey := func(job string) string {
		t.Helper()
		fingerprint, err := s.HashKey(ctx, job)
		require.NoError(t, err)
		return fingerprint
	}
	require.Equal(t, "hmac-sha256:1f2e", hashKey("nightly"), "kept across a reopen")
	require.Equal(t, "hmac-sha256:9a8b", hashKey("backfill"))
	_, err := s.HashKey(ctx, "Nightly")
	require.ErrorIs(t, err, ErrNotFound, "job names are compared byte for byte")

	require.NoError(t, s.SetHashKey(ctx, "nightly", "pbkdf2"))
	require.Equal(t, "pbkdf2", hashKey("nightly"), "the last call wins")
	require.Equal(t, "hmac-sha256:9a8b", hashKey("backfill"))
}

func conformSetHashKeyRejectsWhatItCannotKeep(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	for _, tt := range []struct{ job, fingerprint, wantErr string }{
		{"n\x00ightly", "f", "job"},
		{"nightly", "f\xff", "fingerprint"},
	} {
		err := s.SetHashKey(ctx, tt.job, tt.fingerprint)
		require.ErrorContains(t, err, tt.wantErr, "%q %q", tt.job, tt.fingerprint)
		require.ErrorContains(t, err, "set hash key of job")
	}
	_, err := s.HashKey(ctx, "nightly")
	require.ErrorIs(t, err, ErrNotFound, "a rejected fingerprint must not be written")
}

func conformSelectFiltersByOutcomesAndCodesInKeyOrder(t *testing.T, c conformer) {
	s := c.written(t, append(slices.Clone(mixedOutcomes),
		row("job", "hugo", "failed", 500),
		row("job", "fran", "rejected", 404),
		row("job", "gil", "rejected", 416),
		row("other", "ana", "failed", 500),
	))
	retry := []string{"failed", "rejected"}
	tests := []struct {
		name string
		f    Filter
		want []string
	}{
		{"everything", Filter{}, []string{"Bea", "ana", "bob", "carla", "dora", "eva", "fran", "gil", "hugo"}},
		{"by outcomes", Filter{Outcomes: retry}, []string{"Bea", "ana", "carla", "fran", "gil", "hugo"}},
		{"by one outcome", Filter{Outcomes: []string{"invalid"}}, []string{"dora"}},
		{"by codes", Filter{Codes: []int{416, 500}}, []string{"ana", "gil", "hugo"}},
		{"by code 0", Filter{Codes: []int{0}}, []string{"Bea", "dora"}},
		{"by both", Filter{Outcomes: retry, Codes: []int{416, 500}}, []string{"ana", "gil", "hugo"}},
		{"by both, code 0 is never answered", Filter{Outcomes: retry, Codes: []int{0}}, []string{"Bea"}},
		{"codes of another outcome", Filter{Outcomes: retry, Codes: []int{200, 304}}, nil},
		{"no such outcome", Filter{Outcomes: []string{"updatd"}}, nil},
		{"no such code", Filter{Codes: []int{418}}, nil},
		{"only values no row can hold", Filter{Outcomes: []string{"fail\xffed", "fail\x00ed"}}, nil},
		{"codes beyond an integer", Filter{Codes: []int{1 << 40, -1 << 40}}, nil},
		{"a bad value among good ones", Filter{Outcomes: []string{"fail\xffed", "invalid"}, Codes: []int{1 << 40, 0}}, []string{"dora"}},
	}
	for _, tt := range tests {
		rows := selectRows(t, s, "job", tt.f)
		for _, r := range rows {
			require.Equal(t, "job", r.Job)
		}
		require.Equal(t, tt.want, keysOf(rows), tt.name)
	}

	// The rows come whole.
	got := selectRows(t, s, "job", Filter{Outcomes: []string{"rejected"}, Codes: []int{404}})
	require.Equal(t, []Row{row("job", "fran", "rejected", 404)}, got)
}

func conformSelectOfAnUnknownJobIsNotFound(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	require.NoError(t, s.Write(ctx, []Row{row("job", "ana", "updated", 200)}))
	for _, f := range []Filter{{}, {Outcomes: []string{"failed"}}, {Codes: []int{500}}, {Outcomes: []string{"x\xff"}}} {
		err := s.Select(ctx, "jbo", f, func(Row) error { return nil })
		require.ErrorIs(t, err, ErrNotFound)
		require.ErrorContains(t, err, `"jbo"`)
	}
}

func conformSelectStopsWithFnsError(t *testing.T, c conformer) {
	s := c.written(t, numbered("job", "u%03d", 100, "rejected", 416))
	requireStopsWithFnsError(t, func(fn func() error) error {
		return s.Select(context.Background(), "job", Filter{Codes: []int{416}}, func(Row) error { return fn() })
	})
	require.Len(t, selectRows(t, s, "job", Filter{Codes: []int{416}}), 100)
}

func conformConcurrentReadersAndWritersInSeveralProcesses(t *testing.T, c conformer) {
	ctx := context.Background()
	first, second := c.twice(t)

	const goroutines, rounds, batch = 8, 20, 50
	errs := make(chan error, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		s := first
		if g%2 == 1 {
			s = second
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- readAndWrite(ctx, s, g, rounds, batch)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, []StatusCount{{Outcome: "updated", StatusCode: 200, Users: goroutines * rounds * batch}}, status(t, first, "job"))
}

// readAndWrite is one worker of the concurrency test: the pipeline's pattern of a look-up, then a
// write, then a run record.
func readAndWrite(ctx context.Context, s Store, g, rounds, batch int) error {
	for r := range rounds {
		rows := numbered("job", fmt.Sprintf("g%d-r%d-u%%d", g, r), batch, "updated", 200)
		if _, err := s.Prior(ctx, "job", keysOf(rows)); err != nil {
			return fmt.Errorf("goroutine %d round %d: %w", g, r, err)
		}
		if err := s.Write(ctx, rows); err != nil {
			return fmt.Errorf("goroutine %d round %d: %w", g, r, err)
		}
		if r%5 == 0 {
			id, err := s.StartRun(ctx, "job", "run", "")
			if err != nil {
				return fmt.Errorf("goroutine %d round %d: %w", g, r, err)
			}
			if err := s.FinishRun(ctx, id, Counts{Read: 1}, 0); err != nil {
				return fmt.Errorf("goroutine %d round %d: %w", g, r, err)
			}
		}
	}
	return nil
}

// row is a row of job for key with a hash derived from the key.
func row(job, key, outcome string, code int) Row {
	r := Row{Job: job, Key: key, StatusCode: code, Outcome: outcome, Attempts: 1,
		PayloadHash: "hash-" + key, RunID: 1, UpdatedAt: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}
	if outcome != "updated" && outcome != "unchanged" {
		r.Error = strings.ToUpper(outcome) + " for " + key
	}
	return r
}

// started starts a run of command for job and shard, and returns its id.
func started(t *testing.T, s Store, job, command, shard string) int64 {
	t.Helper()
	id, err := s.StartRun(context.Background(), job, command, shard)
	require.NoError(t, err)
	return id
}

// submitted is r uploaded in the bulk batch bulkID, its result not known yet: at
// SubmittedOutcome, unless r has an outcome of its own. Its line named the user by a DRUID id
// of its own, which the row keeps.
func submitted(r Row, bulkID string) Row {
	if r.Outcome == "" {
		r.Outcome, r.Error = SubmittedOutcome, ""
	}
	r.BulkID, r.ObjectID = bulkID, "druid-"+r.Key
	return r
}

// failures collects what Failures gives for job and outcomes.
func failures(t *testing.T, s Store, job string, outcomes ...string) []Row {
	t.Helper()
	return collected(t, func(fn func(Row) error) error {
		return s.Failures(context.Background(), job, outcomes, fn)
	})
}

// selectRows collects what Select gives for job and f.
func selectRows(t *testing.T, s Store, job string, f Filter) []Row {
	t.Helper()
	return collected(t, func(fn func(Row) error) error {
		return s.Select(context.Background(), job, f, fn)
	})
}

// backups collects what Backups gives for the run runID of job.
func backups(t *testing.T, s Store, job string, runID int64) []Backup {
	t.Helper()
	return collected(t, func(fn func(Backup) error) error {
		return s.Backups(context.Background(), job, runID, fn)
	})
}

// collected gathers the values that each, a Select, Failures or Backups, gives its fn.
func collected[T any](t *testing.T, each func(fn func(T) error) error) []T {
	t.Helper()
	var out []T
	require.NoError(t, each(func(v T) error {
		out = append(out, v)
		return nil
	}))
	return out
}

// requireStopsWithFnsError gives read an fn that fails on its third call, and checks that read
// stops there and returns that very error.
func requireStopsWithFnsError(t *testing.T, read func(fn func() error) error) {
	t.Helper()
	stop := errors.New("stdout closed")
	calls := 0
	err := read(func() error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	require.Same(t, stop, err, "fn's error must come back unchanged")
	require.Equal(t, 3, calls)
}

// status is what Status gives for job.
func status(t *testing.T, s Store, job string) []StatusCount {
	t.Helper()
	got, err := s.Status(context.Background(), job)
	require.NoError(t, err)
	return got
}

// watermark is what Watermark gives for job and shard.
func watermark(t *testing.T, s Store, job, shard string) Watermark {
	t.Helper()
	got, err := s.Watermark(context.Background(), job, shard)
	require.NoError(t, err)
	return got
}

// versions lists the migrations s has applied.
func versions(t *testing.T, s Store) []int {
	t.Helper()
	v, err := s.(versioner).appliedVersions(context.Background())
	require.NoError(t, err)
	return v
}

// numbered is n rows of job at outcome and code, for the keys format makes of 0 to n-1.
func numbered(job, format string, n int, outcome string, code int) []Row {
	rows := make([]Row, n)
	for i := range rows {
		rows[i] = row(job, fmt.Sprintf(format, i), outcome, code)
	}
	return rows
}

// numberedBackups is n backups of the run runID of job, for the keys format makes of 0 to n-1.
func numberedBackups(job string, runID int64, format string, n int) []Backup {
	out := make([]Backup, n)
	for i := range out {
		out[i] = backup(job, runID, fmt.Sprintf(format, i))
	}
	return out
}

// keysOf lists the keys of rows, in order.
func keysOf(rows []Row) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.Key)
	}
	return out
}

// mixedOutcomes are users of one job at five outcomes, out of key order, one of them with a key
// in upper case, which byte order puts first.
var mixedOutcomes = []Row{
	row("job", "carla", "failed", 503),
	row("job", "ana", "rejected", 416),
	row("job", "bob", "updated", 200),
	row("job", "dora", "invalid", 0),
	row("job", "eva", "unchanged", 304),
	row("job", "Bea", "failed", 0),
}

// backup is a backup of key in run runID of job, with a state and object id derived from the key.
func backup(job string, runID int64, key string) Backup {
	return Backup{Job: job, RunID: runID, Key: key, ObjectID: "obj-" + key,
		State:     []byte(`{"name":"` + key + `","roles":["reader"]}`),
		CreatedAt: time.Date(2024, 1, 2, 3, 4, 5, 6000, time.UTC)}
}

func withState(b Backup, state string) Backup {
	b.State = []byte(state)
	return b
}

// longKey is a key of n bytes that does not compress: Postgres would store a repetitive one in
// its index, compressed.
func longKey(n int) string {
	var b strings.Builder
	for sum := sha256.Sum256(nil); b.Len() < n; sum = sha256.Sum256(sum[:]) {
		b.WriteString(hex.EncodeToString(sum[:]))
	}
	return b.String()[:n]
}

// refusedIndexes lists the Index of each row of refused.
func refusedIndexes(refused *RowsRefused) []int {
	var out []int
	for _, r := range refused.Rows {
		out = append(out, r.Index)
	}
	return out
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
