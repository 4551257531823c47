#!/usr/bin/env bash
# The v2 full runs of issue #29 (docs/claims.md, "v2"; the v1 runs of issue #21 used this script's earlier
# version, in git history): 5 seeds, TensorFlow op determinism, each task's full defaults, one article after
# another into outputs/v2/<name>/. Every run writes checkpoint.json after each seed and is started with --resume, so the script can be started again in a later session, from a checkout of the SAME
# package commit, with outputs/v2/ copied in (a checkpoint from another commit is refused). A finished run
# (results.json) is skipped. When a run is finished, copy its directory to results/<task>/ and run
# `python -m tasks.report` (the README's article sections).
#
#     nohup bash scripts/full_runs.sh [name ...] > full_runs.log 2>&1 &
#
# Names: the task modules, plus theseus_pos (article 3 on the POS-tag task).
set -uo pipefail
cd "$(dirname "$0")/.."
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
  if [ -f "$out/results.json" ]; then
    echo "== $name: $out/results.json exists, skipped"
    continue
  fi
  mkdir -p "$out"
  echo "== $name: started $(date -u +%FT%TZ)"
  start=$(date +%s)
  if python -m "tasks.$task" --deterministic --seeds 5 --resume "${extra[@]}" --output_dir "$out" >> "$out/run.log" 2>&1; then
    echo "== $name: done in $(( $(date +%s) - start )) s"
  else
    echo "== $name: FAILED or interrupted after $(( $(date +%s) - start )) s (see $out/run.log)"
  fi
done
