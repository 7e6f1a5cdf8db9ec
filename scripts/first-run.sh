#!/bin/sh
# Queue a few example posts on a fresh database, so `make run` shows the daemon planning and
# publishing within a minute. Does nothing once posts exist.
set -eu
SCHEDULER="$1"
if [ "$("$SCHEDULER" --config config.toml queue list --format json | grep -c '"editor"')" != 0 ]; then
    exit 0
fi
"$SCHEDULER" --config config.toml queue add --channel main --kind core --at +20s \
    "Welcome! This post was pinned 20 seconds after set-up; the daemon published it to published.jsonl."
"$SCHEDULER" --config config.toml queue add --channel main --kind entertaining \
    "مرحبا! Right-to-left text and emoji 👨‍👩‍👧 go through untouched."
"$SCHEDULER" --config config.toml queue add --channel main --kind core \
    "A floating post: the planner gives it the next free hourly slot (see scheduler calendar)."
"$SCHEDULER" --config config.toml queue add --channel main --kind entertaining \
    "Another floating one, light and entertaining, so the mix stays lively."
"$SCHEDULER" --config config.toml calendar --days 1 --format text || true
echo "Starting the daemon; published posts are appended to published.jsonl. Stop it with Ctrl-C."
