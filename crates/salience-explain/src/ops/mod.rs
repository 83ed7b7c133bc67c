//! Differentiable tensor operations that candle lacks (or whose backward
//! pass candle gets wrong or does not implement): bilinear resampling and
//! max pooling with any kernel, stride and padding, adaptive average
//! pooling, a convolution (grouped or not) whose forward and backward
//! passes are matrix products, a dense layer,
//! and layer / RMS normalisation and softmax with a backward pass
//! (candle-nn's fused ones detach their output). On the CPU the
//! convolution and the dense layer compute weight and bias gradients only
//! when the weights are `Var`s (or depend on one), so attribution passes
//! through constant weights pay for the input gradient alone; max pooling
//! and ReLU are one op each with a one-pass backward, and so are layer
//! norm (constant parameters), softmax over the last dimension and the
//! erf GELU, whose f32 kernel is vectorised ([`gelu`]). [`cpu_threads`] turns off candle's spinning elementwise pool
//! (a binary's choice, made at the start of `main`).

pub mod adaptive_pool;
pub mod conv2d;
pub mod cpu_threads;
pub mod fused;
pub mod gelu;
pub mod linear;
pub mod max_pool;
pub mod norm;
pub mod relu;
pub mod upsample;

pub use adaptive_pool::adaptive_avg_pool2d;
pub use conv2d::{conv2d, conv2d_grouped, conv2d_layer, Conv2d};
pub use cpu_threads::candle_elementwise_on_caller;
pub use gelu::gelu_erf;
pub use linear::linear;
pub use max_pool::max_pool2d;
pub use norm::{layer_norm, rms_norm, softmax};
pub use relu::relu;
pub use upsample::upsample_bilinear2d;

/// Whether backpropagation will ask for the gradient of `t`: it is a
/// `Var` or depends on one (candle's own criterion, so a custom op returns
/// a gradient exactly for the tensors candle expects one for). Weights
/// loaded from safetensors or `VarBuilder::from_tensors` are constants;
/// those of a `VarMap` (training) are `Var`s.
pub(crate) fn needs_grad(t: &candle_core::Tensor) -> bool {
    t.is_variable() || (t.track_op() && !t.sorted_nodes().is_empty())
}

/// `f32()` or `f64()` by the dtype of `s` (the CPU kernels of this module
/// are generic over the two); a candle error naming `what` otherwise.
pub(crate) fn by_float<R>(
    s: &candle_core::CpuStorage,
    what: &str,
    f32: impl FnOnce() -> candle_core::Result<R>,
    f64: impl FnOnce() -> candle_core::Result<R>,
) -> candle_core::Result<R> {
    use candle_core::backend::BackendStorage;
    match s {
        candle_core::CpuStorage::F32(_) => f32(),
        candle_core::CpuStorage::F64(_) => f64(),
        other => candle_core::bail!("{what} supports f32 and f64, got {:?}", other.dtype()),
    }
}

/// The gradients of a layer op's `(x, weight, bias)`; `None` for those no
/// gradient is asked of.
pub(crate) type LayerGrads = (
    Option<candle_core::Tensor>,
    Option<candle_core::Tensor>,
    Option<candle_core::Tensor>,
);

/// A CPU layer op on `(x, weight[, bias])` (the convolution and the dense
/// layer), made a candle `CustomOp2` (no bias) and `CustomOp3` (bias) by
/// [`layer_op_impls`].
pub(crate) trait LayerOp {
    /// The forward pass on contiguous storages.
    fn forward(
        &self,
        x: (&candle_core::CpuStorage, &candle_core::Layout),
        w: (&candle_core::CpuStorage, &candle_core::Layout),
        bias: Option<(&candle_core::CpuStorage, &candle_core::Layout)>,
    ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)>;

    /// The gradients of `(x, weight, bias)` for the output gradient.
    fn grads(
        &self,
        x: &candle_core::Tensor,
        weight: &candle_core::Tensor,
        bias: Option<&candle_core::Tensor>,
        grad: &candle_core::Tensor,
    ) -> candle_core::Result<LayerGrads>;
}

