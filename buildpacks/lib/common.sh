# shellcheck shell=bash
# What the shipped buildpacks' bin/compile share: the push's output format
# and reading config vars from ENV_DIR. Sourced, never run.
#
# src/build/shipped.rs ships this file into every shipped buildpack as
# lib/common.sh, so each buildpack's directory is whole on its own (a copy
# of one works as a third-party buildpack) and a compile sources it with
#   . "$(dirname "$0")/../lib/common.sh"
# In the repository it lives once, here.

# A step of the build: `-----> what`, as on Heroku.
step() { echo "-----> $*"; }

# Detail under a step: each line of stdin indented 7 spaces, line by line
# as it comes (sed -u), so a long install shows progress.
indent() { sed -u 's/^/       /'; }

# Fails the build: each argument a ` !     ` line, then exit 1.
fail() {
  local line
  for line in "$@"; do echo " !     $line"; done
  exit 1
}

# Exports the config vars in ENV_DIR (one file per var, named after it), as
# the tools a build runs read their settings from the environment (pip's
# PIP_INDEX_URL, npm's NPM_CONFIG_*, a frontend build's API URL); not those
# that would unsettle the build itself:
#   PATH HOME LANG STACK BUILD_DIR  the build container's own (HOME is /app,
#                                   LANG the stack's C.UTF-8: a locale a
#                                   config var names may not be installed)
#   SSL_CERT_FILE NODE_EXTRA_CA_CERTS  the CA bundle the build container sets
#   GIT_DIR                         would point git at another repository
#   LD_PRELOAD LD_LIBRARY_PATH LIBRARY_PATH CPATH CPPATH
#                                   the stack's linker and compiler paths
#   PYTHONHOME PYTHONPATH VIRTUAL_ENV  the stack's Python, the app's virtualenv
#   GEM_HOME GEM_PATH BUNDLE_* BUNDLER_*  where the Ruby buildpack installs gems
# A name that cannot be a shell variable is skipped.
export_env_dir() {
  local env_dir=$1 file name
  [ -d "$env_dir" ] || return 0
  for file in "$env_dir"/*; do
    [ -f "$file" ] || continue
    name=${file##*/}
    [[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
    case $name in
      PATH | HOME | LANG | STACK | BUILD_DIR | SSL_CERT_FILE | NODE_EXTRA_CA_CERTS | GIT_DIR | \
        LD_PRELOAD | LD_LIBRARY_PATH | LIBRARY_PATH | CPATH | CPPATH | \
        PYTHONHOME | PYTHONPATH | VIRTUAL_ENV | GEM_HOME | GEM_PATH | BUNDLE_* | BUNDLER_*) continue ;;
    esac
    # -g: a config var named like this function's locals (file, name)
    # still reaches the environment rather than the local.
    declare -gx "$name=$(cat "$file")"
  done
}
