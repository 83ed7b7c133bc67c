//! Where the time of an input-gradient pass goes: forward, forward +
//! backward, Saliency and Integrated Gradients on the shipped small CNN
//! (64 × 1×28×28) and on torchvision's ResNet-18 layout with seeded
//! weights (4 × 3×224×224), plus a breakdown of the backward pass.
//!
//! ```text
//! RAYON_NUM_THREADS=2 cargo run --release --example backward_profile -- [cnn|resnet|resnet50|vit|all] [reps] [ig] [nostages] [noparts]
//! ```
//!
//! * `resnet50`: torchvision's ResNet-50 layout with seeded (random)
//!   weights, 4 × 3×224×224: the passes table only.
//!
//! * `reps`: timed repetitions per measure (median reported; default 5,
//!   after one warm-up call).
//! * `ig`: also time IG with 50 steps (Gauss–Legendre, zero baseline;
//!   chunks of 64 on the CNN, 16 on ResNet-18, once per process on
//!   ResNet-18 as it takes minutes).
//! * `dump=PATH`: only write the input gradients of both models to PATH
//!   (little-endian f32), to compare two builds.
//! * `nostages`: skip the per-stage table (the slowest part at 224²).
//! * `noparts`: skip the convolution and isolated-op tables (passes only).
//! * `vit`: timm's ViT-tiny layout (seeded, 4 × 3×224×224): passes, per
//!   stage, and its ops (layer norm, the dense layers, attention, GELU,
//!   residual add) timed alone.
//!
//! Three tables per model:
//!
//! 1. **Passes**: forward (plain input), forward + backward of the summed
//!    target logits down to an input `Var` (what the gradient core does per
//!    chunk), Saliency (`explain` call), IG-50, and peak RSS.
//! 2. **Per stage**: the model's own code split at its `LayerSplit`
//!    layers; the forward + backward time of stage k is the time of
//!    `head(activations at k − 1)` minus that of `head(activations at k)`,
//!    each differentiated down to its input `Var`.
//! 3. **Convolution by part** (every convolution of the model, summed):
//!    one timed forward and forward + backward (of the output's sum) of the
//!    layer with constant weights (what an attribution pass runs), and its
//!    matrix products
//!    timed alone on the layer's shapes: the forward `W·cols`, the
//!    input-gradient `Wᵀ·G`, the weight-gradient `G·colsᵀ` (which candle's
//!    matmul backward computes even for constant weights) and the bias
//!    backward. What is left (im2col, col2im, accumulators) is the
//!    difference. ReLU, max-pool, residual-add and linear (ResNet; batch
//!    norms are folded into the convolutions by the plain forward)
//!    backward passes are timed the same way, as isolated ops; what the
//!    model's backward spends beyond their sum is candle's graph
//!    bookkeeping (the topological sort, the per-node zero-filled gradient
//!    accumulators and the additions into them).

use candle_core::{Device, Tensor, Var};
use ndarray::{Array4, ArrayD};
use salience::explain::ops::{conv2d, layer_norm, max_pool2d, softmax};
use salience::explain::{
    Classifier, IntegratedGradients, IntegratedGradientsConfig, LayerSplit, Saliency,
    SaliencyConfig,
};
use salience::models::{ResNet, ResNetConfig, VisionTransformer, VitConfig};
use salience::{Explainer, Seeds};
use std::time::Instant;

type R<T> = candle_core::Result<T>;

/// Median wall time in ms of `reps` calls of `f` after one warm-up call.
fn median_ms(reps: usize, mut f: impl FnMut() -> R<()>) -> R<f64> {
    f()?;
    let mut v = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        f()?;
        v.push(t.elapsed().as_secs_f64() * 1e3);
    }
    v.sort_by(f64::total_cmp);
    Ok(v[v.len() / 2])
}

/// Peak resident set size of this process (VmHWM), MB.
fn vm_hwm_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .split('\n')
        .filter_map(|l| l.strip_prefix("VmHWM:"))
        .find_map(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok());
    kib.unwrap_or(0.0) / 1024.0
}

/// Seeded values in [0, 1).
fn uniform(shape: &[usize], seed: u64) -> Vec<f32> {
    let n: usize = shape.iter().product();
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect()
}

