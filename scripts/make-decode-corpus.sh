#!/usr/bin/env bash
# Regenerate fuzz/corpus/decode from the test guests and the bench images.
# Each seed is one mode byte (fuzz_decode.c: 0 real, 2 prot32, 5 long64)
# followed by 15 bytes of guest code, taken every STRIDE bytes of each
# image.  Seeds are named by their SHA-1, so reruns only add new ones.
# Usage: scripts/make-decode-corpus.sh [BUILD_DIR]   (default: build)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
out=$top/fuzz/corpus/decode
stride=${STRIDE:-29}
mkdir -p "$out"
images=("$build"/guests/*.bin "$top"/tests/data/bench/*-small.bin)
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
for img in "${images[@]}"; do
	[ -f "$img" ] || continue
	size=$(stat -c %s "$img")
	for ((off = 0; off + 15 <= size && off < 4096; off += stride)); do
		for mode in 0 2 5; do
			printf "\\x0$mode" >"$tmp"
			tail -c +$((off + 1)) "$img" | head -c 15 >>"$tmp"
			name=$(sha1sum "$tmp" | cut -c1-16)
			cp "$tmp" "$out/$name"
		done
	done
done
echo "$(ls "$out" | wc -l) seeds in $out"
