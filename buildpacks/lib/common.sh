# shellcheck shell=bash
# What the shipped buildpacks' bin/compile share: the push's output format.
# Sourced, never run.
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
