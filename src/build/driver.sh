# Runs inside the build container: detect, compile, release, as Heroku's
# classic buildpack API describes.
#   driver detect DIR...   the first buildpack whose bin/detect passes builds
#   driver use SPEC...     each builds in turn (multi-buildpack); a SPEC is
#                          shipped:DIR, git:URL[#REF] or tgz:URL
# Each bin/release's YAML goes to /out/release-N.yml.
# Run by `bash -c`, so no #! line says which shell:
# shellcheck shell=bash
set -eo pipefail
# Errors inside $(fetch …) stop it too, so a half-fetched buildpack is never kept.
shopt -s inherit_errexit
build=/app cache=/cache env_dir=/env fetched=/buildpack-cache

fail() {
  echo " !     $1"
  shift
  for line in "$@"; do echo "       $line"; done
  exit 1
}

# The commit a git REF (or HEAD) names in REPO, as git fetch would resolve
# it (the ref itself, then under refs/, a tag, a branch; a tag's commit); a
# full commit hash is itself. Fails with 1 when REPO cannot be reached,
# with 2 when it has no such ref.
resolve_ref() {
  local repo=$1 ref=${2:-HEAD} listed candidate
  if [[ $ref =~ ^[0-9a-f]{40}$ ]]; then
    echo "$ref"
    return
  fi
  # Bounded: a server that stalls must not hold the app's lock for long.
  listed=$(timeout 30 git ls-remote "$repo" "$ref" "$ref^{}" 2>/dev/null) || return 1
  for candidate in "$ref" "refs/$ref" "refs/tags/$ref" "refs/heads/$ref"; do
    # An annotated tag's own line comes with its commit's (TAG^{}).
    awk -v want="$candidate" '$2 == want "^{}" { peeled = $1 } $2 == want { own = $1 }
      END { if (peeled != "") print peeled; else if (own != "") print own }' <<< "$listed" | grep . && return
  done
  return 2
}

