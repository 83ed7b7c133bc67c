#!/usr/bin/env bash
# Same-run comparison of salience with PyTorch + Captum (issues 21 and 26):
# prepares the weights and inputs (Python), checks the logits on both sides
# and the Grad-CAM and Occlusion maps when those rows are run (salience's
# `check --maps` writes them, Occlusion on the first input only; the Python
# side prints max |a - b| / max |b| and stops the run above 1e-4, 1e-3 for
# Occlusion), then runs every (model, row) once per side, each in its own
# process, alternating which side goes first, and records the 1-minute load
# average (the first field of `uptime`'s load average, read from
# /proc/loadavg) before and after each run. Prints the table at the end.
#
#   cargo build --release --example side_by_side
#   benches/side_by_side.sh
#
# Environment (all optional):
#   PY       Python with torch, torchvision, timm, captum, safetensors (/work/pyref/bin/python)
#   BIN      the salience binary (${CARGO_TARGET_DIR:-target}/release/examples/side_by_side)
#   DIR      data and results folder (target/side_by_side)
#   MODELS   models to run ("cnn resnet18 vit_tiny"; resnet50 too)
#   ROWS     rows to run ("forward fwd_bwd saliency ig50 smoothgrad50 gradcam occlusion")
#   REPS     timed repetitions of the cheap rows (3)
#   REPS_224 timed repetitions of IG-50, SmoothGrad-50 and Occlusion at 224²
#            (1, no warm-up)
#
# Occlusion at 224²: a 32×32 window over all channels (Captum's
# sliding_window_shapes (3, 32, 32)), stride 16 (13 × 13 = 169 positions),
# zero baseline, 16 model inputs per forward pass on both sides (Captum's
# perturbations_per_eval = 4 on the batch of 4; salience's
# OcclusionConfig::batch_size = 16). Grad-CAM on ViT-tiny: the token grid
# (class token dropped, 14 × 14) at the last block's input (salience's
# `blocks.10`, pytorch-grad-cam's `GradCAM` at `blocks[-2]` with the ViT
# reshape transform); see both files' headers.
#   THREADS  threads on both sides (2)
#   OMP_WAIT_POLICY  PyTorch's OpenMP idle threads (PASSIVE): on this shared
#            2-core machine at load 8, libgomp's default spin-waiting made
#            PyTorch's 2-thread CNN forward 4.8x slower (172 ms vs 36 ms
#            PASSIVE, 30 ms on 1 thread); PASSIVE keeps PyTorch fair under load.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-/work/pyref/bin/python}
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release/examples/side_by_side}
DIR=${DIR:-target/side_by_side}
MODELS=${MODELS:-cnn resnet18 vit_tiny}
ROWS=${ROWS:-forward fwd_bwd saliency ig50 smoothgrad50 gradcam occlusion}
REPS=${REPS:-3}
REPS_224=${REPS_224:-1}
THREADS=${THREADS:-2}
export RAYON_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
export SIDE_BY_SIDE_THREADS=$THREADS
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
RESULTS=$DIR/results.tsv
mkdir -p "$DIR"
load1() { cut -d' ' -f1 /proc/loadavg; }

echo "# side_by_side $(date -u +%FT%TZ) on $(uname -n): $(nproc) CPUs, threads $THREADS"
echo "# $(grep -m1 'model name' /proc/cpuinfo)"
echo "# salience $(git rev-parse --short HEAD); $("$PY" -c 'import torch, captum, timm, torchvision; print("torch", torch.__version__, "captum", captum.__version__, "timm", timm.__version__, "torchvision", torchvision.__version__)')"
echo "# OMP_WAIT_POLICY=$OMP_WAIT_POLICY RAYON_NUM_THREADS=$RAYON_NUM_THREADS REPS=$REPS REPS_224=$REPS_224"
echo "# uptime: $(uptime)"
"$PY" benches/torch_side_by_side.py prepare --dir "$DIR"
for m in $MODELS; do
    "$BIN" check "$m" --maps "$ROWS" --dir "$DIR"
    "$PY" benches/torch_side_by_side.py check "$m" --maps "$ROWS" --dir "$DIR"
done

: >"$RESULTS"
i=0
for m in $MODELS; do
    for r in $ROWS; do
        reps=$REPS warm=1
        if [ "$m" != cnn ] && { [ "$r" = ig50 ] || [ "$r" = smoothgrad50 ] || [ "$r" = occlusion ]; }; then
            reps=$REPS_224 warm=0
        fi
        if [ $((i % 2)) -eq 0 ]; then order="salience pytorch"; else order="pytorch salience"; fi
        i=$((i + 1))
        for side in $order; do
            before=$(load1)
            if [ "$side" = salience ]; then
                line=$("$BIN" row "$m" "$r" --reps "$reps" --warmup "$warm" --dir "$DIR" | grep '^RESULT')
            else
                line=$("$PY" benches/torch_side_by_side.py row "$m" "$r" --reps "$reps" --warmup "$warm" --dir "$DIR" | grep '^RESULT')
            fi
            after=$(load1)
            printf '%s\t%s\t%s\n' "$line" "$before" "$after" | tee -a "$RESULTS"
        done
    done
done
echo "# uptime: $(uptime)"
"$PY" benches/torch_side_by_side.py table "$RESULTS"
