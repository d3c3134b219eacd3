#!/usr/bin/env bash
# Kill torture with the Redis store: 300 kills, a quarter of them inside the
# new instance's first 60 ms (see kill_torture_common.sh).
KT_STORE=redis
# shellcheck source-path=SCRIPTDIR source=kill_torture_common.sh
. "$(dirname "$0")/kill_torture_common.sh"
