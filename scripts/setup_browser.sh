#!/usr/bin/env bash
# Make a headless Chromium available to the browser tests (tests/test_playground_browser.py), quickly and
# idempotently. Playwright cannot download its own browser here, so the tests drive Debian's
# chromium-headless-shell:
#   - $BPROP_CHROMIUM, when set, names the browser to use, and nothing is installed;
#   - a browser already at one of the Debian paths is used as it is;
#   - otherwise, as root on a Debian-like system with apt, chromium-headless-shell is installed.
# It never fails the test command: without a browser the browser tests skip (or fail, with CI=true).
set -u

if [ -n "${BPROP_CHROMIUM:-}" ]; then
    [ -x "$BPROP_CHROMIUM" ] || echo "setup_browser: BPROP_CHROMIUM=$BPROP_CHROMIUM is not an executable file" >&2
    exit 0
fi
for candidate in /usr/lib/chromium/chromium-headless-shell /usr/bin/chromium-headless-shell; do
    [ -x "$candidate" ] && exit 0
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && [ -r /etc/debian_version ]; then
    echo "setup_browser: installing Debian's chromium-headless-shell for the browser tests" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends chromium-headless-shell >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null 2>&1 \
             && apt-get install -y -qq --no-install-recommends chromium-headless-shell >/dev/null 2>&1; } \
        || echo "setup_browser: apt-get could not install chromium-headless-shell" >&2
else
    echo "setup_browser: no headless Chromium found; set BPROP_CHROMIUM to one for the browser tests" >&2
fi
exit 0
