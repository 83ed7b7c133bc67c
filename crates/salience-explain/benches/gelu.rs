//! The exact GELU op (`ops::gelu_erf`, the vectorised f32 kernel) against
//! candle's `Tensor::gelu_erf` (libm's scalar `erff`; its backward six
//! full-size ops), on one ViT-tiny MLP activation at batch 4: 4 × 197 ×
//! 768 f32, forward alone and forward + backward (the gradient of the sum).
//! ViT-tiny runs 12 of these per pass. Results in docs/performance.md.
//!
//! `cargo bench -p salience-explain --bench gelu -- --warm-up-time 1 --measurement-time 3`
//! (cargo sets `CANDLE_NUM_THREADS=1`, .cargo/config.toml: candle's
//! elementwise pool off, as in the examples).

use candle_core::{Device, Tensor, Var};
use criterion::{criterion_group, criterion_main, Criterion};
use salience_explain::ops::gelu_erf;
use std::hint::black_box;

type Gelu = fn(&Tensor) -> candle_core::Result<Tensor>;

/// A pre-activation: 4 × 197 × 768 values of N(0, 1.5²).
fn input() -> candle_core::Result<Var> {
    Var::from_tensor(&Tensor::randn(0f32, 1.5, (4, 197, 768), &Device::Cpu)?)
}

/// One forward of `f` (and the gradient of the output's sum when `bwd`).
fn pass(f: Gelu, x: &Var, bwd: bool) -> candle_core::Result<Tensor> {
    let y = f(x.as_tensor())?;
    if !bwd {
        return Ok(y);
    }
    let grads = y.sum_all()?.backward()?;
    grads
        .get(x.as_tensor())
        .cloned()
        .ok_or_else(|| candle_core::Error::Msg("no gradient".into()))
}

fn bench(c: &mut Criterion) {
    let x = match input() {
        Ok(x) => x,
        Err(e) => return eprintln!("gelu bench: {e}"),
    };
    let variants: [(&str, Gelu); 2] = [("ours", gelu_erf), ("candle", |t| t.gelu_erf())];
    let mut g = c.benchmark_group("gelu_erf_4x197x768");
    for (name, f) in variants {
        for (pass_name, bwd) in [("fwd", false), ("fwd_bwd", true)] {
            g.bench_function(format!("{pass_name}/{name}"), |b| {
                b.iter(|| black_box(pass(f, &x, bwd).is_ok()))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
