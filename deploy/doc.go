// Package deploy holds druid-migrate's container image (Dockerfile) and Kubernetes manifests
// (k8s/cronjob.yaml, the nightly sync; k8s/migration-job.yaml, the one-time migration as an
// Indexed Job of shards). It has no code: its tests check those files offline, in `make test`.
//
// The manifests decode strictly into the Kubernetes API's Go types, and every container's args
// and environment parse with druid-migrate's own command line (cli.Parse), so a flag or an
// environment variable renamed in the product fails the tests instead of a pod at 2 a.m. The
// binary, built with the Dockerfile's own go build line, runs in an empty root directory: the
// distroless base has no libc, and the binary needs none.
package deploy
