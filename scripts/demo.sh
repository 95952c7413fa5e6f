#!/usr/bin/env bash
# The demo of README: a real migration of a generated sample against the built-in simulator,
# with the embedded SQLite checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=bin/druid-migrate
dir=demo
rm -rf "$dir"
mkdir -p "$dir"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "generate 2,000 users (a few invalid, a few DRUID refuses)"
go run ./internal/sample/gensample -n 2000 -dir "$dir"

step "start the DRUID simulator"
"$bin" --log-format json --log-level warn fake-druid --addr 127.0.0.1:0 --users "$dir/druid-users.jsonl" \
	--token demo-token >"$dir/fake-druid.out" 2>"$dir/fake-druid.log" &
sim=$!
trap 'kill $sim 2>/dev/null || true' EXIT
for _ in $(seq 100); do
	grep -q listening "$dir/fake-druid.out" 2>/dev/null && break
	kill -0 $sim 2>/dev/null || { cat "$dir/fake-druid.log"; exit 1; }
	sleep 0.1
done
endpoint=$(sed -n 's/.*listening on //p' "$dir/fake-druid.out")
echo "simulator at $endpoint"

export DRUID_ENDPOINT=$endpoint DRUID_TOKEN=demo-token DRUID_APP_ID=demo-app \
	DRUID_ENTRY_POINT=231705665113870-main DRUID_CHECKPOINT=$dir/druid-migrate.db DRUID_JOB=demo \
	DRUID_RATE=500 DRUID_CONCURRENCY=16 DRUID_LOG_LEVEL=error DRUID_LOG_FORMAT=console

step "druid-migrate dry-run: the first two payloads, exactly as they would be sent"
"$bin" dry-run --source "$dir/users.csv" --limit 2

step "druid-migrate run --source $dir/users.csv"
set +e
"$bin" run --source "$dir/users.csv"
first=$?
set -e
echo "exit code $first (1: some users are invalid or were rejected)"

step "druid-migrate failures"
"$bin" failures

step "druid-migrate run again: every user already answered is skipped"
set +e
"$bin" run --source "$dir/users.csv"
second=$?
set -e
echo "exit code $second"

step "druid-migrate status"
"$bin" status

step "druid-migrate runs"
"$bin" runs

[ "$first" -eq 1 ] && [ "$second" -eq 1 ] || { echo "demo: unexpected exit codes $first, $second" >&2; exit 1; }
step "demo finished; the checkpoint is in $dir/druid-migrate.db"
