# Runs inside the build container: detect, compile, release, as Heroku's
# classic buildpack API describes. Arguments: buildpack dirs in detect order.
set -eo pipefail
build=/app cache=/cache env_dir=/env
chosen=""
for buildpack in "$@"; do
  if name=$("$buildpack/bin/detect" "$build" 2>/dev/null); then
    chosen=$buildpack
    break
  fi
done
if [ -z "$chosen" ]; then
  echo " !     No buildpack detected this app."
  echo " !     Add a Procfile, or a requirements.txt for Python."
  exit 3
fi
echo "-----> ${name:-$(basename "$chosen")} app detected"
"$chosen/bin/compile" "$build" "$cache" "$env_dir"
if [ -f "$chosen/export" ]; then . "$chosen/export"; fi
"$chosen/bin/release" "$build" > /out/release.yml
