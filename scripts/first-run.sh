#!/bin/sh
# Queue example posts on a fresh database, so `make run` shows the daemon planning and
# publishing within a minute and a healthy week ahead. Does nothing once posts exist.
set -eu
SCHEDULER="$1"
if [ "$("$SCHEDULER" --config config.toml queue list --format json | grep -c '"editor"')" != 0 ]; then
    exit 0
fi
"$SCHEDULER" --config config.toml queue add --channel main --kind core --at +20s \
    "Welcome! This post was pinned 20 seconds after set-up; the daemon published it to published.jsonl."
"$SCHEDULER" --config config.toml queue add --channel main --kind entertaining \
    "مرحبا! Right-to-left text and emoji 👨‍👩‍👧 go through untouched."
# A library large enough for a healthy week: an hourly channel uses about 20 airings a day,
# and each post airs at most 7 times (once fresh, repost.max_airings = 6 reruns).
"$SCHEDULER" --config config.toml queue import "$(dirname "$0")/first-run-posts.csv"
"$SCHEDULER" --config config.toml calendar --days 2 --format text || true
echo "Starting the daemon; published posts are appended to published.jsonl. Stop it with Ctrl-C."
