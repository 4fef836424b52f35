#!/usr/bin/env bash
# The action's main step (../action.yml): plan, or apply the reviewed plan, and set the step's
# outputs. The exit code is an output; a later step fails the job on it, after the comment.
#
# apply with a plan file applies exactly that plan. When it is refused because the app or a
# group it touches changed since it was reviewed (error kind stale_plan), the config is planned
# again here (the merge commit) and that plan, headed by why the reviewed one was not applied,
# becomes the markdown to comment; the job fails: nobody reviewed the new plan.
set -uo pipefail
out="${RUNNER_TEMP:-/tmp}/tim-reconciler-out"
mkdir -p "$out"
inputs=()  # what the config is rendered with: the values files, then the extra arguments
for file in ${INPUT_VALUES:-}; do inputs+=(--values "$file"); done
read -r -a extra <<< "${INPUT_ARGS:-}"
inputs+=("${extra[@]}")
lock=(--lock-timeout "${INPUT_LOCK_TIMEOUT:-900}")

summary() {  # a saved plan's app, counts and destructive flag as outputs (groups_create -> groups-create=N)
  [ -f "$1" ] || return 0
  reconciler show "$1" --format json | python3 -c '
import json, sys
doc = json.load(sys.stdin)
for key, value in doc["counts"].items():
    print(key.replace("_", "-") + "=" + str(value))
print("app=" + str(doc["app"]))
print("has-changes=" + ("true" if doc["has_changes"] else "false"))
print("destructive=" + ("true" if doc["destructive"] else "false"))
' >> "$GITHUB_OUTPUT"
}

plan() {  # plan into the plan file ($1) and markdown ($2); returns plan's exit code
  rm -f "$1"
  reconciler plan "$INPUT_CONFIG" "${inputs[@]}" --format markdown --out "$1" \
    --detailed-exitcode > "$2"
}

case "$INPUT_COMMAND" in
  plan)
    md="$out/plan.md"
    plan "$INPUT_PLAN_FILE" "$md"
    code=$?
    cat "$md"
    echo "markdown-file=$md" >> "$GITHUB_OUTPUT"
    summary "$INPUT_PLAN_FILE"
    ;;
  apply)
    if [ -n "$INPUT_PLAN_FILE" ]; then
      summary "$INPUT_PLAN_FILE"
      allow=()  # the reviewed plan's own destroys: what a reviewer approved
      [ "${INPUT_ALLOW_DESTROY:-false}" = true ] && allow=(--allow-destroy)
      result="$out/apply.json"
      reconciler apply "$INPUT_CONFIG" --plan "$INPUT_PLAN_FILE" "${inputs[@]}" "${allow[@]}" \
        "${lock[@]}" --format json > "$result"
      code=$?
      cat "$result"
      reason=$(python3 -c '
import json, sys
error = json.load(open(sys.argv[1])).get("error") or {}
if error.get("kind") == "stale_plan":
    print(error["message"])
' "$result" 2>/dev/null)
      if [ -n "$reason" ]; then
        md="$out/replan.md"
        plan "$out/replan.json" "$out/replan-body.md"
        {
          echo "### The reviewed plan was not applied"
          echo
          echo "It no longer matches what it was made from:"
          echo
          printf '%s\n' "$reason" | sed 's/^/    /'  # an indented code block: nothing in it renders
          echo
          echo "Below is the plan of the merged config, which nobody has reviewed. Nothing was"
          echo "applied: review it, and apply it through a new pull request."
          echo
          cat "$out/replan-body.md"
        } > "$md"
        cat "$md"
        echo "markdown-file=$md" >> "$GITHUB_OUTPUT"
        echo "stale=true" >> "$GITHUB_OUTPUT"
        code=1
      fi
    else
      if [ "${INPUT_ALLOW_DESTROY:-false}" = true ]; then
        echo "::warning::allow-destroy is honoured only when applying a reviewed plan-file; this apply plans anew and destroys nothing"
      fi
      reconciler apply "$INPUT_CONFIG" "${inputs[@]}" "${lock[@]}" --auto-approve
      code=$?
    fi
    ;;
  *)
    echo "::error::the command input is plan or apply, not '$INPUT_COMMAND'"
    code=1
    ;;
esac
echo "exitcode=$code" >> "$GITHUB_OUTPUT"
