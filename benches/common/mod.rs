//! Shared setup of the benches: the shipped trained small CNN
//! (`salience-models`) and the shipped Fashion-MNIST images
//! (`salience-datasets`), raw forward (+ backward) timings of one chunk,
//! a median timer, and wrappers that count or time what a model /
//! explainer does inside a library call.
//!
//! Not every bench uses every helper.
#![allow(dead_code)]

use candle_core::{Device, Tensor, Var};
use ndarray::{Array2, Array4, ArrayViewD, Axis};
use salience::core::{AttributionBatch, Explainer, Model, Result, Seeds};
use salience::explain::{Classifier, LayerSplit};
use salience::models::SmallCnn;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// The shipped trained small CNN (Fashion-MNIST, 1×28×28 → 10).
pub fn small_cnn() -> SmallCnn {
    salience::models::assets::small_cnn(&Device::Cpu).expect("shipped small CNN")
}

/// The first `n` shipped Fashion-MNIST test images `[n, 1, 28, 28]` in
/// `[0, 1]` with their labels.
pub fn images(n: usize) -> (Array4<f32>, Vec<usize>) {
    let s = salience::datasets::assets::fashion_mnist_sample().expect("shipped sample");
    let x = s.images.slice(ndarray::s![..n, .., .., ..]).to_owned();
    (x, s.labels[..n].to_vec())
}

/// The model's predicted class of every input.
pub fn predicted(m: &impl Classifier, x: &Array4<f32>) -> Vec<usize> {
    let xs = x.as_standard_layout();
    let t = Tensor::from_slice(xs.as_slice().expect("contiguous"), x.dim(), &Device::Cpu)
        .expect("tensor");
    let l = m.logits(&t).and_then(|l| l.argmax(1)).expect("logits");
    l.to_vec1::<u32>()
        .expect("argmax")
        .into_iter()
        .map(|c| c as usize)
        .collect()
}

/// Median wall time (seconds) of `runs` calls of `f`, after one warm-up call.
pub fn median_secs(mut f: impl FnMut(), runs: usize) -> f64 {
    f();
    let mut v: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// CPU time (user + system, all threads) this process has used so far,
/// in seconds (`/proc/self/stat`, in clock ticks of 10 ms). On a loaded
/// machine it is far less sensitive to the other processes than wall time.
pub fn cpu_secs() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // utime and stime are fields 14 and 15 of the line, i.e. 12 and 13
    // after the parenthesised command name.
    let rest = s.rsplit_once(')').map(|r| r.1).unwrap_or("");
    let ticks: f64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|v| v.parse::<f64>().unwrap_or(0.0))
        .sum();
    ticks / 100.0
}

/// Median wall time and mean CPU time (seconds) of `runs` calls of `f`,
/// after one warm-up call.
pub fn wall_and_cpu(mut f: impl FnMut(), runs: usize) -> (f64, f64) {
    f();
    let runs = runs.max(1);
    let c0 = cpu_secs();
    let mut v: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    let cpu = (cpu_secs() - c0) / runs as f64;
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], cpu)
}

/// Wall time of one call (seconds) and its result.
pub fn timed<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let t = Instant::now();
    let y = f();
    (t.elapsed().as_secs_f64(), y)
}

/// One raw forward + backward pass of a chunk `[chunk, 1, 28, 28]` down to
/// the input (what the gradient core does per chunk); `t` holds the
/// chunk's targets as `[chunk, 1]` u32.
pub fn raw_fwd_bwd(m: &impl Classifier, x: &[f32], t: &Tensor, chunk: usize) -> f32 {
    let v = Var::from_slice(x, (chunk, 1, 28, 28), &Device::Cpu).expect("var");
    let logits = m.logits(v.as_tensor()).expect("logits");
    let g = logits
        .gather(t, 1)
        .and_then(|s| s.sum_all())
        .and_then(|s| s.backward())
        .expect("backward");
    let g = g
        .get(v.as_tensor())
        .expect("grad")
        .flatten_all()
        .expect("flat");
    g.to_vec1::<f32>().expect("grad")[0]
}

/// One raw forward pass of a chunk `[chunk, 1, 28, 28]`, logits copied out.
pub fn raw_fwd(m: &impl Classifier, x: &[f32], chunk: usize) -> f32 {
    let v = Tensor::from_slice(x, (chunk, 1, 28, 28), &Device::Cpu).expect("tensor");
    let l = m
        .logits(&v)
        .and_then(|l| l.to_vec2::<f32>())
        .expect("logits");
    l[0][0]
}

/// `targets` as the `[n, 1]` u32 tensor [`raw_fwd_bwd`] gathers with.
pub fn target_tensor(targets: &[usize]) -> Tensor {
    Tensor::from_vec(
        targets.iter().map(|&v| v as u32).collect::<Vec<_>>(),
        (targets.len(), 1),
        &Device::Cpu,
    )
    .expect("targets")
}

/// A classifier that counts the calls of `logits` and the inputs (rows)
/// they evaluate, so a bench knows exactly how many model evaluations an
/// explainer made.
pub struct Counted<M> {
    /// The wrapped model.
    pub inner: M,
    /// Calls of `logits`.
    pub calls: AtomicU64,
    /// Inputs evaluated by those calls.
    pub rows: AtomicU64,
    /// Nanoseconds inside `logits` (the forward pass only; a backward pass
    /// happens outside).
    pub nanos: AtomicU64,
}