fn tensor(shape: &[usize], seed: u64, scale: f32) -> R<Tensor> {
    let v: Vec<f32> = uniform(shape, seed)
        .into_iter()
        .map(|u| (u - 0.5) * 2.0 * scale)
        .collect();
    Tensor::from_vec(v, shape, &Device::Cpu)
}

/// Forward + backward of `f` from a `Var` holding `x` to the sum of the
/// target logits (or of the output, when it is not `[N, K]`).
fn fwd_bwd(x: &Tensor, targets: &Tensor, f: &dyn Fn(&Tensor) -> R<Tensor>) -> R<()> {
    let v = Var::from_tensor(x)?;
    let y = f(v.as_tensor())?;
    let s = if y.rank() == 2 && y.dim(0)? == targets.dim(0)? {
        y.gather(targets, 1)?.sum_all()?
    } else {
        y.sum_all()?
    };
    let g = s.backward()?;
    match g.get(v.as_tensor()) {
        Some(_) => Ok(()),
        None => candle_core::bail!("no input gradient"),
    }
}

struct Model<'a> {
    name: &'static str,
    clf: &'a (dyn ClfSplit + 'a),
    x: Tensor,
    targets: Vec<usize>,
    ig_chunk: usize,
}

trait ClfSplit: Classifier + LayerSplit {}
impl<T: Classifier + LayerSplit> ClfSplit for T {}

fn passes(m: &Model, reps: usize, ig: bool) -> R<()> {
    let n = m.x.dim(0)?;
    let idx: Vec<u32> = m.targets.iter().map(|&t| t as u32).collect();
    let idx = Tensor::from_vec(idx, (n, 1), &Device::Cpu)?;
    let fwd = median_ms(reps, || m.clf.logits(&m.x).map(|_| ()))?;
    let fb = median_ms(reps, || fwd_bwd(&m.x, &idx, &|t| m.clf.logits(t)))?;
    let rss_fb = vm_hwm_mb();
    let xs: ArrayD<f32> =
        Array4::from_shape_vec(m.x.dims4()?, m.x.flatten_all()?.to_vec1::<f32>()?)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?
            .into_dyn();
    let sal = Saliency::with_config(
        m.clf,
        SaliencyConfig {
            batch_size: salience::BatchSize::fixed(n)
                .map_err(|e| candle_core::Error::Msg(e.to_string()))?,
            ..Default::default()
        },
    );
    let sal_ms = median_ms(reps, || {
        sal.explain(xs.view(), &m.targets, Seeds::base(0))
            .map(|_| ())
            .map_err(|e| candle_core::Error::Msg(e.to_string()))
    })?;
    println!("\n## {}: passes (median of {reps}, ms)\n", m.name);
    println!("| measure | ms |\n|---|---:|");
    println!("| forward | {fwd:.1} |");
    println!("| forward + backward | {fb:.1} |");
    println!("| backward alone (difference) | {:.1} |", fb - fwd);
    println!("| Saliency ({n} inputs, one chunk) | {sal_ms:.1} |");
    println!("| peak RSS after forward + backward | {rss_fb:.0} MB |");
    if ig {
        let igx = IntegratedGradients::with_config(
            m.clf,
            IntegratedGradientsConfig {
                batch_size: salience::BatchSize::fixed(m.ig_chunk)
                    .map_err(|e| candle_core::Error::Msg(e.to_string()))?,
                ..Default::default()
            },
        );
        let t = Instant::now();
        igx.explain(xs.view(), &m.targets, Seeds::base(0))
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        println!(
            "| IG, 50 steps, chunks of {} (one run) | {:.1} |",
            m.ig_chunk,
            t.elapsed().as_secs_f64() * 1e3
        );
        println!("| peak RSS after IG | {:.0} MB |", vm_hwm_mb());
    }
    Ok(())
}

