#!/bin/sh
# ssh's stand-in in the tests: `fake_ssh.sh HOST COMMAND...` runs COMMAND here, as
# ssh would run it on HOST (the arguments joined by spaces, read by a shell; stdin passed on).
shift
exec sh -c "$*"
