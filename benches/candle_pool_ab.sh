#!/usr/bin/env bash
# Same-run A/B of candle 0.11's elementwise thread pool (docs/candle-bugs.md
# § 4): each (model, row) of examples/side_by_side runs PAIRS times with
# candle's pool on (CANDLE_NUM_THREADS=$THREADS, candle's default) and off
# (the example's default since ops::candle_elementwise_on_caller: 1),
# alternating which goes first; prints median seconds, CPU seconds
# (user + sys) and the on ÷ off ratio per row.
#
#   cargo build --release --example side_by_side
#   benches/torch_side_by_side.py prepare --dir target/side_by_side   # once (side_by_side.sh does it)
#   benches/candle_pool_ab.sh
#
# Environment: BIN, DIR, MODELS ("cnn resnet18 vit_tiny"), ROWS ("forward
# fwd_bwd saliency"), PAIRS (3), REPS (3), THREADS (2).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release/examples/side_by_side}
DIR=${DIR:-target/side_by_side}
MODELS=${MODELS:-cnn resnet18 vit_tiny}
ROWS=${ROWS:-forward fwd_bwd saliency}
PAIRS=${PAIRS:-3}
REPS=${REPS:-3}
THREADS=${THREADS:-2}
export RAYON_NUM_THREADS=$THREADS
echo "# candle_pool_ab $(date -u +%FT%TZ) $(git rev-parse --short HEAD) threads $THREADS; uptime: $(uptime)"
printf 'model\trow\tpool on: median s\tCPU s\tpool off: median s\tCPU s\ton / off\tload\n'
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for m in $MODELS; do
    for r in $ROWS; do
        : >/tmp/ab_on.$$; : >/tmp/ab_off.$$; : >/tmp/ab_con.$$; : >/tmp/ab_coff.$$
        for p in $(seq "$PAIRS"); do
            if [ $((p % 2)) -eq 1 ]; then order="on off"; else order="off on"; fi
            for side in $order; do
                if [ "$side" = on ]; then envv="CANDLE_NUM_THREADS=$THREADS"; else envv="SALIENCE_AB=off"; fi
                out=$(env "$envv" /usr/bin/time -f 'CPU %U %S' "$BIN" row "$m" "$r" --reps "$REPS" --dir "$DIR" 2>&1)
                echo "$out" | awk -F'\t' '/^RESULT/ {print $5}' >>/tmp/ab_$side.$$
                echo "$out" | awk '/^CPU/ {print $2 + $3}' >>/tmp/ab_c$side.$$
            done
        done
        on=$(median </tmp/ab_on.$$); off=$(median </tmp/ab_off.$$)
        con=$(median </tmp/ab_con.$$); coff=$(median </tmp/ab_coff.$$)
        printf '%s\t%s\t%.3f\t%.2f\t%.3f\t%.2f\t%.2f\t%s\n' "$m" "$r" "$on" "$con" "$off" "$coff" \
            "$(echo "$on / $off" | bc -l)" "$(cut -d' ' -f1 /proc/loadavg)"
    done
done
rm -f /tmp/ab_*.$$
