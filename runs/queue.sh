#!/bin/bash
# The maintainers' pending long work (runs/README.md), as two lanes, one per core:
#   runs/queue.sh a|b
# Every step is idempotent and resumable: a finished card or row is skipped, an interrupted
# training run continues from its training state, an interrupted sweep reuses its stored
# shards and the member ledger of the shard it was in. Needs RBSNN_DATA (the data root);
# runs/start.sh sets up the rest.
set -u
: "${RBSNN_DATA:?the data root (mnist/, cifar10-jpeg/)}" "${WORKDIR:?}" "${REPO:?}"
export RBSNN_HOME=$WORKDIR/rbsnn-home OMP_NUM_THREADS=1 PYTHONPATH=$WORKDIR/checkout
R="$REPO/.venv/bin/rbsnn"
cd "$WORKDIR/checkout" || exit 1

has_card() { [ -f "$RBSNN_HOME/zoo/$1/$2.json" ] || [ -f "$REPO/zoo/$1/$2.json" ]; }

# A card published to the repository after runs/COMMIT is read from the user zoo, which
# every command reads first: the row's command then names no folder.
visible() {
  [ -f "$RBSNN_HOME/zoo/$1/$2.json" ] && return 0
  [ -f "$REPO/zoo/$1/$2.json" ] || return 1
  mkdir -p "$RBSNN_HOME/zoo/$1" && cp "$REPO/zoo/$1/$2.json" "$REPO/zoo/$1/$2.safetensors" "$RBSNN_HOME/zoo/$1/"
}

train() {  # dataset model epochs [extra train args]
  local ds=$1 m=$2 epochs=$3; shift 3
  has_card "$ds" "$m" && return 0
  local resume=(); ls "$RBSNN_HOME/zoo/$ds/$m".*train-state.pt >/dev/null 2>&1 && resume=(--resume)
  echo "== $(date -u +%FT%TZ) train $ds $m ${resume[*]}"
  "$R" train --model "$m" --dataset "$ds" --epochs "$epochs" --lr 0.002 --batch-size 128 --seed 0 --compile on --quiet "$@" "${resume[@]}"
}

rows() {  # dataset models attacks n_examples shards: one sweep, on the models whose card exists
  local ds=$1 models=() m; for m in ${2//,/ }; do visible "$ds" "$m" && models+=("$m"); done
  [ ${#models[@]} -eq 0 ] && return 0
  local list; list=$(IFS=,; echo "${models[*]}")
  echo "== $(date -u +%FT%TZ) sweep $ds $list $3 n=$4"
  "$R" sweep --quiet --datasets "$ds" --models "$list" --attacks "$3" --n-examples "$4" --shards "$5" --workers 1 \
    --store "$WORKDIR/shards"
}

case "${1:-}" in
  a)
    train cifar10-jpeg spikformer 15
    train cifar10-jpeg sew-resnet 15
    ;;
  b)
    for m in plif-net sdt spikformer sew-resnet; do train mnist "$m" 2 || exit 1; done
    rows cifar10-jpeg rsc-snn pgd 500 2
    rows mnist qkformer,plif-net,sdt,spikformer,sew-resnet standard 500 2
    rows cifar10-jpeg spikformer,sew-resnet pgd 1000 4
    rows cifar10-jpeg rsc-snn standard 500 2
    rows cifar10-jpeg spikformer,sew-resnet standard 1000 4
    ;;
  *) echo "usage: runs/queue.sh a|b" >&2; exit 2 ;;
esac
