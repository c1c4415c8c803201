#!/bin/sh
# A minimal qvlua command sampler in shell: reads the problem (JSON on
# standard input) and answers num_reads copies of the all-(+1) state.
first=$(head -n 1)
cat >/dev/null
n=$(printf '%s\n' "$first" | sed 's/.*"num_variables": \([0-9]*\).*/\1/')
reads=$(printf '%s\n' "$first" | sed 's/.*"num_reads": \([0-9]*\).*/\1/')
row=""
i=0
while [ "$i" -lt "$n" ]; do row="$row 1"; i=$((i + 1)); done
i=0
while [ "$i" -lt "$reads" ]; do echo "$row"; i=$((i + 1)); done
