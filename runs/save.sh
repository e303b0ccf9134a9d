#!/bin/bash
# Carry the pending work's progress into the repository before a work session ends:
# runs/save.sh copies every training state and stored shard (and shard ledger) of $WORKDIR
# into runs/state/, replacing what was there; commit runs/state afterwards. Pause the lanes
# first (kill -STOP), so no file is copied half-written.
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORKDIR=${WORKDIR:-$(dirname "$REPO")/rbsnn-runs}
rm -rf "$REPO/runs/state"
mkdir -p "$REPO/runs/state"
for state in "$WORKDIR"/rbsnn-home/zoo/*/*.train-state.pt; do  # not the state of a card already published
  [ -f "$state" ] || continue
  rel=${state#"$WORKDIR/rbsnn-home/"}
  [ -f "$REPO/${rel%.train-state.pt}.json" ] || (cd "$WORKDIR/rbsnn-home" && cp --parents "$rel" "$REPO/runs/state")
done
(cd "$WORKDIR" && find shards \( -name 'shard-*.safetensors' -o -name 'shard-*.resume' \) -exec cp --parents {} "$REPO/runs/state" \;)
for card in "$WORKDIR"/rbsnn-home/zoo/*/*.json; do
  [ -f "$card" ] || continue
  rel=${card#"$WORKDIR/rbsnn-home/"}
  [ -f "$REPO/$rel" ] || echo "save.sh: $rel is trained but not published; publish it (runs/README.md)"
done
du -sh "$REPO/runs/state"
