#!/usr/bin/env bash
# run-bench.sh SOFTVMM_BINARY [--peers]
#
# Times softvmm on the benchmark guests of ../shared/bench (README.md there
# describes them) and prints one row per guest: retired instructions, whole-
# process wall seconds, MIPS and the guest's own work rate.  A guest whose
# output differs from expected/NAME.out or whose exit status is not 0 is a
# FAIL; the others still run, and the script exits 1 at the end.
#
# --peers also runs each image under QEMU TCG and Bochs through the runners
# in the bench directory (when those emulators are installed) and prints
# softvmm's MIPS divided by theirs.  The peers report no instruction counts,
# so their MIPS use the measured counts in counts.tsv.
#
# Environment: SOFTVMM_BENCH_DIR (default: <repo>/../shared/bench),
# SOFTVMM_BENCH_TIMEOUT (seconds per run, default 900), QEMU and BOCHS (the
# emulator commands the peer runners use).
set -eu

usage() {
	echo "usage: $0 SOFTVMM_BINARY [--peers]" >&2
	exit 64
}

softvmm=""
peers=0
for arg in "$@"; do
	case "$arg" in
	--peers) peers=1 ;;
	-*) usage ;;
	*)
		[ -z "$softvmm" ] || usage
		softvmm=$arg
		;;
	esac
done
[ -n "$softvmm" ] || usage

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
bench=${SOFTVMM_BENCH_DIR:-$root/../shared/bench}
limit=${SOFTVMM_BENCH_TIMEOUT:-900}
guests="alu alu32 pio paging64 codegen modeswitch"

if [ ! -x "$softvmm" ]; then
	echo "$0: $softvmm is not an executable" >&2
	exit 66
fi
if [ ! -d "$bench" ]; then
	echo "$0: no benchmark directory at $bench (set SOFTVMM_BENCH_DIR)" >&2
	exit 66
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- arithmetic and formatting (awk, since sh has no floating point) ----------

now() { date +%s.%N; }

# run_timed OUT ERR CMD...: runs CMD under a time limit, sets $rc and $secs.
run_timed() {
	local out=$1 err=$2 t0 t1
	shift 2
	t0=$(now)
	rc=0
	timeout "$limit" "$@" >"$out" 2>"$err" </dev/null || rc=$?
	t1=$(now)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
}

# mips COUNT SECONDS
mips() {
	awk -v n="$1" -v s="$2" 'BEGIN {
		if (n == "" || s <= 0) print "-"; else printf "%.1f", n / s / 1e6 }'
}

# rate COUNT SECONDS UNIT: "16.7 M OUTs/s", "97 k round trips/s"
rate() {
	awk -v n="$1" -v s="$2" -v u="$3" 'BEGIN {
		if (n == "" || s <= 0) { print "-"; exit }
		r = n / s
		if (r >= 1e6) printf "%.1f M %s/s", r / 1e6, u
		else if (r >= 1e3) printf "%.0f k %s/s", r / 1e3, u
		else printf "%.0f %s/s", r, u }'
}

# ratio A B: A / B, or "-" when either is not a number.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "-" || b == "-" || b <= 0) print "-"; else printf "%.2fx", a / b }'
}

# last_field FILE REGEX: the last field of the last line matching REGEX,
# without thousands separators.
last_field() {
	awk -v re="$2" '$0 ~ re { n = $NF } END { gsub(/,/, "", n); print n }' "$1"
}

# The measured instruction count of an image, from counts.tsv.
measured() {
	[ -r "$bench/counts.tsv" ] || return 0
	awk -F '\t' -v g="$1" '$1 == g { print $2 }' "$bench/counts.tsv"
}

# Work done per full image, from the guest table of the bench README; the pio
# rate uses softvmm's own INOUT exit count instead.
work_of() {
	case "$1" in
	paging64) echo "11534336 accesses" ;;
	codegen) echo "430000 rounds" ;;
	modeswitch) echo "100000 round trips" ;;
	*) echo "" ;;
	esac
}

# ok_run GUEST: the last run exited 0 and printed exactly the expected bytes.
ok_run() {
	[ "$rc" -eq 0 ] && cmp -s "$tmp/out" "$bench/expected/$1.out"
}

