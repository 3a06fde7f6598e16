# Runs inside the build container: detect, compile, release, as Heroku's
# classic buildpack API describes.
#   driver detect DIR...   the first buildpack whose bin/detect passes builds
#   driver use SPEC...     each builds in turn (multi-buildpack); a SPEC is
#                          shipped:DIR, git:URL[#REF] or tgz:URL
# Each bin/release's YAML goes to /out/release-N.yml.
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

# Prints the directory of the buildpack a SPEC names, fetching a URL once:
# later builds reuse it until `paas repo:purge-cache`.
fetch() {
  local kind=${1%%:*} url=${1#*:}
  if [ "$kind" = shipped ]; then
    echo "$url"
    return
  fi
  local dir
  dir="$fetched/$(printf %s "$url" | sha256sum | cut -c1-24)"
  if [ -x "$dir/bin/compile" ]; then
    echo "-----> Using buildpack $url (fetched earlier; \`paas repo:purge-cache\` fetches it again)" >&2
    echo "$dir"
    return
  fi
  echo "-----> Fetching buildpack $url" >&2
  local tmp
  tmp=$(mktemp -d "$fetched/.fetch-XXXXXX")
  if [ "$kind" = git ]; then
    local repo=${url%%#*} ref=
    [ "$repo" != "$url" ] && ref=${url#*#}
    # fetch, not clone: a ref may be a branch, a tag or a commit. Shallow
    # first; servers that cannot (dumb HTTP) get a whole fetch.
    git -C "$tmp" init -q >&2
    # Bounded: a server that stalls must not hold the app's lock forever.
    if ! timeout 300 git -C "$tmp" fetch -q --depth 1 "$repo" "${ref:-HEAD}" >/dev/null 2>&1 &&
      ! timeout 300 git -C "$tmp" fetch -q "$repo" "${ref:-HEAD}" >&2; then
      rm -rf "$tmp"
      fail "could not fetch the buildpack $url" "check the URL${ref:+ and the ref \`$ref\`}, and that this server can reach it" >&2
    fi
    git -C "$tmp" checkout -q FETCH_HEAD >&2
    rm -rf "$tmp/.git"
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
  fi
  for script in detect compile release; do
    [ -f "$tmp/bin/$script" ] || { rm -rf "$tmp"; fail "$url is not a buildpack: it has no bin/$script" >&2; }
    chmod +x "$tmp/bin/$script"
  done
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
