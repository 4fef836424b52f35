#!/usr/bin/env bash
# Post the markdown plan on the pull request, or update the comment this action posted before
# for the same config (found by a hidden marker), so a pull request carries one current plan.
set -euo pipefail
if [ ! -s "$MARKDOWN" ]; then
  echo "No plan to comment: the plan failed before it was made (see the log above)."
  exit 0
fi
export MARKER="<!-- tim-reconciler plan: $CONFIG -->"
body="$(dirname "$MARKDOWN")/comment.md"
{ echo "$MARKER"; cat "$MARKDOWN"; } > "$body"
id=$(gh api "repos/$GITHUB_REPOSITORY/issues/$PR/comments" --paginate \
  --jq '.[] | select(.body | startswith(env.MARKER)) | .id' | tail -n 1)
if [ -n "$id" ]; then
  gh api --method PATCH "repos/$GITHUB_REPOSITORY/issues/comments/$id" -F "body=@$body" > /dev/null
  echo "Updated the plan comment $id."
else
  gh api --method POST "repos/$GITHUB_REPOSITORY/issues/$PR/comments" -F "body=@$body" > /dev/null
  echo "Posted the plan as a comment."
fi
