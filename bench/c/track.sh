#!/usr/bin/env bash
# bench/c/track.sh - build and run bench/c/track.c: the cost of the
# written-page tracker of csrc/prim.h (Linux 6.7+; elsewhere it says the
# system refused it). Environment: as bench/c/program.sh.
exec bash "$(dirname "${BASH_SOURCE[0]}")/program.sh" track "$@"
