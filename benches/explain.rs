//! Explainer overhead on the shipped trained small CNN (Fashion-MNIST,
//! 1×28×28 → 10) and a batch of N = 32 shipped test images, internal chunk
//! = 32 inputs.
//!
//! Each explainer is reported as the overhead ratio
//! `explainer time ÷ (model evaluations × raw time of one chunk)`:
//! * gradient methods and gradient CAMs: a model evaluation is one forward
//!   + backward pass of a 32-input chunk down to the input;
//! * forward-only methods (EigenCAM, PolyCAM) and the black-box
//!   perturbation methods (Occlusion, Feature Ablation, Shapley sampling,
//!   KernelSHAP, LIME, RISE): one forward pass of a 32-input chunk. For
//!   these the number of evaluated inputs is *counted* (a wrapper around
//!   the model counts the rows of every call) and divided by the chunk.
//!
//! The raw chunk times are measured in the same run, right before each
//! method (median of timed runs), so slow drifts of the shared machine's
//! load cancel. Criterion benches every method too; the summary tables with
//! the ratios are printed at the end. Results are recorded in
//! docs/performance.md.
//!
//! `cargo bench --bench explain -- --warm-up-time 1 --measurement-time 3`
//! (`SALIENCE_BENCH_PARTS=summary` skips criterion, `=criterion` the
//! summary).

mod common;

use common::{images, raw_fwd, raw_fwd_bwd, small_cnn, target_tensor, wall_and_cpu, Counted};
use criterion::Criterion;
use ndarray::Array4;
use salience::explain::registry;
use salience::models::SmallCnn;
use salience::Seeds;
use std::hint::black_box;
use std::sync::Arc;

const N: usize = 32;
const CHUNK: usize = 32;

/// Gradient-based and CAM methods: (spec, model evaluations per call,
/// forward-only?). The layer `conv2` is conv 16→32 + ReLU (14×14).
fn gradient_panel() -> Vec<(&'static str, f64, bool)> {
    let chunks = N as f64 / CHUNK as f64;
    vec![
        ("saliency:batch_size=32", chunks, false),
        ("input_x_gradient:batch_size=32", chunks, false),
        ("ig:n_steps=16,batch_size=32", 16.0 * chunks, false),
        (
            "smoothgrad:inner=saliency,inner.batch_size=32,n_samples=8,batch_size=32",
            8.0 * chunks,
            false,
        ),
        (
            "eg:n_samples=4,n_steps=4,batch_size=32",
            16.0 * chunks,
            false,
        ),
        ("grad_cam:layer=conv2,batch_size=32", chunks, false),
        (
            "grad_cam_plus_plus:layer=conv2,batch_size=32",
            chunks,
            false,
        ),
        ("eigen_cam:layer=conv2,batch_size=32", chunks, true),
        // PCAM±: 2·(16 + 32) masked inputs per input, forward only.
        (
            "poly_cam:layers=conv1|conv2,batch_size=32",
            (N * 2 * (16 + 32)) as f64 / CHUNK as f64 + chunks,
            true,
        ),
    ]
}

/// Black-box perturbation methods (forward only; evaluations counted).
fn perturbation_panel() -> Vec<&'static str> {
    vec![
        // 7 × 7 windows of 4 × 4 at stride 4, + 1 clean pass.
        "occlusion:window=4,stride=4,batch_size=32",
        // 49 patches of 4 × 4, + 1.
        "feature_ablation:feature_mask=patches,patch_size=4,batch_size=32",
        // 2 permutations of 49 patches of 4 × 4.
        "shapley_sampling:n_permutations=2,feature_mask=patches,patch_size=4,batch_size=32",
        "kernel_shap:n_samples=62,feature_mask=patches,patch_size=4,batch_size=32",
        "lime:n_samples=64,feature_mask=patches,patch_size=4,batch_size=32",
        "rise:n_masks=64,batch_size=32",
    ]
}

struct Setup {
    m: Arc<Counted<SmallCnn>>,
    x: Array4<f32>,
    t: Vec<usize>,
    xs: Vec<f32>,
    tt: candle_core::Tensor,
}

fn setup() -> Setup {
    let m = Arc::new(Counted::new(small_cnn()));
    let (x, _labels) = images(N);
    let t = common::predicted(&m.inner, &x);
    let xs = x.as_standard_layout().iter().copied().collect();
    let tt = target_tensor(&t);
    Setup { m, x, t, xs, tt }
}

fn benches(c: &mut Criterion, s: &Setup) {
    let mut g = c.benchmark_group("explain_small_cnn_b32");
    g.sample_size(10);
    g.bench_function("raw_forward_backward_chunk32", |b| {
        b.iter(|| black_box(raw_fwd_bwd(&s.m.inner, &s.xs, &s.tt, CHUNK)))
    });
    g.bench_function("raw_forward_chunk32", |b| {
        b.iter(|| black_box(raw_fwd(&s.m.inner, &s.xs, CHUNK)))
    });
    let specs = gradient_panel()
        .into_iter()
        .map(|p| p.0)
        .chain(perturbation_panel());
    for spec in specs {
        let e = registry::build(spec, &s.m).expect("spec");
        let name = spec.split(':').next().unwrap_or(spec);
        g.bench_function(name, |b| {
            b.iter(|| {
                black_box(
                    e.explain(s.x.view().into_dyn(), &s.t, Seeds::base(0))
                        .unwrap(),
                )
            })
        });
    }
    g.finish();
}