/// `impl CustomOp2` and `CustomOp3` for a [`LayerOp`] type, with the op
/// names `$name` (no bias) and `$name_bias`.
macro_rules! layer_op_impls {
    ($ty:ty, $name:literal, $name_bias:literal) => {
        impl candle_core::CustomOp2 for $ty {
            fn name(&self) -> &'static str {
                $name
            }

            fn cpu_fwd(
                &self,
                xs: &candle_core::CpuStorage,
                xl: &candle_core::Layout,
                ws: &candle_core::CpuStorage,
                wl: &candle_core::Layout,
            ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
                $crate::ops::LayerOp::forward(self, (xs, xl), (ws, wl), None)
            }

            fn bwd(
                &self,
                x: &candle_core::Tensor,
                weight: &candle_core::Tensor,
                _res: &candle_core::Tensor,
                grad: &candle_core::Tensor,
            ) -> candle_core::Result<(Option<candle_core::Tensor>, Option<candle_core::Tensor>)>
            {
                let (gx, gw, _) = $crate::ops::LayerOp::grads(self, x, weight, None, grad)?;
                Ok((gx, gw))
            }
        }

        impl candle_core::CustomOp3 for $ty {
            fn name(&self) -> &'static str {
                $name_bias
            }

            fn cpu_fwd(
                &self,
                xs: &candle_core::CpuStorage,
                xl: &candle_core::Layout,
                ws: &candle_core::CpuStorage,
                wl: &candle_core::Layout,
                bs: &candle_core::CpuStorage,
                bl: &candle_core::Layout,
            ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
                $crate::ops::LayerOp::forward(self, (xs, xl), (ws, wl), Some((bs, bl)))
            }

            fn bwd(
                &self,
                x: &candle_core::Tensor,
                weight: &candle_core::Tensor,
                bias: &candle_core::Tensor,
                _res: &candle_core::Tensor,
                grad: &candle_core::Tensor,
            ) -> candle_core::Result<$crate::ops::LayerGrads> {
                $crate::ops::LayerOp::grads(self, x, weight, Some(bias), grad)
            }
        }
    };
}
pub(crate) use layer_op_impls;

/// Helpers of this module's tests.
#[cfg(test)]
pub(crate) mod test_util {
    use candle_core::{DType, Device, Tensor, Var, WithDType};

    /// Seeded f32 values in [−0.5, 0.5) (a fixed LCG) of `shape`.
    pub(crate) fn seeded(shape: &[usize], seed: u64) -> Tensor {
        let n: usize = shape.iter().product();
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let v: Vec<f32> = (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu).expect("shape")
    }

    /// The values of `t`, flattened.
    pub(crate) fn flat<T: WithDType>(t: &Tensor) -> Vec<T> {
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    /// `a` and `b` equal within `tol · (1 + |a|)` at every index.
    pub(crate) fn close(a: &[f64], b: &[f64], tol: f64) {
        assert_eq!(a.len(), b.len());
        for (i, (p, q)) in a.iter().zip(b).enumerate() {
            assert!((p - q).abs() <= tol * (1.0 + p.abs()), "{i}: {p} vs {q}");
        }
    }

    /// Values and input gradient of `f` at `x` for the output weighted by
    /// `wts`, and the number of graph nodes of the output.
    pub(crate) fn run(
        x: &Tensor,
        wts: &Tensor,
        f: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>,
    ) -> (Vec<f64>, Vec<f64>, usize) {
        let v = Var::from_tensor(x).unwrap();
        let y = f(v.as_tensor()).unwrap();
        let nodes = y.sorted_nodes().len();
        let g = (&y * wts).unwrap().sum_all().unwrap().backward().unwrap();
        let y = y.to_dtype(DType::F64).unwrap();
        let g = g.get(v.as_tensor()).unwrap().to_dtype(DType::F64).unwrap();
        (flat(&y), flat(&g), nodes)
    }

    /// Central finite differences of `Σ wts ⊙ f(x)` at every coordinate of
    /// an f64 `x`, against the analytic gradient.
    pub(crate) fn check_fd(
        x: &Tensor,
        wts: &Tensor,
        f: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>,
    ) {
        let (_, g, _) = run(x, wts, f);
        let xs: Vec<f64> = flat(x);
        let h = 1e-6;
        let obj = |v: Vec<f64>| -> f64 {
            let t = Tensor::from_vec(v, x.shape(), &Device::Cpu).unwrap();
            let y = (f(&t).unwrap() * wts).unwrap().sum_all().unwrap();
            y.to_scalar::<f64>().unwrap()
        };
        for i in 0..xs.len() {
            let (mut a, mut b) = (xs.clone(), xs.clone());
            a[i] += h;
            b[i] -= h;
            let fd = (obj(a) - obj(b)) / (2.0 * h);
            assert!(
                (fd - g[i]).abs() <= 1e-6 * (1.0 + fd.abs()),
                "{i}: {fd} vs {}",
                g[i]
            );
        }
    }
}
