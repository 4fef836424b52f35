#!/usr/bin/env bash
# The action's main step (../action.yml): run plan or apply and set the step's outputs. The exit
# code is an output; a later step fails the job on it, after the plan has been commented.
set -uo pipefail
out="${RUNNER_TEMP:-/tmp}/tim-reconciler-out"
mkdir -p "$out"
values=()
for file in $INPUT_VALUES; do values+=(--values "$file"); done

counts() {  # the saved plan's counts as outputs (groups_create -> groups-create=N)
  [ -f "$1" ] || return 0
  reconciler show "$1" --format json | python3 -c '
import json, sys
doc = json.load(sys.stdin)
for key, value in doc["counts"].items():
    print(key.replace("_", "-") + "=" + str(value))
print("has-changes=" + ("true" if doc["has_changes"] else "false"))
' >> "$GITHUB_OUTPUT"
}

case "$INPUT_COMMAND" in
  plan)
    md="$out/plan.md"
    rm -f "$INPUT_PLAN_FILE"
    reconciler plan "$INPUT_CONFIG" "${values[@]}" --format markdown \
      --out "$INPUT_PLAN_FILE" --detailed-exitcode > "$md"
    code=$?
    cat "$md"
    echo "markdown-file=$md" >> "$GITHUB_OUTPUT"
    counts "$INPUT_PLAN_FILE"
    ;;
  apply)
    if [ -n "$INPUT_PLAN_FILE" ]; then
      counts "$INPUT_PLAN_FILE"
      reconciler apply "$INPUT_CONFIG" --plan "$INPUT_PLAN_FILE"
    else
      reconciler apply "$INPUT_CONFIG" "${values[@]}" --auto-approve
    fi
    code=$?
    ;;
  *)
    echo "::error::the command input is plan or apply, not '$INPUT_COMMAND'"
    code=1
    ;;
esac
echo "exitcode=$code" >> "$GITHUB_OUTPUT"
