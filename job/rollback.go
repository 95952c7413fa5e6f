package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"druid-migrate/checkpoint"
	"druid-migrate/mapping"
	"druid-migrate/sink"
	"druid-migrate/source"
)

// rollbackJob names the job under which the rollback of a run records its own outcomes, so that
// an interrupted rollback resumes and skips what it already restored.
func rollbackJob(job string, run int64) string { return fmt.Sprintf("%s:rollback:%d", job, run) }

// Rollback is `rollback`: it sends every user that run cfg.RollbackRun of the job changed, with
// --backup, back to the state it had just before. It is a run of its own, under the job
// rollbackJob(job, run): rate-limited, checkpointed and resumable.
func Rollback(ctx context.Context, cfg Config) (SummaryReport, error) {
	cfg.as(CommandRollback)
	if err := cfg.check(); err != nil {
		return SummaryReport{}, err
	}
	log := cfg.Log
	job, run := cfg.Job, cfg.RollbackRun
	rbJob := rollbackJob(job, run)
	store, lease, err := claim(ctx, &cfg, rbJob)
	if err != nil {
		return SummaryReport{}, err
	}
	defer store.Close()
	defer lease.Release()
	mx, err := serveMetrics(cfg.MetricsAddr, log)
	if err != nil {
		return SummaryReport{}, err
	}
	defer mx.close()
	client, err := newClient(&cfg, false, mx.observe())
	if err != nil {
		return SummaryReport{}, err
	}
	defer client.Close()
	if err := preflight(ctx, client); err != nil {
		return SummaryReport{}, err
	}
	src, err := openBackups(ctx, store, job, run)
	if err != nil {
		return SummaryReport{}, err
	}
	defer src.Close()
	runID, err := startRun(ctx, store, lease, rbJob, CommandRollback)
	if err != nil {
		return SummaryReport{}, err
	}
	log = log.With().Str("job", rbJob).Int64("run_id", runID).Logger()
	log.Info().Str("of_job", job).Int64("of_run", run).Msg("rollback started")
	pcfg := cfg.pipelineConfig(rbJob)
	pcfg.RunID = runID
	pcfg.Lease = lease.check
	pcfg.Limit = cfg.Limit
	pcfg.OrderedKeys = true // backups come ordered by key
	pcfg.Log = log
	pcfg.Live = mx.watch(CommandRollback, rbJob, client)
	b := backupBuilder{
		actor:  sink.Actor{ID: cfg.AppID, ObjectType: sink.ObjectTypeApplication},
		verb:   cfg.Verb,
		device: sink.Device{ID: cfg.Device, ObjectType: sink.ObjectTypeDevice},
	}
	return execute(ctx, &cfg, store, client, pcfg, src, b, nil)
}

// backupSource streams the backups of one run as records: key, objectId, state.
type backupSource struct {
	first  *checkpoint.Backup // read ahead by openBackups
	ch     chan checkpoint.Backup
	errc   chan error
	err    error
	cancel context.CancelFunc
	line   int
}

// openBackups starts streaming the backups of run; a run without any is a configuration error.
func openBackups(ctx context.Context, store checkpoint.Store, job string, run int64) (*backupSource, error) {
	ctx, cancel := context.WithCancel(ctx)
	s := &backupSource{ch: make(chan checkpoint.Backup, 256), errc: make(chan error, 1), cancel: cancel}
	go func() {
		defer close(s.ch)
		s.errc <- store.Backups(ctx, job, run, func(b checkpoint.Backup) error {
			select {
			case s.ch <- b:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	// The first backup, or why there is none, tells whether the run can be rolled back at all.
	first, ok := <-s.ch
	if !ok {
		err := <-s.errc
		s.Close()
		if err == nil || errors.Is(err, checkpoint.ErrNotFound) {
			return nil, configErrorf("--run %d: job %q has no backups of that run; only a run with --backup can be rolled back", run, job)
		}
		return nil, lost("read the backups", err)
	}
	s.first = &first
	return s, nil
}

// Next implements pipeline.Source.
func (s *backupSource) Next(ctx context.Context) (source.Record, error) {
	if b := s.first; b != nil {
		s.first = nil
		return s.record(*b), nil
	}
	select {
	case b, ok := <-s.ch:
		if !ok {
			if s.err == nil {
				s.err = io.EOF
				if err := <-s.errc; err != nil {
					s.err = fmt.Errorf("read the backups: %w", err)
				}
			}
			return source.Record{}, s.err
		}
		return s.record(b), nil
	case <-ctx.Done():
		return source.Record{}, ctx.Err()
	}
}

func (s *backupSource) record(b checkpoint.Backup) source.Record {
	s.line++
	return source.Record{Line: s.line, Values: []string{b.Key, b.ObjectID, string(b.State)}}
}

// Close stops the stream and waits for its goroutine.
func (s *backupSource) Close() {
	s.cancel()
	for range s.ch {
	}
}

// backupBuilder turns a backed-up state into the replacement that restores it.
type backupBuilder struct {
	actor  sink.Actor
	verb   string
	device sink.Device
}

// Build implements pipeline.Builder.
func (b backupBuilder) Build(rec source.Record) (*sink.Payload, error) {
	key, objectID, state := rec.Values[0], rec.Values[1], rec.Values[2]
	var u sink.User
	if err := json.Unmarshal([]byte(state), &u); err != nil {
		return nil, &mapping.RecordError{Line: rec.Line, Key: key, Field: "state", Reason: "the backed-up state is not a user: " + err.Error()}
	}
	u.ObjectType, u.ObjectID, u.Password = sink.ObjectTypeUser, objectID, ""
	req := sink.Request{Actor: b.actor, Verb: b.verb, Object: u, Source: b.device}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, &mapping.RecordError{Line: rec.Line, Key: key, Field: "state", Reason: "encode payload: " + err.Error()}
	}
	return &sink.Payload{Key: key, Line: rec.Line, ObjectID: objectID, Request: req, Body: body}, nil
}
