#!/usr/bin/env bash
# Kill test with the shm store (the embedded default): see kill_common.sh.
KILL_STORE=shm
# shellcheck source-path=SCRIPTDIR source=kill_common.sh
. "$(dirname "$0")/kill_common.sh"
