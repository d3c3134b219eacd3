#!/usr/bin/env bash
# Kill test with the Redis store: see kill_common.sh.
KILL_STORE=redis
# shellcheck source-path=SCRIPTDIR source=kill_common.sh
. "$(dirname "$0")/kill_common.sh"
