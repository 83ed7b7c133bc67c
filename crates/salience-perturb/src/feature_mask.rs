//! Feature groups for the perturbation explainers: which input elements
//! are perturbed together (Captum's `feature_mask`) and, for LIME and
//! KernelSHAP, the interpretable features.

use crate::slic::{slic_flat, SlicConfig};
use ndarray::{ArrayD, ArrayViewD};
use salience_core::{Result, SalienceError};

/// How the elements of one input are grouped into M features that are
/// perturbed together. Attributions are computed per group and written to
/// every element of the group.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FeatureMask {
    /// Every scalar element is its own feature (Captum's default when no
    /// `feature_mask` is given). M = C·H·W.
    #[default]
    #[serde(alias = "element")]
    PerElement,
    /// Square `size × size` patches of the image plane, shared by all
    /// channels, laid out from the top-left corner (patches at the right and
    /// bottom edges are cropped). Needs `[N, C, H, W]` or `[N, H, W]`
    /// inputs. Decker et al. (2024) uses 16 × 16 patches for Feature Ablation, Shapley
    /// Value Sampling and LIME's patch variant.
    Patches {
        /// Patch side in pixels (≥ 1).
        size: usize,
    },
    /// [`crate::slic()`] superpixels of each input (computed from the input
    /// itself), shared by all channels. Needs `[N, C, H, W]` or `[N, H, W]`
    /// inputs. Decker et al. (2024) uses about 100 superpixels.
    Slic(SlicConfig),
    /// Given group ids, as Captum's `feature_mask`: an array of one
    /// sample's shape, of `[N, ...]` (one mask per input), or, for
    /// `[N, C, H, W]` inputs, of the plane `[H, W]` (shared by all
    /// channels). Ids may be any `usize` values; they are renumbered
    /// `0 .. M` in increasing order.
    #[serde(skip)]
    Given(ArrayD<usize>),
}

/// The feature groups of one input: `ids[e]` is the group (in `0 .. M`) of
/// element `e` (row-major over the sample's shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureGroups {
    ids: Vec<usize>,
    count: usize,
}

impl FeatureGroups {
    /// Builds groups from per-element ids, renumbering them densely
    /// `0 .. M` in increasing id order.
    ///
    /// ```
    /// let g = salience_perturb::FeatureGroups::from_ids(&[7, 3, 7, 9])?;
    /// assert_eq!(g.ids(), &[1, 0, 1, 2]);
    /// assert_eq!(g.count(), 3);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn from_ids(ids: &[usize]) -> Result<Self> {
        if ids.is_empty() {
            return Err(SalienceError::Empty("feature mask".into()));
        }
        let mut uniq: Vec<usize> = ids.to_vec();
        uniq.sort_unstable();
        uniq.dedup();
        let dense = ids
            .iter()
            .map(|v| uniq.binary_search(v).unwrap_or(0))
            .collect();
        Ok(FeatureGroups {
            ids: dense,
            count: uniq.len(),
        })
    }

    /// The group of every element.
    pub fn ids(&self) -> &[usize] {
        &self.ids
    }

    /// The number of groups M.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Writes each group's value to the elements of the group.
    pub(crate) fn spread(&self, per_group: &[f64], out: &mut [f32]) {
        for (o, g) in out.iter_mut().zip(&self.ids) {
            *o = per_group[*g] as f32;
        }
    }
}