# why_failed NAME GUEST: one line on stderr, plus the end of the run's stderr.
why_failed() {
	if [ "$rc" -ne 0 ]; then
		echo "$1 $2: exit status $rc" >&2
	else
		echo "$1 $2: output differs from expected/$2.out" >&2
	fi
	tail -n 5 "$tmp/err" | sed 's/^/    /' >&2
}

# --- peers ----------------------------------------------------------------------

have_qemu=0
have_bochs=0
if [ "$peers" -eq 1 ]; then
	if command -v "${QEMU:-qemu-system-x86_64}" >/dev/null 2>&1 &&
		[ -x "$bench/run-qemu.sh" ]; then
		have_qemu=1
	else
		echo "note: qemu-system-x86_64 not found; QEMU columns are '-'" >&2
	fi
	if command -v "${BOCHS:-bochs-bin}" >/dev/null 2>&1 &&
		command -v python3 >/dev/null 2>&1 && [ -x "$bench/bochs/run-bochs" ]; then
		have_bochs=1
	else
		echo "note: bochs not found; Bochs columns are '-'" >&2
	fi
fi

# peer_mips NAME HAVE GUEST RUNNER...: runs the image under a peer, prints
# "SECONDS MIPS" ("- -" when the peer is absent, "FAIL -" when it fails).
peer_mips() {
	local name=$1 have=$2 g=$3
	shift 3
	if [ "$have" -ne 1 ]; then
		echo "- -"
		return
	fi
	run_timed "$tmp/out" "$tmp/err" "$@" "$bench/$g.bin"
	if ! ok_run "$g"; then
		why_failed "$name" "$g"
		echo "FAIL -"
		return
	fi
	echo "$secs $(mips "$(measured "$g")" "$secs")"
}

# --- the runs -------------------------------------------------------------------

fmt="%-11s %-6s %12s %9s %9s %-22s"
pfmt=" %9s %9s %8s %9s %9s %8s"
# shellcheck disable=SC2059
{
	printf "$fmt" guest result instructions seconds MIPS "other rate"
	[ "$peers" -eq 1 ] && printf "$pfmt" "qemu s" "qemu MIPS" "vs qemu" "bochs s" \
		"bochs MIPS" "vs bochs"
	printf "\n"
}

failed=0
for g in $guests; do
	img=$bench/$g.bin
	run_timed "$tmp/out" "$tmp/err" "$softvmm" run --stats "$img"
	result=ok
	if ! ok_run "$g"; then
		result=FAIL
		failed=1
		why_failed softvmm "$g"
	fi
	insns=$(last_field "$tmp/err" '^instructions retired')
	m=$(mips "$insns" "$secs")
	other=-
	want=$(measured "$g")
	if [ -n "$insns" ] && [ -n "$want" ] && [ "$insns" != "$want" ]; then
		echo "warning: $g retired $insns instructions; $want were measured" >&2
	fi
	if [ "$result" = FAIL ]; then
		m=- # the time of a wrong run says nothing
	elif [ "$g" = pio ]; then
		other=$(rate "$(last_field "$tmp/err" '^exits INOUT([^_A-Za-z]|$)')" "$secs" OUTs)
	else
		work=$(work_of "$g")
		if [ -n "$work" ]; then
			other=$(rate "${work%% *}" "$secs" "${work#* }")
		fi
	fi
	# shellcheck disable=SC2059
	printf "$fmt" "$g" "$result" "${insns:--}" "$secs" "$m" "$other"
	if [ "$peers" -eq 1 ]; then
		read -r qs qm <<<"$(peer_mips qemu "$have_qemu" "$g" "$bench/run-qemu.sh")"
		read -r bs bm <<<"$(peer_mips bochs "$have_bochs" "$g" "$bench/bochs/run-bochs")"
		# shellcheck disable=SC2059
		printf "$pfmt" "$qs" "$qm" "$(ratio "$m" "$qm")" "$bs" "$bm" "$(ratio "$m" "$bm")"
	fi
	printf "\n"
done
if [ "$peers" -eq 1 ]; then
	echo "vs PEER = softvmm MIPS / PEER MIPS (above 1: softvmm is faster); peer MIPS use counts.tsv"
fi
exit "$failed"
