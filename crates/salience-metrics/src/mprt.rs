//! Model Parameter Randomisation Test (Adebayo et al. 2018, "Sanity checks
//! for saliency maps"; Gattas (2020)), cascading from the top layer.
//!
//! Stage 0 is the trained model; stage `k` has the top `k` layers
//! re-initialised at random (cascading: stage `k + 1` randomises one more
//! layer on top of stage `k`'s). Each stage explains the same inputs (same
//! targets, same seeds) and each stage-`k` map is compared with the stage-0
//! map of the same sample by Spearman rank correlation and SSIM. A method
//! that depends on the model's parameters gives similarities that **fall
//! towards 0 (lower is better)** as more layers are randomised.
//!
//! salience-metrics does not know about networks: stages come from a
//! factory closure `stage → explainer` (salience-explain's weight-map model
//! builds the randomised models). Before the comparison each map is turned
//! into a pixel map (channel reduction and sign, default: channel sum then
//! `|·|`, Quantus' `abs=True`) and, with [`MprtConfig::normalize`], divided
//! by its **own** maximum |value| (Spearman does not change, SSIM does).
//! Quantus' `normalise=True` (`normalise_by_max`) divides by the maximum
//! over the whole *batch* instead, so its SSIM depends on which other
//! images share the batch; the two agree for a batch of one.

use crate::maps::{pixel_maps, MapSign, PixelMapConfig};
use crate::scores::{Outcome, Outcomes, Scores, Undefined};
use crate::sensitivity::explain_clean;
use crate::similarity::{spearman, ssim, SsimConfig};
use ndarray::{Array2, ArrayViewD, Axis};
use salience_core::spec::Validate;
use salience_core::{
    AttributionBatch, BatchSize, ChannelReduction, Explainer, Result, SalienceError, Seeds,
};

/// Options of [`mprt`].
///
/// ```
/// let c = salience_metrics::MprtConfig::default();
/// assert!(c.normalize);
/// assert_eq!(c.pixel_map.sign, salience_metrics::MapSign::Abs);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MprtConfig {
    /// Channel reduction and sign of the compared maps (default: signed
    /// channel sum, then `|·|`, as Quantus' `abs=True`).
    pub pixel_map: PixelMapConfig,
    /// Divide each map by its maximum |value| first (default true).
    pub normalize: bool,
    /// SSIM options (default: scikit-image's 7 × 7 uniform window, data
    /// range from the two maps, as Quantus).
    pub ssim: SsimConfig,
    /// Samples per `explain` call: [`BatchSize::Auto`] (default) is 32
    /// (the explainer then chunks its own model calls by its own
    /// `batch_size`); `Fixed(n)` is `n`. `"auto"` or a positive integer in
    /// specs.
    pub batch_size: BatchSize,
}

impl Default for MprtConfig {
    fn default() -> Self {
        MprtConfig {
            pixel_map: PixelMapConfig {
                reduction: ChannelReduction::Sum,
                sign: MapSign::Abs,
            },
            normalize: true,
            ssim: SsimConfig::default(),
            batch_size: BatchSize::Auto,
        }
    }
}

/// Per-stage, per-sample similarities to the stage-0 maps.
#[derive(Debug, Clone, PartialEq)]
pub struct MprtResult {
    /// `spearman[k − 1]`: Spearman correlation of stage `k`'s maps with the
    /// original ones, per sample (`k = 1 ..= n_stages`); undefined
    /// ([`Undefined::ConstantStageMap`]) where either map is constant.
    pub spearman: Vec<Outcomes>,
    /// `ssim[k − 1]`: SSIM of stage `k`'s maps with the original ones, per
    /// sample; `None` for tabular attributions.
    pub ssim: Option<Vec<Outcomes>>,
}

impl Validate for MprtConfig {
    /// a `batch_size` in range and valid SSIM constants.
    fn validate(&self) -> Result<()> {
        crate::common::check_batch_size(self.batch_size)?;
        self.ssim.validate()
    }
}