impl<M> Counted<M> {
    /// Wraps `inner` with zeroed counters.
    pub fn new(inner: M) -> Self {
        Counted {
            inner,
            calls: AtomicU64::new(0),
            rows: AtomicU64::new(0),
            nanos: AtomicU64::new(0),
        }
    }
    /// Zeroes the counters.
    pub fn reset(&self) {
        self.calls.store(0, Ordering::Relaxed);
        self.rows.store(0, Ordering::Relaxed);
        self.nanos.store(0, Ordering::Relaxed);
    }
    /// Seconds inside `logits` since the last reset.
    pub fn inside_secs(&self) -> f64 {
        self.nanos.load(Ordering::Relaxed) as f64 * 1e-9
    }
    /// (calls, rows) since the last reset.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.calls.load(Ordering::Relaxed),
            self.rows.load(Ordering::Relaxed),
        )
    }
}

impl<M: Classifier> Classifier for Counted<M> {
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.rows.fetch_add(
            x.dims().first().copied().unwrap_or(0) as u64,
            Ordering::Relaxed,
        );
        let t = Instant::now();
        let y = self.inner.logits(x);
        self.nanos
            .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        y
    }
    fn num_classes(&self) -> usize {
        self.inner.num_classes()
    }
    fn device(&self) -> &Device {
        self.inner.device()
    }
    fn preferred_batch_size(&self) -> usize {
        self.inner.preferred_batch_size()
    }
    fn activation_bytes(&self, sample_shape: &[usize]) -> Option<u64> {
        self.inner.activation_bytes(sample_shape)
    }
}

impl<M: LayerSplit> LayerSplit for Counted<M> {
    fn layer_names(&self) -> Vec<String> {
        self.inner.layer_names()
    }
    fn activations(&self, x: &Tensor, layer: &str) -> candle_core::Result<Tensor> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.rows.fetch_add(
            x.dims().first().copied().unwrap_or(0) as u64,
            Ordering::Relaxed,
        );
        self.inner.activations(x, layer)
    }
    fn head(&self, a: &Tensor, layer: &str) -> candle_core::Result<Tensor> {
        self.inner.head(a, layer)
    }
}

/// A black-box model that accumulates the wall time spent inside
/// `forward`.
pub struct TimedModel<M> {
    /// The wrapped model.
    pub inner: M,
    /// Nanoseconds inside `forward`.
    pub nanos: AtomicU64,
}

impl<M> TimedModel<M> {
    /// Wraps `inner`.
    pub fn new(inner: M) -> Self {
        TimedModel {
            inner,
            nanos: AtomicU64::new(0),
        }
    }
    /// Seconds inside the model since the last call, and resets.
    pub fn take_secs(&self) -> f64 {
        self.nanos.swap(0, Ordering::Relaxed) as f64 * 1e-9
    }
}

impl<M: Model> Model for TimedModel<M> {
    fn forward(&self, x: ArrayViewD<'_, f32>) -> Result<Array2<f32>> {
        let t = Instant::now();
        let y = self.inner.forward(x);
        self.nanos
            .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        y
    }
    fn num_classes(&self) -> usize {
        self.inner.num_classes()
    }
    fn preferred_batch_size(&self) -> usize {
        self.inner.preferred_batch_size()
    }
    fn activation_bytes(&self, sample_shape: &[usize]) -> Option<u64> {
        self.inner.activation_bytes(sample_shape)
    }
}

/// An explainer that accumulates the wall time spent inside `explain`, and
/// turns `[N, H, W]` pixel maps (CAMs) into `[N, 1, H, W]` maps so that
/// they stack with input-shaped maps of a one-channel input.
pub struct TimedExplainer {
    /// The wrapped explainer.
    pub inner: Box<dyn Explainer>,
    /// Nanoseconds inside `explain`.
    pub nanos: Arc<AtomicU64>,
}

impl TimedExplainer {
    /// Wraps `inner`.
    pub fn new(inner: Box<dyn Explainer>) -> Self {
        TimedExplainer {
            inner,
            nanos: Arc::new(AtomicU64::new(0)),
        }
    }
    /// Seconds inside `explain` since the last call, and resets.
    pub fn take_secs(&self) -> f64 {
        self.nanos.swap(0, Ordering::Relaxed) as f64 * 1e-9
    }
}

impl Explainer for TimedExplainer {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn explain(
        &self,
        x: ArrayViewD<'_, f32>,
        t: &[usize],
        s: Seeds<'_>,
    ) -> Result<AttributionBatch> {
        let t0 = Instant::now();
        let y = self.inner.explain(x.view(), t, s);
        let y = match y {
            Ok(b) if b.shape().len() == 3 && x.ndim() == 4 => {
                AttributionBatch::new(b.into_inner().insert_axis(Axis(1)))
            }
            other => other,
        };
        self.nanos
            .fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
        y
    }
}

/// Which parts of a bench to run, from `SALIENCE_BENCH_PARTS`:
/// `criterion` (only the criterion groups), `summary` (only the printed
/// summary tables), anything else or unset: both. Returns (criterion,
/// summary).
pub fn parts() -> (bool, bool) {
    match std::env::var("SALIENCE_BENCH_PARTS").as_deref() {
        Ok("criterion") => (true, false),
        Ok("summary") => (false, true),
        _ => (true, true),
    }
}

/// The load average (`/proc/loadavg`, first three fields).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}