/// Raw chunk times: (forward + backward, forward), each as (median wall,
/// mean CPU) of 9 runs.
fn raw(s: &Setup) -> ((f64, f64), (f64, f64)) {
    let fb = wall_and_cpu(
        || {
            black_box(raw_fwd_bwd(&s.m.inner, &s.xs, &s.tt, CHUNK));
        },
        9,
    );
    (fb, raw_f(s))
}

/// Raw forward time of one chunk, (median wall, mean CPU) of 9 runs.
fn raw_f(s: &Setup) -> (f64, f64) {
    wall_and_cpu(
        || {
            black_box(raw_fwd(&s.m.inner, &s.xs, CHUNK));
        },
        9,
    )
}

fn summary(s: &Setup) {
    println!(
        "\n## explainer overhead, shipped small CNN (N = {N}, chunk = {CHUNK}; wall: medians, CPU: means of timed runs; load average {})",
        common::load_average()
    );
    let (fb, f) = raw(s);
    println!(
        "raw forward+backward of one chunk: {:.2} ms wall, {:.2} ms CPU; raw forward: {:.2} ms wall, {:.2} ms CPU",
        fb.0 * 1e3,
        fb.1 * 1e3,
        f.0 * 1e3,
        f.1 * 1e3
    );
    println!("| explainer | time (ms) | model evaluations (chunks) | raw (ms) | ratio (wall) | ratio (CPU time) |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (spec, evals, fwd_only) in gradient_panel() {
        let e = registry::build(spec, &s.m).expect("spec");
        let runs = if evals > 20.0 { 3 } else { 7 };
        let (fb0, f0) = raw(s);
        let (secs, cpu) = wall_and_cpu(
            || {
                drop(black_box(
                    e.explain(s.x.view().into_dyn(), &s.t, Seeds::base(0))
                        .unwrap(),
                ))
            },
            runs,
        );
        let (fb1, f1) = raw(s);
        let one = if fwd_only { (f0, f1) } else { (fb0, fb1) };
        let (raw, raw_cpu) = (
            evals * 0.5 * (one.0 .0 + one.1 .0),
            evals * 0.5 * (one.0 .1 + one.1 .1),
        );
        println!(
            "| `{spec}` | {:.1} | {evals:.0}{} | {:.1} | {:.2} | {:.2} |",
            secs * 1e3,
            if fwd_only { " fwd" } else { " fwd+bwd" },
            raw * 1e3,
            secs / raw,
            cpu / raw_cpu
        );
    }
    println!(
        "\n## perturbation methods (forward only; evaluated inputs counted; load average {})",
        common::load_average()
    );
    println!("| explainer | time (ms) | inputs evaluated (model calls) | raw fwd of one chunk (ms) | raw (ms) | ratio (wall) | ratio (CPU time) | time inside the model's forward in the same call (ms) | ratio to it |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for spec in perturbation_panel() {
        let e = registry::build(spec, &s.m).expect("spec");
        let run = || {
            s.m.reset();
            let c0 = common::cpu_secs();
            let (secs, a) = common::timed(|| {
                e.explain(s.x.view().into_dyn(), &s.t, Seeds::base(0))
                    .unwrap()
            });
            let cpu = common::cpu_secs() - c0;
            drop(black_box(a));
            (secs, cpu, s.m.inside_secs(), s.m.counts())
        };
        let (_, _, _, (calls, rows)) = run();
        let f0 = raw_f(s);
        let mut runs: Vec<(f64, f64, f64, (u64, u64))> = (0..3).map(|_| run()).collect();
        let f1 = raw_f(s);
        let cpu = runs.iter().map(|r| r.1).sum::<f64>() / runs.len() as f64;
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (secs, _, inside, _) = runs[runs.len() / 2];
        let chunks = rows as f64 / CHUNK as f64;
        let (f, f_cpu) = (0.5 * (f0.0 + f1.0), 0.5 * (f0.1 + f1.1));
        let raw = chunks * f;
        println!(
            "| `{spec}` | {:.1} | {rows} ({calls}) | {:.2} | {:.1} | {:.2} | {:.2} | {:.1} | {:.3} |",
            secs * 1e3,
            f * 1e3,
            raw * 1e3,
            secs / raw,
            cpu / (chunks * f_cpu),
            inside * 1e3,
            secs / inside
        );
    }
}

fn main() {
    let s = setup();
    let (run_criterion, run_summary) = common::parts();
    if run_criterion {
        let mut c = Criterion::default().configure_from_args();
        benches(&mut c, &s);
        c.final_summary();
    }
    if run_summary {
        summary(&s);
    }
}