fn stages(m: &Model, reps: usize) -> R<()> {
    let names = m.clf.layer_names();
    let n = m.x.dim(0)?;
    let idx: Vec<u32> = m.targets.iter().map(|&t| t as u32).collect();
    let idx = Tensor::from_vec(idx, (n, 1), &Device::Cpu)?;
    // Time of the head from each layer's activations (the full model
    // first), forward only and forward + backward.
    let mut inputs = vec![m.x.clone()];
    for l in &names[..names.len() - 1] {
        inputs.push(m.clf.activations(&m.x, l)?.detach());
    }
    let mut tf = Vec::new();
    let mut tb = Vec::new();
    for (k, a) in inputs.iter().enumerate() {
        let head = |t: &Tensor| -> R<Tensor> {
            if k == 0 {
                m.clf.logits(t)
            } else {
                m.clf.head(t, &names[k - 1])
            }
        };
        tf.push(median_ms(reps, || head(a).map(|_| ()))?);
        tb.push(median_ms(reps, || fwd_bwd(a, &idx, &head))?);
    }
    tf.push(0.0);
    tb.push(0.0);
    println!("\n## {}: per stage (median of {reps}, ms)\n", m.name);
    println!("| stage | forward | forward + backward | backward |\n|---|---:|---:|---:|");
    for (k, l) in names.iter().enumerate() {
        let f = tf[k] - tf[k + 1];
        let b = tb[k] - tb[k + 1];
        println!("| {l} | {f:.1} | {b:.1} | {:.1} |", b - f);
    }
    Ok(())
}

/// One convolution of a model: input shape, C_out, kernel, stride,
/// padding, bias.
#[derive(Clone, Copy)]
struct ConvShape {
    n: usize,
    c: usize,
    h: usize,
    co: usize,
    k: usize,
    s: usize,
    p: usize,
    bias: bool,
}

#[derive(Default)]
struct ConvParts {
    layer_fwd: f64,
    layer_fb: f64,
    mm_fwd: f64,
    mm_input: f64,
    mm_weight: f64,
    bias_bwd: f64,
}

fn conv_parts(cs: &ConvShape, reps: usize) -> R<ConvParts> {
    let ConvShape {
        n,
        c,
        h,
        co,
        k,
        s,
        p,
        bias,
    } = *cs;
    let oh = (h + 2 * p - k) / s + 1;
    let kk = c * k * k;
    let pos = oh * oh;
    let x = tensor(&[n, c, h, h], 1, 1.0)?;
    let w = tensor(&[co, c, k, k], 2, 0.1)?;
    let b = if bias {
        Some(tensor(&[co], 3, 0.1)?)
    } else {
        None
    };
    let g = tensor(&[n, co, oh, oh], 4, 1.0)?;
    let mut r = ConvParts {
        layer_fwd: median_ms(reps, || conv2d(&x, &w, b.as_ref(), s, p).map(|_| ()))?,
        ..Default::default()
    };
    r.layer_fb = median_ms(reps, || {
        let v = Var::from_tensor(&x)?;
        let y = conv2d(v.as_tensor(), &w, b.as_ref(), s, p)?;
        y.sum_all()?.backward().map(|_| ())
    })?;
    // The im2col columns the way the layer builds them: a stride-1,
    // unpadded 1×1 kernel reads the input directly.
    let cols = if k == 1 && s == 1 && p == 0 {
        x.reshape((n, c, h * h))?
    } else {
        let pad = x.pad_with_zeros(2, p, p)?.pad_with_zeros(3, p, p)?;
        let mut views = Vec::new();
        for di in 0..k {
            for dj in 0..k {
                let v = pad
                    .narrow(2, di, (oh - 1) * s + 1)?
                    .narrow(3, dj, (oh - 1) * s + 1)?;
                let v = if s == 1 {
                    v
                } else {
                    // every s-th row and column
                    let rows: Vec<u32> = (0..oh as u32).map(|i| i * s as u32).collect();
                    let ix = Tensor::new(rows.as_slice(), &Device::Cpu)?;
                    v.contiguous()?.index_select(&ix, 2)?.index_select(&ix, 3)?
                };
                views.push(v.reshape((n, c, pos))?);
            }
        }
        Tensor::stack(&views, 2)?
            .reshape((n, kk, pos))?
            .contiguous()?
    };
    let w2 = w.reshape((co, kk))?;
    let g3 = g.reshape((n, co, pos))?;
    r.mm_fwd = median_ms(reps, || w2.broadcast_matmul(&cols).map(|_| ()))?;
    r.mm_input = median_ms(reps, || w2.t()?.broadcast_matmul(&g3).map(|_| ()))?;
    // Weight gradient: Σ_b G_b · cols_bᵀ, as candle's matmul backward
    // computes it (lhsᵀ·grad over the broadcast batch, then summed).
    r.mm_weight = median_ms(reps, || g3.matmul(&cols.t()?)?.sum(0).map(|_| ()))?;
    if bias {
        // broadcast_add backward: a zero-filled accumulator of the output's
        // size, an add, then the sum back to [C_out].
        r.bias_bwd = median_ms(reps, || {
            let acc = g.zeros_like()?;
            let acc = (acc + &g)?;
            acc.sum_keepdim(3)?
                .sum_keepdim(2)?
                .sum_keepdim(0)
                .map(|_| ())
        })?;
    }
    Ok(r)
}

