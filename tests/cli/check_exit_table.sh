#!/usr/bin/env bash
# Runs every row of the exit-status table in docs/train.md against asgd-train: the command
# column's arguments, then the status and a piece of the output the row documents. The table is
# the contract; this makes it one that is kept.
#
#   check_exit_table.sh ASGD_TRAIN DOCS_TRAIN_MD SCRATCH_DIR
#
# In a row, $OUT stands for SCRATCH_DIR, where this script first lays out the inputs the rows
# name: data sets with a fault ($OUT/truncated, $OUT/shape, $OUT/dir_as_file) and a file that is
# not a checkpoint ($OUT/garbage.ckpt). Rows run in order (one may write what a later one reads).
set -uo pipefail
train=$1 doc=$2 out=$3
data=/usr/share/datasets/fashion-mnist
rm -rf "$out" && mkdir -p "$out"

# IDX headers (big-endian): magic 0x0803 (images) or 0x0801 (labels), then the dimensions.
be32() { printf "\\x$(printf %02x $(($1 >> 24 & 255)))\\x$(printf %02x $(($1 >> 16 & 255)))\\x$(printf %02x $(($1 >> 8 & 255)))\\x$(printf %02x $(($1 & 255)))"; }
images() { { printf '\x00\x00\x08\x03'; be32 "$2"; be32 "$3"; be32 "$4"; head -c $(($2 * $3 * $4)) /dev/zero; } >"$1"; }
labels() { { printf '\x00\x00\x08\x01'; be32 "$2"; head -c "$2" /dev/zero; } >"$1"; }

mkdir -p "$out/truncated" "$out/shape" "$out/dir_as_file/train-images-idx3-ubyte"
{ printf '\x00\x00\x08\x03'; be32 10; be32 28; be32 28; head -c 100 /dev/zero; } >"$out/truncated/train-images-idx3-ubyte"
labels "$out/truncated/train-labels-idx1-ubyte" 10
images "$out/shape/train-images-idx3-ubyte" 64 28 28
labels "$out/shape/train-labels-idx1-ubyte" 64
images "$out/shape/t10k-images-idx3-ubyte" 16 32 32
labels "$out/shape/t10k-labels-idx1-ubyte" 16
for f in train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  cp "$data/$f.gz" "$out/dir_as_file/"
done
printf 'not a checkpoint' >"$out/garbage.ckpt"

# The rows: | status | when | `arguments` | `a piece of the output` |
rows=0 failed=0
while IFS= read -r line; do
  [[ $line =~ ^\|\ *([0-9]+)\ *\|[^|]*\|\ *\`([^\`]*)\`\ *\|\ *\`([^\`]*)\`\ *\|$ ]] || continue
  status=${BASH_REMATCH[1]}
  args=${BASH_REMATCH[2]//\$OUT/$out}
  want=${BASH_REMATCH[3]//\$OUT/$out}
  rows=$((rows + 1))
  # shellcheck disable=SC2086 # the arguments are words
  got=$("$train" $args 2>&1)
  rc=$?
  if [[ $rc != "$status" || $got != *"$want"* ]]; then
    failed=$((failed + 1))
    printf 'FAILED: asgd-train %s\n  expected status %s and output containing: %s\n  got status %s:\n%s\n' \
      "$args" "$status" "$want" "$rc" "$(tail -5 <<<"$got")"
  else
    printf 'ok: asgd-train %s -> %s\n' "$args" "$rc"
  fi
done < <(sed -n '/^## Exit status and errors/,/^## /p' "$doc")
if ((rows < 10)); then
  echo "check_exit_table: only $rows rows found in $doc's exit-status table" >&2
  exit 1
fi
echo "$((rows - failed)) passed, $failed failed"
((failed == 0))