impl FeatureMask {
    /// The groups of every input of a batch `[N, ...]`.
    ///
    /// ```
    /// use salience_perturb::FeatureMask;
    /// let x = ndarray::Array4::<f32>::zeros((1, 2, 4, 4)).into_dyn();
    /// let g = FeatureMask::Patches { size: 2 }.groups(x.view())?;
    /// assert_eq!(g[0].count(), 4);
    /// // Both channels of pixel (0, 0) are in patch 0; pixel (3, 3) in patch 3.
    /// assert_eq!((g[0].ids()[0], g[0].ids()[16], g[0].ids()[15]), (0, 0, 3));
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn groups(&self, inputs: ArrayViewD<'_, f32>) -> Result<Vec<FeatureGroups>> {
        let shape = inputs.shape().to_vec();
        if shape.len() < 2 || shape.contains(&0) {
            return Err(SalienceError::shape(
                "feature mask inputs",
                "non-empty [N, ...]",
                &shape,
            ));
        }
        salience_core::validate::check_finite(&inputs, "feature mask inputs")?;
        let x: Vec<f32> = inputs.as_standard_layout().iter().copied().collect();
        self.resolve(&x, shape[0], &shape[1..])
    }

    /// Resolves the groups of `n` flat inputs of per-sample shape
    /// `sample_shape` (validated).
    pub(crate) fn resolve(
        &self,
        x: &[f32],
        n: usize,
        sample_shape: &[usize],
    ) -> Result<Vec<FeatureGroups>> {
        let f: usize = sample_shape.iter().product();
        match self {
            FeatureMask::PerElement => {
                let ids: Vec<usize> = (0..f).collect();
                let g = FeatureGroups::from_ids(&ids)?;
                Ok(vec![g; n])
            }
            FeatureMask::Patches { size } => {
                if *size == 0 {
                    return Err(SalienceError::invalid(
                        "patch size",
                        0,
                        "must be at least 1",
                    ));
                }
                let (c, h, w) = plane(sample_shape, n, "patch feature mask")?;
                let per_row = w.div_ceil(*size);
                let mut ids = Vec::with_capacity(f);
                for _ in 0..c {
                    for y in 0..h {
                        for xx in 0..w {
                            ids.push((y / size) * per_row + xx / size);
                        }
                    }
                }
                let g = FeatureGroups::from_ids(&ids)?;
                Ok(vec![g; n])
            }
            FeatureMask::Slic(cfg) => {
                let (c, h, w) = plane(sample_shape, n, "SLIC feature mask")?;
                (0..n)
                    .map(|i| {
                        let labels = slic_flat(&x[i * f..(i + 1) * f], c, h, w, cfg)?;
                        let ids: Vec<usize> = (0..c).flat_map(|_| labels.iter().copied()).collect();
                        FeatureGroups::from_ids(&ids)
                    })
                    .collect()
            }
            FeatureMask::Given(m) => {
                let ms = m.shape();
                let flat: Vec<usize> = m.as_standard_layout().iter().copied().collect();
                if ms == sample_shape {
                    let g = FeatureGroups::from_ids(&flat)?;
                    Ok(vec![g; n])
                } else if ms.len() == sample_shape.len() + 1
                    && ms[0] == n
                    && &ms[1..] == sample_shape
                {
                    (0..n)
                        .map(|i| FeatureGroups::from_ids(&flat[i * f..(i + 1) * f]))
                        .collect()
                } else if sample_shape.len() == 3 && ms == &sample_shape[1..] {
                    let ids: Vec<usize> = (0..sample_shape[0])
                        .flat_map(|_| flat.iter().copied())
                        .collect();
                    let g = FeatureGroups::from_ids(&ids)?;
                    Ok(vec![g; n])
                } else {
                    Err(SalienceError::shape(
                        "feature mask",
                        format!(
                            "{sample_shape:?}, [{n}, ...{sample_shape:?}] or, for images, [H, W]"
                        ),
                        ms,
                    ))
                }
            }
        }
    }
}

/// `(channels, H, W)` of an image sample shape.
fn plane(sample_shape: &[usize], n: usize, what: &str) -> Result<(usize, usize, usize)> {
    match *sample_shape {
        [c, h, w] => Ok((c, h, w)),
        [h, w] => Ok((1, h, w)),
        _ => {
            let mut s = vec![n];
            s.extend_from_slice(sample_shape);
            Err(SalienceError::shape(what, "[N, C, H, W] or [N, H, W]", &s))
        }
    }
}