/// Backward of one isolated op: forward + backward of `sum(op(x))` from
/// an input `Var`, minus the forward, in ms (the sum's own backward is one
/// broadcast of ones at the output's size).
fn op_bwd(x: &Tensor, reps: usize, f: &dyn Fn(&Tensor) -> R<Tensor>) -> R<f64> {
    let fwd = median_ms(reps, || f(x).map(|_| ()))?;
    let fb = median_ms(reps, || {
        let v = Var::from_tensor(x)?;
        f(v.as_tensor())?.sum_all()?.backward().map(|_| ())
    })?;
    Ok(fb - fwd)
}

fn conv_table(name: &str, convs: &[(ConvShape, usize)], reps: usize) -> R<f64> {
    println!("\n## {name}: convolutions by part (summed over the model's convolutions, median of {reps}, ms)\n");
    let mut tot = ConvParts::default();
    for (cs, count) in convs {
        let r = conv_parts(cs, reps)?;
        let m = *count as f64;
        tot.layer_fwd += m * r.layer_fwd;
        tot.layer_fb += m * r.layer_fb;
        tot.mm_fwd += m * r.mm_fwd;
        tot.mm_input += m * r.mm_input;
        tot.mm_weight += m * r.mm_weight;
        tot.bias_bwd += m * r.bias_bwd;
    }
    println!("| part | ms |\n|---|---:|");
    println!("| layer forward (ops::conv2d) | {:.1} |", tot.layer_fwd);
    println!(
        "| layer forward + backward, constant weights | {:.1} |",
        tot.layer_fb
    );
    println!(
        "| layer backward (difference) | {:.1} |",
        tot.layer_fb - tot.layer_fwd
    );
    println!("| — forward product W·cols (alone) | {:.1} |", tot.mm_fwd);
    println!(
        "| — forward rest: im2col gather, bias add (difference) | {:.1} |",
        tot.layer_fwd - tot.mm_fwd
    );
    println!(
        "| — backward product Wᵀ·G, input gradient (alone) | {:.1} |",
        tot.mm_input
    );
    println!("| — backward product G·colsᵀ, weight gradient (alone, as candle's matmul backward computes it) | {:.1} |", tot.mm_weight);
    println!(
        "| — bias backward: zero-filled accumulator, add, sum (alone) | {:.1} |",
        tot.bias_bwd
    );
    let rest = tot.layer_fb - tot.layer_fwd - tot.mm_input - tot.mm_weight - tot.bias_bwd;
    println!("| — backward rest: col2im, accumulators (difference; negative when the weight gradient is skipped) | {rest:.1} |");
    Ok(tot.layer_fb - tot.layer_fwd)
}

