package checkpoint

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"druid-migrate/internal/pgtest"
)

// TestPostgresStoreOutlivesARestartOfItsServer stops the store's server as a crash would and
// starts it again: calls fail with ErrUnavailable while it is down, and the same Store works
// again, with its data, once it is back.
func TestPostgresStoreOutlivesARestartOfItsServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := pgtest.NewCluster(t)
	// One connection, so that which call meets the dead connection, and which the refused
	// connect, is known.
	s, err := OpenPostgres(ctx, c.URL(), Options{MaxConns: 1})
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Migrate(ctx))
	require.NoError(t, s.Write(ctx, []Row{row("job", "ana", "updated", 200)}))

	c.Stop(t)
	err = s.Write(ctx, []Row{row("job", "bob", "updated", 200)})
	require.ErrorIs(t, err, ErrUnavailable, "on the connection the server cut")
	err = s.Write(ctx, []Row{row("job", "bob", "updated", 200)})
	require.ErrorIs(t, err, ErrUnavailable, "on a new connection, refused")

	c.Start(t)
	require.NoError(t, s.Write(ctx, []Row{row("job", "bob", "updated", 200)}), "the pool must reconnect")
	got, err := s.Prior(ctx, "job", []string{"ana", "bob"})
	require.NoError(t, err)
	require.Len(t, got, 2, "a row written before or after the restart is missing")
}

// TestPostgresStaleConnectionsAfterARestartAreUnavailable restarts the server under a pool of
// several idle connections. pgxpool checks an idle connection before lending it only when it
// has been idle over a second, so after a short outage a call can still be handed a connection
// from before it: that call must fail with ErrUnavailable, which the caller retries, and each
// such failure discards one dead connection, so a Write succeeds within MaxConns+1 attempts.
func TestPostgresStaleConnectionsAfterARestartAreUnavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := pgtest.NewCluster(t)
	const maxConns = 4
	s, err := OpenPostgres(ctx, c.URL(), Options{MaxConns: maxConns})
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Migrate(ctx))
	// Concurrent writes, so that the pool opens several connections.
	errs := make([]error, maxConns)
	var wg sync.WaitGroup
	for i := range maxConns {
		wg.Go(func() { errs[i] = s.Write(ctx, []Row{row("job", string(rune('a'+i)), "updated", 200)}) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}

	c.Stop(t)
	c.Start(t)
	var attempts int
	for attempts = 1; attempts <= maxConns+1; attempts++ {
		err = s.Write(ctx, []Row{row("job", "bob", "updated", 200)})
		if err == nil {
			break
		}
		require.ErrorIs(t, err, ErrUnavailable, "attempt %d", attempts)
	}
	require.NoError(t, err, "no Write succeeded in %d attempts after the restart", maxConns+1)
	t.Logf("the first Write after the restart succeeded at attempt %d", attempts)
}
