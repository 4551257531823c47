#!/usr/bin/env bash
# The v2 full runs of issue #29 (docs/claims.md, "v2"; the v1 runs of issue #21 used this script's earlier
# version, in git history): 5 seeds, TensorFlow op determinism, each task's full defaults, one article after
# another into outputs/v2/<name>/. Every run writes checkpoint.json after each seed and is started with --resume, so the script can be started again in a later session, from a checkout of the SAME
# package commit, with outputs/v2/ copied in (a checkpoint from another commit is refused). A finished run
# (a results.json with SEEDS seeds) is skipped. When a run is finished, copy its directory to results/<task>/ and run
# `python -m tasks.report` (the README's article sections).
#
#     nohup bash scripts/full_runs.sh [name ...] > full_runs.log 2>&1 &
#
# Names: the task modules, plus theseus_pos (article 3 on the POS-tag task).
# PARALLEL=2 splits each run's seeds over two single-threaded processes (the first half in outputs/v2/<name>/, the
# rest with --seed_offset k in outputs/v2/<name>.part2/, both resumable), then merges the second's finished seeds into the
# first (python -m tasks.runner merge) and writes results.json with one more --resume that trains nothing: on 2
# cores two one-thread processes train about 20% more examples/s than one two-thread process. SEEDS (default 5) and
# EXTRA (more options for every task, e.g. --quick for a smoke run) may be set too.
set -uo pipefail
cd "$(dirname "$0")/.."
SEEDS="${SEEDS:-5}"
PARALLEL="${PARALLEL:-1}"
read -r -a EXTRA_ARGS <<< "${EXTRA:-}"
NAMES=("$@")
if [ ${#NAMES[@]} -eq 0 ]; then
  NAMES=(logit_adjustment theseus theseus_pos imbalance_losses weissi flooding mgs nontermination)
fi
for name in "${NAMES[@]}"; do
  out="outputs/v2/$name"
  task="$name"; extra=()
  case "$name" in
    theseus_pos) task=theseus; extra=(--task pos) ;;
    flooding) extra=(--weight_decay_arm) ;;
  esac
  if [ -f "$out/results.json" ] && python -c 'import json, sys; sys.exit(len(json.load(open(sys.argv[1]))["seeds"]) < int(sys.argv[2]))' "$out/results.json" "$SEEDS"; then
    echo "== $name: $out/results.json holds $SEEDS seeds, skipped"
    continue
  fi
  mkdir -p "$out"
  echo "== $name: started $(date -u +%FT%TZ)"
  start=$(date +%s)
  run=(python -m "tasks.$task" --deterministic --resume "${extra[@]}" "${EXTRA_ARGS[@]}")
  if [ "$PARALLEL" = 2 ] && [ "$SEEDS" -ge 2 ]; then
    first=$(( (SEEDS + 1) / 2 ))
    part="$out.part2"
    mkdir -p "$part"
    export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 OMP_NUM_THREADS=1
    "${run[@]}" --seeds "$first" --output_dir "$out" >> "$out/run.log" 2>&1 &
    a=$!
    "${run[@]}" --seed_offset "$first" --seeds $(( SEEDS - first )) --output_dir "$part" >> "$part/run.log" 2>&1 &
    b=$!
    wait $a; ra=$?
    wait $b; rb=$?
    if [ $ra -eq 0 ] && [ $rb -eq 0 ] && python -m tasks.runner merge "$out" "$part" >> "$out/run.log" 2>&1 \
        && "${run[@]}" --seeds "$SEEDS" --output_dir "$out" >> "$out/run.log" 2>&1; then
      mv "$part" "$out/part2"  # its log and checkpoint, kept beside the merged run
      echo "== $name: done in $(( $(date +%s) - start )) s (two processes)"
    else
      echo "== $name: FAILED or interrupted after $(( $(date +%s) - start )) s (see $out/run.log, $part/run.log)"
    fi
  elif "${run[@]}" --seeds "$SEEDS" --output_dir "$out" >> "$out/run.log" 2>&1; then
    echo "== $name: done in $(( $(date +%s) - start )) s"
  else
    echo "== $name: FAILED or interrupted after $(( $(date +%s) - start )) s (see $out/run.log)"
  fi
done