fn cnn(reps: usize, ig: bool, per_stage: bool) -> R<()> {
    let m = salience::models::assets::small_cnn(&Device::Cpu)
        .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    let s = salience::datasets::assets::fashion_mnist_sample()
        .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    let n = 64;
    let imgs = s.images.slice(ndarray::s![..n, .., .., ..]).to_owned();
    let x = Tensor::from_vec(imgs.iter().copied().collect(), (n, 1, 28, 28), &Device::Cpu)?;
    let model = Model {
        name: "shipped CNN, 64 × 1×28×28",
        clf: &m,
        x,
        targets: s.labels[..n].to_vec(),
        ig_chunk: 64,
    };
    passes(&model, reps, ig)?;
    if per_stage {
        stages(&model, reps)?;
    }
    let c = |n, c, h, co| ConvShape {
        n,
        c,
        h,
        co,
        k: 3,
        s: 1,
        p: 1,
        bias: true,
    };
    let conv_bwd = conv_table(
        model.name,
        &[(c(n, 1, 28, 16), 1), (c(n, 16, 14, 32), 1)],
        reps,
    )?;
    other_ops(
        model.name,
        reps,
        &[
            ("ReLU (ops::relu)", vec![n, 16, 28, 28], 1, Op::Relu),
            ("ReLU (ops::relu)", vec![n, 32, 14, 14], 1, Op::Relu),
            ("max pool 2×2", vec![n, 16, 28, 28], 1, Op::Pool(2, 2, 0)),
            ("max pool 2×2", vec![n, 32, 14, 14], 1, Op::Pool(2, 2, 0)),
            (
                "linear 1568→128 (ops::linear)",
                vec![n, 1568],
                1,
                Op::Linear(128),
            ),
            (
                "linear 128→10 (ops::linear)",
                vec![n, 128],
                1,
                Op::Linear(10),
            ),
        ],
        conv_bwd,
    )?;
    Ok(())
}

#[derive(Clone, Copy)]
enum Op {
    Relu,
    Pool(usize, usize, usize),
    Add,
    Linear(usize),
    LayerNorm,
    Gelu,
    /// Scaled dot-product attention of `[N, heads, T, hd]` queries on
    /// themselves: softmax(q·kᵀ)·v with q = k = v = the input.
    Attention,
}

fn other_ops(
    name: &str,
    reps: usize,
    ops: &[(&str, Vec<usize>, usize, Op)],
    conv_bwd: f64,
) -> R<()> {
    println!("\n## {name}: other ops, backward alone (isolated, median of {reps}, ms)\n");
    println!("| op | shape | count | backward, all of them |\n|---|---|---:|---:|");
    let mut total = conv_bwd;
    for (label, shape, count, op) in ops {
        let x = tensor(shape, 5, 1.0)?;
        let c = shape[1];
        let t = match *op {
            Op::Relu => op_bwd(&x, reps, &|t| salience::explain::ops::relu(t))?,
            Op::Pool(k, s, p) => op_bwd(&x, reps, &|t| max_pool2d(t, k, s, p))?,
            Op::Add => {
                let other = tensor(shape, 10, 1.0)?;
                op_bwd(&x, reps, &|t| t + &other)?
            }
            Op::Linear(out) => {
                let l = candle_nn::Linear::new(
                    tensor(&[out, c], 11, 0.05)?,
                    Some(tensor(&[out], 12, 0.05)?),
                );
                op_bwd(&x, reps, &|t| salience::explain::ops::linear(&l, t))?
            }
            Op::LayerNorm => {
                let d = shape[shape.len() - 1];
                let w = (tensor(&[d], 13, 0.1)? + 1.0)?;
                let b = tensor(&[d], 14, 0.1)?;
                op_bwd(&x, reps, &|t| layer_norm(t, &w, Some(&b), 1e-6))?
            }
            Op::Gelu => op_bwd(&x, reps, &|t| salience::explain::ops::gelu_erf(t))?,
            Op::Attention => op_bwd(&x, reps, &|t| {
                let a = softmax(&t.matmul(&t.t()?.contiguous()?)?, candle_core::D::Minus1)?;
                a.matmul(t)
            })?,
        };
        let all = t * *count as f64;
        total += all;
        println!("| {label} | {shape:?} | {count} | {all:.1} |");
    }
    println!("| convolutions (table above) | | | {conv_bwd:.1} |");
    println!("| **sum of the isolated backward passes** | | | **{total:.1}** |");
    Ok(())
}

/// The seeded ResNet-18 or ResNet-50 (random weights from the preset)
/// on 4 × 3×224×224 seeded inputs.
fn resnet_model(cfg: &ResNetConfig, name: &'static str) -> R<(ResNet, Tensor)> {
    let m = ResNet::seeded(cfg, 0, &Device::Cpu)?;
    let x = Tensor::from_vec(
        uniform(&[4, 3, 224, 224], 17),
        (4, 3, 224, 224),
        &Device::Cpu,
    )?;
    println!("\n{name}: {} parameters", cfg.num_parameters());
    Ok((m, x))
}

