#!/usr/bin/env bash
# bench/c/lock.sh - build and run bench/c/lock.c: the shared lock against
# glibc's process-shared mutex (Linux). Usage: bench/c/lock.sh [pairs]
# Environment: as bench/c/program.sh.
exec bash "$(dirname "${BASH_SOURCE[0]}")/program.sh" lock "$@"
