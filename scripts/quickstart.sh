#!/bin/sh
# Quick start, step 1: install the packages, build, run the demo.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
sh "$top/scripts/deps.sh"
sh "$top/scripts/build.sh"
exec sh "$top/scripts/demo.sh"