/// Runs the cascading MPRT: `explainer_at(0)` explains with the original
/// model, `explainer_at(k)` with the top `k` layers randomised, for
/// `k = 1 ..= n_stages`; see the [module docs](self).
///
/// Errors: `n_stages == 0`, bad inputs, factory or explainer failures, maps
/// whose shape changes between stages, maps smaller than the SSIM window.
/// A constant map makes Spearman undefined for its sample and stage
/// ([`Undefined::ConstantStageMap`]; `strict()` gives the former
/// `DegenerateMap` naming the stage), not an error.
///
/// ```
/// use ndarray::{Array2, ArrayViewD};
/// use salience_core::{AttributionBatch, Explainer, Result, Seeds};
/// use salience_metrics::{mprt, MprtConfig};
/// // "Stage k" maps: the input raised to the power k + 1 (a monotone
/// // transform keeps the ranks, so Spearman stays 1).
/// struct Pow(i32);
/// impl Explainer for Pow {
///     fn name(&self) -> &str { "pow" }
///     fn explain(&self, x: ArrayViewD<'_, f32>, _: &[usize], _: Seeds<'_>) -> Result<AttributionBatch> {
///         AttributionBatch::new(x.mapv(|v| v.powi(self.0)))
///     }
/// }
/// let x = Array2::from_shape_fn((2, 5), |(n, j)| (n + j + 1) as f32);
/// let factory = |k: usize| -> Result<Box<dyn Explainer>> { Ok(Box::new(Pow(k as i32 + 1))) };
/// let r = mprt(&factory, 2, x.view().into_dyn(), &[0, 0], &MprtConfig::default(), Seeds::base(0))?;
/// assert_eq!(r.spearman.len(), 2);
/// assert!(r.spearman[1].strict()?.values().iter().all(|&s| (s - 1.0).abs() < 1e-12));
/// assert!(r.ssim.is_none()); // tabular maps
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn mprt(
    explainer_at: &dyn Fn(usize) -> Result<Box<dyn Explainer>>,
    n_stages: usize,
    inputs: ArrayViewD<'_, f32>,
    targets: &[usize],
    config: &MprtConfig,
    seeds: Seeds<'_>,
) -> Result<MprtResult> {
    if n_stages == 0 {
        return Err(SalienceError::invalid("n_stages", 0, "must be ≥ 1"));
    }
    config.validate()?;
    let shape = inputs.shape().to_vec();
    let g = crate::common::input_geometry(&shape, "MPRT inputs")?;
    if targets.len() != g.n {
        return Err(SalienceError::TargetCount {
            targets: targets.len(),
            inputs: g.n,
        });
    }
    seeds.check_len(g.n)?;
    let x = crate::common::flat_inputs(inputs, &g, "MPRT inputs")?;
    let bs = crate::common::explain_batch(config.batch_size)?;
    let stage_maps = |k: usize| -> Result<StageMaps> {
        let e = explainer_at(k)?;
        let flat = explain_clean(e.as_ref(), &x, &shape, targets, seeds, bs)?;
        // Rebuild the batch to get its layout back.
        let mut ashape = vec![g.n];
        ashape.extend(map_shape(&shape, flat.ncols()));
        let batch = AttributionBatch::new(
            flat.into_shape_with_order(ndarray::IxDyn(&ashape))
                .map_err(|e| SalienceError::backend("ndarray", e))?,
        )?;
        let (maps, hw) = if ashape.len() >= 3 {
            let pm = pixel_maps(&batch, &config.pixel_map)?;
            let (n, h, w) = pm.dim();
            (
                pm.into_shape_with_order((n, h * w))
                    .map_err(|e| SalienceError::backend("ndarray", e))?,
                Some((h, w)),
            )
        } else {
            (
                batch.as_flat().mapv(|v| config.pixel_map.sign.apply(v)),
                None,
            )
        };
        let maps = if config.normalize {
            normalise_rows(maps)
        } else {
            maps
        };
        Ok((maps, hw))
    };
    let (orig, hw) = stage_maps(0)?;
    let mut sp = Vec::with_capacity(n_stages);
    let mut ss = Vec::with_capacity(n_stages);
    for k in 1..=n_stages {
        let (maps, hw_k) = stage_maps(k)?;
        if maps.dim() != orig.dim() || hw_k != hw {
            return Err(SalienceError::shape(
                &format!("MPRT stage {k} maps"),
                format!("the stage-0 map shape {:?}", orig.shape()),
                maps.shape(),
            ));
        }
        let mut s_sp = Vec::with_capacity(g.n);
        let mut s_ss = Vec::with_capacity(g.n);
        for (a, b) in orig.outer_iter().zip(maps.outer_iter()) {
            let av: Vec<f64> = a.iter().map(|&v| v as f64).collect();
            let bv: Vec<f64> = b.iter().map(|&v| v as f64).collect();
            s_sp.push(match spearman(&av, &bv) {
                Some(r) => Outcome::Score(r),
                None => Outcome::Undefined(Undefined::ConstantStageMap { stage: k }),
            });
            if let Some((h, w)) = hw {
                let a2 = a
                    .into_shape_with_order((h, w))
                    .map_err(|e| SalienceError::backend("ndarray", e))?;
                let b2 = b
                    .into_shape_with_order((h, w))
                    .map_err(|e| SalienceError::backend("ndarray", e))?;
                s_ss.push(ssim(a2, b2, &config.ssim)?);
            }
        }
        sp.push(Outcomes::new(s_sp)?);
        if hw.is_some() {
            ss.push(Outcomes::all_defined(Scores::new(s_ss)?));
        }
    }
    Ok(MprtResult {
        spearman: sp,
        ssim: hw.map(|_| ss),
    })
}