/// ResNet-50 (seeded), 4 × 3×224×224: the passes table only.
fn resnet50(reps: usize, ig: bool) -> R<()> {
    let name = "ResNet-50 (seeded), 4 × 3×224×224";
    let (m, x) = resnet_model(&ResNetConfig::resnet50(1000), name)?;
    let model = Model {
        name,
        clf: &m,
        x,
        targets: vec![1, 2, 3, 4],
        ig_chunk: 16,
    };
    passes(&model, reps, ig)
}

fn resnet(reps: usize, ig: bool, per_stage: bool, parts: bool) -> R<()> {
    let name = "ResNet-18 (seeded), 4 × 3×224×224";
    let (m, x) = resnet_model(&ResNetConfig::resnet18(1000), name)?;
    let n = 4;
    let model = Model {
        name,
        clf: &m,
        x,
        targets: vec![1, 2, 3, 4],
        ig_chunk: 16,
    };
    passes(&model, reps, ig)?;
    if per_stage {
        stages(&model, reps)?;
    }
    if !parts {
        return Ok(());
    }
    let c = |c, h, co, k, s, p| ConvShape {
        n,
        c,
        h,
        co,
        k,
        s,
        p,
        bias: true, // batch norm folded in
    };
    let convs = [
        (c(3, 224, 64, 7, 2, 3), 1),
        (c(64, 56, 64, 3, 1, 1), 4),
        (c(64, 56, 128, 3, 2, 1), 1),
        (c(64, 56, 128, 1, 2, 0), 1),
        (c(128, 28, 128, 3, 1, 1), 3),
        (c(128, 28, 256, 3, 2, 1), 1),
        (c(128, 28, 256, 1, 2, 0), 1),
        (c(256, 14, 256, 3, 1, 1), 3),
        (c(256, 14, 512, 3, 2, 1), 1),
        (c(256, 14, 512, 1, 2, 0), 1),
        (c(512, 7, 512, 3, 1, 1), 3),
    ];
    let conv_bwd = conv_table(model.name, &convs, reps)?;
    let sh = |c: usize, h: usize| vec![n, c, h, h];
    other_ops(
        model.name,
        reps,
        &[
            ("ReLU (ops::relu)", sh(64, 112), 1, Op::Relu),
            ("ReLU (ops::relu)", sh(64, 56), 4, Op::Relu),
            ("ReLU (ops::relu)", sh(128, 28), 4, Op::Relu),
            ("ReLU (ops::relu)", sh(256, 14), 4, Op::Relu),
            ("ReLU (ops::relu)", sh(512, 7), 4, Op::Relu),
            ("max pool 3×3 s2 p1", sh(64, 112), 1, Op::Pool(3, 2, 1)),
            ("residual add", sh(64, 56), 2, Op::Add),
            ("residual add", sh(128, 28), 2, Op::Add),
            ("residual add", sh(256, 14), 2, Op::Add),
            ("residual add", sh(512, 7), 2, Op::Add),
            (
                "linear 512→1000 (ops::linear)",
                vec![n, 512],
                1,
                Op::Linear(1000),
            ),
        ],
        conv_bwd,
    )?;
    Ok(())
}

