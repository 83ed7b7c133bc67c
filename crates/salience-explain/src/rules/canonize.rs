//! Canonization for the rule-based explainers: batch normalisation merged
//! into the convolution before it.
//!
//! In inference mode a batch norm is a per-channel affine map
//! `y = γ (z − μ) / √(σ² + ε) + β`. Rule-based explainers treat every
//! op separately, so an un-merged batch norm would be a layer of its own
//! whose LRP rule is the plain gradient (LRP-0) while the convolution
//! before it gets its composite's rule with the *un-normalised*
//! pre-activations. LRP practice (Zennit's `SequentialMergeBatchNorm`
//! canonizer, Montavon et al. 2019 §10.2.3) instead merges the batch norm
//! into the convolution: with `s = γ / √(σ² + ε)`,
//! `W′[o] = s[o] W[o]` and `b′ = β + s (b − μ)`, one affine layer with
//! the same output whose rule (ε, γ, z⁺, …) then sees the normalised
//! pre-activations and the merged bias. Gradients, Guided Backprop and
//! DeepLIFT (a linear map keeps its multipliers) are unchanged by the
//! merge up to float rounding.

use candle_nn::{BatchNorm, Conv2d};

/// The convolution `conv` followed by the inference-mode batch norm `bn`
/// as one convolution with bias (see the module docs). A batch norm
/// without affine parameters uses `γ = 1`, `β = 0`. The merged weights
/// are detached: no gradient flows back to the parameters, so a model
/// built from a training `VarMap` is explained without weight gradients.
///
/// Errors (a candle error) when the batch norm's channel count differs
/// from the convolution's output channels.
///
/// ```
/// use candle_core::{Device, Module, ModuleT, Tensor};
/// use candle_nn::{BatchNorm, Conv2d, Conv2dConfig};
/// use salience_explain::rules::canonize::fuse_conv_batch_norm;
/// let dev = Device::Cpu;
/// let conv = Conv2d::new(Tensor::new(&[[[[2.0f32]]], [[[-1.0]]]], &dev).unwrap(), None, Conv2dConfig::default());
/// let bn = BatchNorm::new(
///     2,
///     Tensor::new(&[1.0f32, -2.0], &dev).unwrap(), // running mean
///     Tensor::new(&[4.0f32, 1.0], &dev).unwrap(),  // running variance
///     Tensor::new(&[0.5f32, 3.0], &dev).unwrap(),  // γ
///     Tensor::new(&[0.0f32, 1.0], &dev).unwrap(),  // β
///     0.0,
/// ).unwrap();
/// let fused = fuse_conv_batch_norm(&conv, &bn).unwrap();
/// let x = Tensor::new(&[[[[3.0f32]]]], &dev).unwrap();
/// let want = bn.forward_t(&conv.forward(&x).unwrap(), false).unwrap();
/// let got = fused.forward(&x).unwrap();
/// // conv: [6, -3]; bn: [0.5 (6 − 1) / 2, 3 (−3 + 2) / 1 + 1] = [1.25, −2].
/// assert_eq!(got.flatten_all().unwrap().to_vec1::<f32>().unwrap(), vec![1.25, -2.0]);
/// assert_eq!(want.flatten_all().unwrap().to_vec1::<f32>().unwrap(), vec![1.25, -2.0]);
/// ```
pub fn fuse_conv_batch_norm(conv: &Conv2d, bn: &BatchNorm) -> candle_core::Result<Conv2d> {
    let w = conv.weight().detach();
    let (cout, _, _, _) = w.dims4()?;
    let mean = bn.running_mean().detach();
    let var = bn.running_var().detach();
    if mean.elem_count() != cout || var.elem_count() != cout {
        candle_core::bail!(
            "fuse_conv_batch_norm: batch norm over {} channels after a convolution with {cout} output channels",
            mean.elem_count()
        );
    }
    let mean = mean.flatten_all()?.to_dtype(w.dtype())?;
    let inv_std = ((var.flatten_all()?.to_dtype(w.dtype())? + bn.eps())?.sqrt()?).recip()?;
    let (scale, shift) = match bn.weight_and_bias() {
        Some((g, b)) => (
            (g.detach().flatten_all()?.to_dtype(w.dtype())? * &inv_std)?,
            b.detach().flatten_all()?.to_dtype(w.dtype())?,
        ),
        None => (inv_std, mean.zeros_like()?),
    };
    if scale.elem_count() != cout || shift.elem_count() != cout {
        candle_core::bail!(
            "fuse_conv_batch_norm: batch-norm affine parameters do not have {cout} channels"
        );
    }
    let weight = w.broadcast_mul(&scale.reshape((cout, 1, 1, 1))?)?;
    let centred = match conv.bias() {
        Some(b) => (b.detach().flatten_all()?.to_dtype(w.dtype())? - &mean)?,
        None => mean.neg()?,
    };
    let bias = (shift + (scale * centred)?)?;
    Ok(Conv2d::new(weight, Some(bias), *conv.config()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Module, ModuleT, Tensor};
    use candle_nn::Conv2dConfig;

    fn seq(n: usize, a: f32, b: f32) -> Vec<f32> {
        (0..n).map(|i| (i as f32 * a).sin() * b).collect()
    }

    #[test]
    fn fused_conv_matches_conv_then_batch_norm() {
        let dev = Device::Cpu;
        let cfg = Conv2dConfig {
            padding: 1,
            stride: 2,
            ..Default::default()
        };
        let w = Tensor::from_vec(seq(3 * 2 * 3 * 3, 0.7, 0.5), (3, 2, 3, 3), &dev).unwrap();
        let x = Tensor::from_vec(seq(2 * 2 * 5 * 5, 0.3, 1.0), (2, 2, 5, 5), &dev).unwrap();
        let mean = Tensor::new(&[0.1f32, -0.4, 0.3], &dev).unwrap();
        let var = Tensor::new(&[0.5f32, 2.0, 0.01], &dev).unwrap();
        for bias in [
            None,
            Some(Tensor::new(&[0.2f32, -0.1, 0.05], &dev).unwrap()),
        ] {
            let conv = Conv2d::new(w.clone(), bias, cfg);
            let affine = BatchNorm::new(
                3,
                mean.clone(),
                var.clone(),
                Tensor::new(&[1.5f32, -0.5, 2.0], &dev).unwrap(),
                Tensor::new(&[0.3f32, 0.0, -1.0], &dev).unwrap(),
                1e-5,
            )
            .unwrap();
            let plain = BatchNorm::new_no_bias(3, mean.clone(), var.clone(), 1e-3).unwrap();
            for bn in [affine, plain] {
                let want: Vec<f32> = bn
                    .forward_t(&conv.forward(&x).unwrap(), false)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1()
                    .unwrap();
                let fused = fuse_conv_batch_norm(&conv, &bn).unwrap();
                let got: Vec<f32> = fused
                    .forward(&x)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1()
                    .unwrap();
                for (g, w) in got.iter().zip(&want) {
                    assert!((g - w).abs() <= 1e-5 * (1.0 + w.abs()), "{g} vs {w}");
                }
            }
        }
    }

    #[test]
    fn channel_mismatch_is_an_error() {
        let dev = Device::Cpu;
        let conv = Conv2d::new(
            Tensor::zeros((3, 1, 1, 1), candle_core::DType::F32, &dev).unwrap(),
            None,
            Conv2dConfig::default(),
        );
        let v = Tensor::ones(2, candle_core::DType::F32, &dev).unwrap();
        let bn = BatchNorm::new_no_bias(2, v.clone(), v, 1e-5).unwrap();
        assert!(fuse_conv_batch_norm(&conv, &bn).is_err());
    }
}
