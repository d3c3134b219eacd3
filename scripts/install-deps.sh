#!/usr/bin/env bash
# Install everything sltcp needs to build, test, demo and benchmark (Debian 12).
# Idempotent: quiet and fast when every package is already installed; runs
# `apt-get update` only when something is missing.
set -euo pipefail

PKGS=(
  build-essential cmake clang pkg-config
  libsodium-dev libhiredis-dev libbpf-dev libxdp-dev libcmocka-dev bpftool
  curl wget apache2-utils wrk nginx-light python3
  iproute2 ethtool tcpdump socat xxd openssl procps iputils-ping
  python3-scapy redis-server libclang-rt-14-dev haproxy
)

missing=()
for p in "${PKGS[@]}"; do
  st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ $st == installed ]] || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]} (re-run as root)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Do not let package scripts start system daemons (nginx-light would start a
# system-wide nginx): the tests run their own instances inside namespaces.
made_policy=
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  made_policy=1
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
[[ -n $made_policy ]] && rm -f /usr/sbin/policy-rc.d && trap - EXIT
echo "install-deps: done"
