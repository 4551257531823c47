#!/usr/bin/env bash
# The full runs of issue #21, one article after another, into results/<task>/ (results.json, summary.md, plots;
# the log in results/<task>/run.log, not committed). An article whose results/<task>/results.json exists is skipped,
# so the script can be started again after an interruption (a run that was cut off starts over: it has no
# results.json). Each run uses TensorFlow op determinism (--deterministic) and the task's full defaults (3 seeds;
# each task's --help says how long it takes on 2 CPU cores). Article 5 (QA generation) is benchmarks/qa_cmrc.py.
#
#     nohup bash scripts/full_runs.sh [task ...] > full_runs.log 2>&1 &
#
# Then `python -m tasks.report` writes the README's article sections from results/.
set -uo pipefail
cd "$(dirname "$0")/.."
TASKS=("$@")
if [ ${#TASKS[@]} -eq 0 ]; then
  TASKS=(nontermination logit_adjustment imbalance_losses theseus flooding weissi mgs)
fi
for task in "${TASKS[@]}"; do
  out="results/$task"
  if [ -f "$out/results.json" ]; then
    echo "== $task: $out/results.json exists, skipped"
    continue
  fi
  mkdir -p "$out"
  echo "== $task: started $(date -u +%FT%TZ)"
  start=$(date +%s)
  if python -m "tasks.$task" --deterministic --output_dir "$out" > "$out/run.log" 2>&1; then
    echo "== $task: done in $(( $(date +%s) - start )) s"
  else
    echo "== $task: FAILED after $(( $(date +%s) - start )) s (see $out/run.log)"
  fi
done