/// A stage's flattened maps `[N, P]` and, for 2-D maps, their `(H, W)`.
type StageMaps = (Array2<f32>, Option<(usize, usize)>);

/// The per-sample map shape: the inputs' (`[C, H, W]`, `[H, W]`, `[D]`) or,
/// for a CAM-style pixel map of image inputs, `[H, W]`.
fn map_shape(inputs: &[usize], q: usize) -> Vec<usize> {
    let rest = &inputs[1..];
    if rest.iter().product::<usize>() == q {
        rest.to_vec()
    } else if rest.len() == 3 && rest[1] * rest[2] == q {
        rest[1..].to_vec()
    } else {
        vec![q]
    }
}

fn normalise_rows(mut m: Array2<f32>) -> Array2<f32> {
    for mut row in m.axis_iter_mut(Axis(0)) {
        let mx = row.iter().fold(0.0f32, |a, &v| a.max(v.abs()));
        if mx > 0.0 {
            row.mapv_inplace(|v| v / mx);
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array4;

    /// Stage k: the input image with the top k "layers" scrambled — here
    /// stage 0 returns x, stage 1 returns x with its pixel order reversed
    /// (anti-correlated for a ramp), stage 2 a constant.
    struct Stage(usize);
    impl Explainer for Stage {
        fn name(&self) -> &str {
            "stage"
        }
        fn explain(
            &self,
            x: ArrayViewD<'_, f32>,
            _: &[usize],
            _: Seeds<'_>,
        ) -> Result<AttributionBatch> {
            let mut y = x.to_owned();
            match self.0 {
                0 => {}
                1 => y.invert_axis(Axis(3)),
                _ => y.fill(1.0),
            }
            AttributionBatch::new(y.as_standard_layout().to_owned())
        }
    }

    #[test]
    fn identical_anticorrelated_and_degenerate_stages() {
        let x = Array4::from_shape_fn((2, 3, 8, 8), |(n, c, _, xx)| 1.0 + (xx + n + c) as f32);
        let factory =
            |k: usize| -> Result<Box<dyn Explainer>> { Ok(Box::new(Stage(k.saturating_sub(1)))) };
        let r = mprt(
            &factory,
            2,
            x.view().into_dyn(),
            &[0, 0],
            &MprtConfig::default(),
            Seeds::base(0),
        )
        .unwrap();
        // Stage 1 = the original: Spearman 1, SSIM 1.
        assert!(r.spearman[0]
            .strict()
            .unwrap()
            .values()
            .iter()
            .all(|&v| (v - 1.0).abs() < 1e-12));
        assert!(r.ssim.as_ref().unwrap()[0]
            .strict()
            .unwrap()
            .values()
            .iter()
            .all(|&v| (v - 1.0).abs() < 1e-12));
        // Stage 2 = left-right flip of a horizontal ramp: Spearman −1, SSIM < 0.
        assert!(r.spearman[1]
            .strict()
            .unwrap()
            .values()
            .iter()
            .all(|&v| (v + 1.0).abs() < 1e-12));
        assert!(r.ssim.as_ref().unwrap()[1]
            .strict()
            .unwrap()
            .values()
            .iter()
            .all(|&v| v < 0.0));
        // A constant stage: degenerate (undefined per sample; the strict
        // form gives the former error naming the stage).
        let constant = |k: usize| -> Result<Box<dyn Explainer>> { Ok(Box::new(Stage(2 * k))) };
        let c = mprt(
            &constant,
            1,
            x.view().into_dyn(),
            &[0, 0],
            &MprtConfig::default(),
            Seeds::base(0),
        )
        .unwrap();
        assert_eq!(
            c.spearman[0].undefined(),
            vec![
                (0, Undefined::ConstantStageMap { stage: 1 }),
                (1, Undefined::ConstantStageMap { stage: 1 })
            ]
        );
        assert!(matches!(
            c.spearman[0].strict(),
            Err(SalienceError::DegenerateMap {
                sample: 0,
                map: 1,
                ..
            })
        ));
        assert!(matches!(
            mprt(
                &factory,
                0,
                x.view().into_dyn(),
                &[0, 0],
                &MprtConfig::default(),
                Seeds::base(0)
            ),
            Err(SalienceError::InvalidParameter { .. })
        ));
        assert!(matches!(
            mprt(
                &factory,
                1,
                x.view().into_dyn(),
                &[0],
                &MprtConfig::default(),
                Seeds::base(0)
            ),
            Err(SalienceError::TargetCount { .. })
        ));
    }
}