# Fetches a git buildpack (URL[#REF]) into the new directory TMP.
fetch_git() {
  local url=$1 tmp=$2 repo=${1%%#*} ref=
  [ "$repo" != "$url" ] && ref=${url#*#}
  # fetch, not clone: a ref may be a branch, a tag or a commit. Shallow
  # first; servers that cannot (dumb HTTP) get a whole fetch.
  git -C "$tmp" init -q >&2
  if ! timeout 300 git -C "$tmp" fetch -q --depth 1 "$repo" "${ref:-HEAD}" >/dev/null 2>&1 &&
    ! timeout 300 git -C "$tmp" fetch -q "$repo" "${ref:-HEAD}" >&2; then
    return 1
  fi
  git -C "$tmp" checkout -q FETCH_HEAD >&2 || return 1
  git -C "$tmp" rev-parse HEAD
}

# Prints the directory of the buildpack a SPEC names. A git buildpack is
# checked on every build: its ref (or HEAD) is resolved to a commit, and
# the checkout of that commit is reused or fetched, replacing older ones
# (when the repository cannot be reached, the copy fetched earlier is used).
# A tarball is downloaded once: later builds reuse it until
# `paas repo:purge-cache`.
fetch() {
  local kind=${1%%:*} url=${1#*:}
  if [ "$kind" = shipped ]; then
    echo "$url"
    return
  fi
  export GIT_TERMINAL_PROMPT=0
  local base dir commit="" earlier="" ref="" was=""
  base="$fetched/$(printf %s "$url" | sha256sum | cut -c1-24)"
  if [ "$kind" = git ]; then
    local repo=${url%%#*} found=0
    [ "$repo" != "$url" ] && ref=${url#*#}
    # A checkout is named by the URL's hash and its commit (one named by
    # the hash alone was fetched before commits were recorded).
    for dir in "$base"-* "$base"; do
      if [ -x "$dir/bin/compile" ]; then
        earlier=$dir
        break
      fi
    done
    [ -z "$earlier" ] || [ "$earlier" = "$base" ] || was=${earlier##*-}
    commit=$(resolve_ref "$repo" "$ref") || found=$?
    if [ "$found" = 2 ]; then
      fail "the buildpack's repository $repo has no branch or tag \`${ref:-HEAD}\`" \
        "check the ref after # in the buildpack URL $url" >&2
    fi
    if [ "$found" = 1 ] && [ -n "$earlier" ]; then
      local copy="the copy fetched earlier"
      [ -z "$was" ] || copy="$copy (commit ${was:0:7})"
      echo " !     Could not reach the buildpack's repository $repo:" >&2
      echo " !     building with $copy, which may be out of date." >&2
      echo "$earlier"
      return
    fi
    if [ "$found" = 0 ] && [ -x "$base-$commit/bin/compile" ]; then
      echo "-----> Using buildpack $url at ${commit:0:7} (fetched earlier, unchanged)" >&2
      echo "$base-$commit"
      return
    fi
  elif [ -x "$base/bin/compile" ]; then
    echo "-----> Using buildpack $url (fetched earlier; \`paas repo:purge-cache\` fetches it again)" >&2
    echo "$base"
    return
  fi
  echo "-----> Fetching buildpack $url${commit:+ at ${commit:0:7}}${was:+ (was ${was:0:7})}" >&2
  local tmp
  tmp=$(mktemp -d "$fetched/.fetch-XXXXXX")
  if [ "$kind" = git ]; then
    if ! commit=$(fetch_git "$url" "$tmp"); then
      rm -rf "$tmp"
      fail "could not fetch the buildpack $url" "check the URL${ref:+ and the ref \`$ref\`}, and that this server can reach it" >&2
    fi
    rm -rf "$tmp/.git"
    # Named by what was fetched: the branch may have moved since.
    dir="$base-$commit"
  else
    if ! curl -fsSL --retry 2 --max-time 300 "$url" | tar -xz -C "$tmp" >&2; then
      rm -rf "$tmp"
      fail "could not download the buildpack $url" "check the URL, and that this server can reach it" >&2
    fi
    # A tarball of one top directory holds the buildpack inside it.
    local entries=("$tmp"/*)
    if [ ! -d "$tmp/bin" ] && [ ${#entries[@]} -eq 1 ] && [ -d "${entries[0]}/bin" ]; then
      mv "${entries[0]}" "$tmp.inner" && rm -rf "$tmp" && mv "$tmp.inner" "$tmp"
    fi
    dir=$base
  fi
  for script in detect compile release; do
    [ -f "$tmp/bin/$script" ] || { rm -rf "$tmp"; fail "$url is not a buildpack: it has no bin/$script" >&2; }
    chmod +x "$tmp/bin/$script"
  done
  # Older checkouts of this URL go: one copy per buildpack is kept.
  if [ "$kind" = git ]; then rm -rf "$base" "$base"-*; fi
  rm -rf "$dir"
  mv "$tmp" "$dir"
  echo "$dir"
}

mode=$1
shift
case "$mode" in
detect)
  chosen=""
  for buildpack in "$@"; do
    if name=$("$buildpack/bin/detect" "$build" 2>/dev/null); then
      chosen=$buildpack
      break
    fi
  done
  if [ -z "$chosen" ]; then
    echo " !     No buildpack detected this app."
    echo "       Add a Procfile, or the files of a supported language (requirements.txt, package.json, Gemfile, composer.json, go.mod, Cargo.toml, index.html),"
    echo "       or choose one with \`paas buildpacks:set\`."
    exit 3
  fi
  buildpacks=("$chosen")
  names=("${name:-$(basename "$chosen")}")
  ;;
use)
  buildpacks=() names=()
  for spec in "$@"; do
    dir=$(fetch "$spec")
    label=${spec#*:}
    [ "${spec%%:*}" = shipped ] && label=$(basename "$label")
    if ! name=$("$dir/bin/detect" "$build"); then
      fail "This app is not compatible with the buildpack $label: its bin/detect refused it" \
        "choose another with \`paas buildpacks:set\`, or add what it looks for"
    fi
    buildpacks+=("$dir")
    names+=("${name:-$label}")
  done
  ;;
*)
  echo "driver: unknown mode $mode" >&2
  exit 2
  ;;
esac

for i in "${!buildpacks[@]}"; do
  dir=${buildpacks[$i]}
  echo "-----> ${names[$i]} app detected"
  "$dir/bin/compile" "$build" "$cache" "$env_dir"
  # What one buildpack exports, the next one's compile sees.
  if [ -f "$dir/export" ]; then
    # shellcheck disable=SC1091
    . "$dir/export"
  fi
  "$dir/bin/release" "$build" >"/out/release-$((i + 1)).yml"
done
