#!/usr/bin/env bash
# Makes redis-server available for the Redis tests: installs Debian's package when it is missing
# and this machine can (root + apt-get). Never fails: without it, those tests skip with a reason.
set -u
command -v redis-server >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing redis-server (Debian package) for the Redis tests..."
  if apt-get update -qq >/dev/null 2>&1 &&
     DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null 2>&1; then
    exit 0
  fi
  echo "could not install redis-server: the Redis tests will be skipped"
else
  echo "redis-server is missing and cannot be installed here (needs root and apt-get): the Redis tests will be skipped"
fi
exit 0
