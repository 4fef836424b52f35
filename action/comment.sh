#!/usr/bin/env bash
# Post the markdown plan on the pull request. One comment per app, config and values (a hidden
# marker names them, so each environment of a templated config has its own), updated on every
# push; MODE=new posts a new comment instead (an apply refused after merge: people are told).
set -euo pipefail
if [ ! -s "$MARKDOWN" ]; then
  echo "No plan to comment: the plan failed before it was made (see the log above)."
  exit 0
fi
# The pull request: the event GitHub gives every step (closed, for an apply after merge).
PR=$(python3 -c 'import json, os; print(json.load(open(os.environ["GITHUB_EVENT_PATH"]))["pull_request"]["number"])')
values=$(echo ${VALUES:-})  # one line, however the input was laid out
export MARKER="<!-- tim-reconciler plan: app=${APP:-?} config=$CONFIG values=$values args=${ARGS:-} -->"
body="$(dirname "$MARKDOWN")/comment.md"
{ echo "$MARKER"; cat "$MARKDOWN"; } > "$body"
id=""
if [ "${MODE:-update}" != new ]; then
  id=$(gh api "repos/$GITHUB_REPOSITORY/issues/$PR/comments" --paginate \
    --jq '.[] | select(.body | startswith(env.MARKER)) | .id' | tail -n 1)
fi
if [ -n "$id" ]; then
  gh api --method PATCH "repos/$GITHUB_REPOSITORY/issues/comments/$id" -F "body=@$body" > /dev/null
  echo "Updated the plan comment $id."
else
  gh api --method POST "repos/$GITHUB_REPOSITORY/issues/$PR/comments" -F "body=@$body" > /dev/null
  echo "Posted the plan as a comment."
fi