fn vit(reps: usize, ig: bool, per_stage: bool, parts: bool) -> R<()> {
    let c = VitConfig::timm_vit_tiny_patch16_224(1000);
    let m = VisionTransformer::seeded(&c, 0, &Device::Cpu)?;
    let n = 4;
    let x = Tensor::from_vec(
        uniform(&[n, 3, 224, 224], 17),
        (n, 3, 224, 224),
        &Device::Cpu,
    )?;
    let model = Model {
        name: "ViT-tiny (seeded), 4 × 3×224×224",
        clf: &m,
        x,
        targets: vec![1, 2, 3, 4],
        ig_chunk: 16,
    };
    passes(&model, reps, ig)?;
    if per_stage {
        stages(&model, reps)?;
    }
    if !parts {
        return Ok(());
    }
    let (t, d, hd) = (197, 192, 64);
    let b = c.depth;
    let conv_bwd = conv_table(
        model.name,
        &[(
            ConvShape {
                n,
                c: 3,
                h: 224,
                co: d,
                k: 16,
                s: 16,
                p: 0,
                bias: true,
            },
            1,
        )],
        reps,
    )?;
    other_ops(
        model.name,
        reps,
        &[
            ("layer norm", vec![n, t, d], 2 * b + 1, Op::LayerNorm),
            ("linear qkv 192→576", vec![n * t, d], b, Op::Linear(3 * d)),
            ("linear proj 192→192", vec![n * t, d], b, Op::Linear(d)),
            (
                "linear fc1 192→768",
                vec![n * t, d],
                b,
                Op::Linear(c.mlp_dim),
            ),
            (
                "linear fc2 768→192",
                vec![n * t, c.mlp_dim],
                b,
                Op::Linear(d),
            ),
            (
                "attention softmax(q·kᵀ)·v",
                vec![n, 3, t, hd],
                b,
                Op::Attention,
            ),
            ("GELU (ops::gelu_erf)", vec![n, t, c.mlp_dim], b, Op::Gelu),
            ("residual add", vec![n, t, d], 2 * b, Op::Add),
        ],
        conv_bwd,
    )?;
    Ok(())
}

/// Writes the input gradients of the shipped CNN's target logits for the
/// first 64 shipped images and of the seeded ResNet-18 for 2 × 224²
/// inputs (little-endian f32, the CNN's first), to compare builds.
fn dump_gradients(path: &str) -> R<()> {
    let cnn = salience::models::assets::small_cnn(&Device::Cpu)
        .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    let s = salience::datasets::assets::fashion_mnist_sample()
        .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    let imgs = s.images.slice(ndarray::s![..64, .., .., ..]).to_owned();
    let x = Tensor::from_vec(
        imgs.iter().copied().collect(),
        (64, 1, 28, 28),
        &Device::Cpu,
    )?;
    let t: Vec<u32> = s.labels[..64].iter().map(|&l| l as u32).collect();
    let mut out = input_grad(&cnn, &x, t)?;
    let rn = ResNet::seeded(&ResNetConfig::resnet18(1000), 0, &Device::Cpu)?;
    let x = Tensor::from_vec(
        uniform(&[2, 3, 224, 224], 17),
        (2, 3, 224, 224),
        &Device::Cpu,
    )?;
    out.extend(input_grad(&rn, &x, vec![1, 2])?);
    let bytes: Vec<u8> = out.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).map_err(|e| candle_core::Error::Msg(e.to_string()))
}

fn input_grad(m: &dyn Classifier, x: &Tensor, targets: Vec<u32>) -> R<Vec<f32>> {
    let n = targets.len();
    let idx = Tensor::from_vec(targets, (n, 1), &Device::Cpu)?;
    let v = Var::from_tensor(x)?;
    let g = m
        .logits(v.as_tensor())?
        .gather(&idx, 1)?
        .sum_all()?
        .backward()?;
    match g.get(v.as_tensor()) {
        Some(g) => g.flatten_all()?.to_vec1::<f32>(),
        None => candle_core::bail!("no input gradient"),
    }
}

fn main() -> R<()> {
    // SAFETY: first thing in main, no other thread exists yet; see ops::cpu_threads.
    unsafe { salience::explain::ops::candle_elementwise_on_caller() };
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map_or("all", String::as_str).to_string();
    let reps = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5);
    let ig = args.iter().any(|a| a == "ig");
    let per_stage = !args.iter().any(|a| a == "nostages");
    let parts = !args.iter().any(|a| a == "noparts");
    println!(
        "backward_profile {which}, reps {reps}, RAYON_NUM_THREADS={}",
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "unset".into())
    );
    if let Some(path) = args.iter().find_map(|a| a.strip_prefix("dump=")) {
        return dump_gradients(path);
    }
    if which == "cnn" || which == "all" {
        cnn(reps, ig, per_stage)?;
    }
    if which == "resnet" || which == "all" {
        resnet(reps, ig, per_stage, parts)?;
    }
    if which == "resnet50" || which == "all" {
        resnet50(reps, ig)?;
    }
    if which == "vit" || which == "all" {
        vit(reps, ig, per_stage, parts)?;
    }
    Ok(())
}
