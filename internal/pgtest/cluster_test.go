package pgtest

import (
	"context"
	"net"
	"os"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

func TestClusterKeepsItsDataAcrossARestartAndIsRemovedAtCleanup(t *testing.T) {
	if testing.Short() {
		t.Skip("initdb takes seconds")
	}
	t.Parallel()
	ctx := context.Background()
	var dir string
	t.Run("user", func(t *testing.T) {
		c := NewCluster(t)
		dir = c.dir
		url := c.URL()
		require.NoError(t, execSQL(url, "CREATE TABLE t (x int); INSERT INTO t VALUES (42)"))
		conn, err := pgx.Connect(ctx, url)
		require.NoError(t, err)
		defer conn.Close(ctx)

		c.Stop(t)
		c.Stop(t) // a stopped cluster stays stopped
		require.Error(t, ping(url), "the server answers after Stop")
		require.Error(t, conn.Ping(ctx), "a connection open across Stop still works")
		// The port stays the cluster's: another cluster cannot reserve it.
		_, err = net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)))
		require.Error(t, err, "the port's reservation was released by Stop")

		c.Start(t)
		c.Start(t) // a running cluster keeps running
		require.Equal(t, url, c.URL())
		// No retry: Start returns once the server accepts connections.
		conn2, err := pgx.Connect(ctx, url)
		require.NoError(t, err)
		defer conn2.Close(ctx)
		var x int
		require.NoError(t, conn2.QueryRow(ctx, "SELECT x FROM t").Scan(&x))
		require.Equal(t, 42, x, "the committed row was lost by the restart")
	})
	if dir == "" {
		t.Skip("the subtest was skipped: no Postgres binaries")
	}
	_, err := os.Stat(dir)
	require.ErrorIs(t, err, os.ErrNotExist, "the cluster's directory is left behind")
}

func TestReservePortKeepsThePortFromOtherClusters(t *testing.T) {
	t.Parallel()
	port, reservation, err := reservePort()
	require.NoError(t, err)
	defer reservation.Close()
	lo, hi := portRange()
	require.True(t, port >= lo && port <= hi, "port %d outside %d-%d", port, lo, hi)
	// What reservePort's own loop checks, so no other cluster takes it while the server is down.
	_, err = net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	require.Error(t, err)
	// And the server can bind it.
	l, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	require.NoError(t, err)
	require.NoError(t, l.Close())
}
