// Package deploy holds druid-migrate's container image (Dockerfile). It has no code: its tests
// check the image's files offline, in `make test`.
//
// The binary, built with the Dockerfile's own go build line, runs in an empty root directory:
// the distroless base has no libc, and the binary needs none. The image's environment parses
// with druid-migrate's own command line (cli.Parse), so an environment variable renamed in the
// product fails the tests instead of a container.
package deploy
