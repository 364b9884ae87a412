#!/usr/bin/env bash
# scripts/deps.sh — installs the Debian packages remat needs, only those missing.
# Sourced by demo.sh and test.sh. Set REMAT_NO_APT=1 to skip installing.
remat_deps() {
  local pkgs=(meson ninja-build pkg-config gcc libglpk-dev glpk-utils libyaml-dev libcmocka-dev
              libopenblas-dev valgrind "$@")
  local missing=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ -n "${REMAT_NO_APT:-}" ]; then
    echo "remat: missing packages (REMAT_NO_APT set, not installing): ${missing[*]}" >&2
    return 1
  fi
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "remat: installing ${missing[*]}" >&2
  $sudo apt-get update -qq >/dev/null || return 1
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null || return 1
}
