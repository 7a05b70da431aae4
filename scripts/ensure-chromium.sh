#!/usr/bin/env bash
# Makes headless Chromium and its WebDriver available for the browser test of `neo report`: installs
# Debian's chromium and chromium-driver when missing and this machine can (root + apt-get), with a
# Latin and a Chinese font for its screenshots (Tushare's messages and names are Chinese). Never
# fails: without them, that test skips with a reason.
set -u
command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 &&
  [ -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium and chromium-driver (Debian packages) for the report's browser test..."
  if apt-get update -qq >/dev/null 2>&1 &&
     DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver \
       fonts-liberation fonts-wqy-zenhei >/dev/null 2>&1; then
    exit 0
  fi
  echo "could not install chromium: the report's browser test will be skipped"
else
  echo "chromium is missing and cannot be installed here (needs root and apt-get): the report's browser test will be skipped"
fi
exit 0
