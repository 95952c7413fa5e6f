.DEFAULT_GOAL := help
BIN := bin/druid-migrate
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X druid-migrate/cli.version=$(VERSION) -X druid-migrate/cli.commit=$(COMMIT)

.PHONY: help build test bench demo lint fmt

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-8s %s\n", $$1, $$2}'

build: ## build bin/druid-migrate
	go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

test: ## run every test with the race detector (needs PostgreSQL, see README)
	go test -race -count=1 ./...

bench: ## run the Go benchmarks and the end-to-end throughput benchmark
	go test -run '^$$' -bench . -benchmem ./...
	go run ./bench

demo: build ## migrate a generated sample of 2,000 users into the built-in simulator
	./scripts/demo.sh

lint: ## gofmt, go vet, and no tracked file over 1 MB
	@test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	go vet ./...
	@big=$$(git ls-files -z | xargs -0 -r stat -c '%s %n' 2>/dev/null | awk '$$1 > 1048576 { print "  " $$2 }'); \
	test -z "$$big" || { echo "tracked files over 1 MB (build outputs and data dumps stay out of git):"; echo "$$big"; exit 1; }

fmt: ## format the code
	gofmt -w .
