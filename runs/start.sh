#!/bin/bash
# Start (or resume) the pending long work: runs/start.sh, with RBSNN_DATA set.
# Work folder: $WORKDIR, default rbsnn-runs/ beside the checkout. It restores what
# runs/save.sh carried over (training states, stored shards), checks out runs/COMMIT there
# (stored shards are only reused by the commit that made them), and starts both lanes of
# runs/queue.sh in the background, logging to $WORKDIR/lane-a.log and lane-b.log.
set -eu
: "${RBSNN_DATA:?the data root (mnist/, cifar10-jpeg/)}"
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORKDIR=${WORKDIR:-$(dirname "$REPO")/rbsnn-runs}
export REPO WORKDIR RBSNN_DATA
[ -x "$REPO/.venv/bin/rbsnn" ] || make -C "$REPO" install  # a new machine: the pinned venv first
mkdir -p "$WORKDIR/rbsnn-home/zoo" "$WORKDIR/shards"
[ -d "$REPO/runs/state/zoo" ] && cp -rn "$REPO/runs/state/zoo/." "$WORKDIR/rbsnn-home/zoo/"
[ -d "$REPO/runs/state/shards" ] && cp -rn "$REPO/runs/state/shards/." "$WORKDIR/shards/"
[ -d "$WORKDIR/checkout" ] || git -C "$REPO" worktree add -q --detach "$WORKDIR/checkout" "$(cat "$REPO/runs/COMMIT")"
for lane in a b; do
  if pgrep -f "runs/queue.sh $lane" >/dev/null; then echo "lane $lane is running"; continue; fi
  nohup setsid "$REPO/runs/queue.sh" "$lane" >> "$WORKDIR/lane-$lane.log" 2>&1 < /dev/null &
  echo "lane $lane started: $WORKDIR/lane-$lane.log"
done
