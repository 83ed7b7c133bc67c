//! The generalized L2 metrics of App. B (Decker et al. 2024) for other
//! dimensions of explanation quality: alignment (to a target map or a
//! region), the randomisation sanity check, and truncated-L2 complexity.
//!
//! Each builder returns one [`Gram`] per input, so they combine with the
//! App. C metrics through [`crate::combine`] (λ-weighted sums) and are
//! optimized with [`crate::solve_qp`] — or, when a term with a negative sign
//! makes the sum indefinite, with [`crate::global_minimum`].
//!
//! | Metric | γ1 | γ2 | Q(φ) |
//! |---|---|---|---|
//! | alignment to a map γ⋆ | I_d | γ⋆ | ‖φ − γ⋆‖² |
//! | alignment to a region I | diag(1\[i ∉ I\]) | 0 | ‖φ − φ_I‖² = Σ_{i∉I} φ_i² |
//! | randomisation | I_d on φ_θ − φ_θ̃ | 0 | −E_θ̃‖φ_θ − φ_θ̃‖² |
//! | truncated L2 | diag(1\[\|φ_i\| ≤ t\]) | −t·1\[\|φ_i\| > t\] | Σ_i min(\|φ_i\|, t)² |

use crate::gram::{Gram, GramAccumulator};
use crate::metrics_grams::phi_of;
use crate::qp::{solve_qp, QpSettings, Weights};
use crate::query::Query;
use ndarray::{Array1, Array2, ArrayView2, ArrayViewD};
use salience_core::validate::check_finite;
use salience_core::{Ensemble, Layout, Result, SalienceError};

/// What an attribution should align with (App. B, "Alignment Metrics").
#[derive(Debug, Clone)]
pub enum AlignmentTarget<'a> {
    /// Desired attribution maps γ⋆, `[N, ...]` with the ensemble's map
    /// shape: Q(φ) = ‖φ − γ⋆‖².
    Maps(ArrayViewD<'a, f32>),
    /// Regions of interest I as 0/1 masks (non-zero = inside): Q(φ) =
    /// ‖φ − φ_I‖², the attribution mass *outside* the region. Shape
    /// `[N, ...]` with the ensemble's map shape, or `[N, H, W]` for
    /// `[N, C, H, W]` maps (the region then covers all channels).
    Region(ArrayViewD<'a, f32>),
}

/// The alignment Gram of every input: wᵀG_iw = ‖φ_w(x_i) − γ⋆_i‖² for
/// [`AlignmentTarget::Maps`] and Σ_{f ∉ I_i} φ_w(x_i)_f² for
/// [`AlignmentTarget::Region`] (on the simplex; [`Gram::q`] gives Q off it).
///
/// ```
/// use ndarray::array;
/// use salience_core::Ensemble;
/// use salience_optimize::{alignment_grams, optimal_weights, AlignmentTarget};
/// // k = 2 methods, N = 1 input, 4 features; method 0 puts all mass in the region.
/// let e = Ensemble::from_stacked(array![[[1.0f32, 1.0, 0.0, 0.0]], [[0.5, 0.5, 0.5, 0.5]]].into_dyn(), None)?;
/// let region = array![[1.0f32, 1.0, 0.0, 0.0]];
/// let g = alignment_grams(&e, AlignmentTarget::Region(region.view().into_dyn()))?;
/// assert!(optimal_weights(&g[0])?.as_slice()[0] > 1.0 - 1e-9);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn alignment_grams(ensemble: &Ensemble, target: AlignmentTarget<'_>) -> Result<Vec<Gram>> {
    let n = ensemble.n_samples();
    let d = ensemble.feature_len();
    // `[N, ...]`: the shape of one method's maps.
    let full_shape = ensemble.map_shape();
    match target {
        AlignmentTarget::Maps(t) => {
            if t.shape() != full_shape.as_slice() {
                return Err(SalienceError::shape(
                    "alignment target maps",
                    format!("{full_shape:?}"),
                    t.shape(),
                ));
            }
            check_finite(&t, "alignment target maps")?;
            let t = t.as_standard_layout();
            let flat = t.as_slice().unwrap_or(&[]);
            (0..n)
                .map(|i| {
                    let phi = phi_of(ensemble, i);
                    let row = &flat[i * d..(i + 1) * d];
                    GramAccumulator::accumulate(phi.view(), &[Query::Identity { target: row }])
                })
                .collect()
        }
        AlignmentTarget::Region(m) => {
            let channels = match ensemble.layout() {
                Layout::Image { c, .. } => c,
                _ => 1,
            };
            let per_pixel = channels > 1 && m.ndim() + 1 == full_shape.len() && {
                let mut s = vec![n];
                s.extend_from_slice(full_shape.get(2..).unwrap_or(&[]));
                m.shape() == s.as_slice()
            };
            if m.shape() != full_shape.as_slice() && !per_pixel {
                return Err(SalienceError::shape(
                    "alignment region masks",
                    format!("{full_shape:?} (or [N, H, W] for [N, C, H, W] maps)"),
                    m.shape(),
                ));
            }
            check_finite(&m, "alignment region masks")?;
            let m = m.as_standard_layout();
            let flat = m.as_slice().unwrap_or(&[]);
            let plane = if per_pixel { d / channels } else { d };
            let zeros = vec![0.0f32; d];
            (0..n)
                .map(|i| {
                    let mask = &flat[i * plane..(i + 1) * plane];
                    if mask.iter().all(|&v| v == 0.0) {
                        return Err(SalienceError::DegenerateMap {
                            sample: i,
                            map: 0,
                            reason: salience_core::DegenerateReason::AllZero,
                        });
                    }
                    let mut phi = phi_of(ensemble, i);
                    for mut row in phi.rows_mut() {
                        for (f, v) in row.iter_mut().enumerate() {
                            if mask[f % plane] != 0.0 {
                                *v = 0.0;
                            }
                        }
                    }
                    GramAccumulator::accumulate(phi.view(), &[Query::Identity { target: &zeros }])
                })
                .collect()
        }
    }
}

/// The randomisation sanity-check Gram of every input (App. B):
/// Q(φ_w) = −(1/m) Σ_j ‖φ_w,θ(x) − φ_w,θ̃_j(x)‖², where `original` is the
/// panel's maps Φ_θ on the trained model and `randomized[j]` the same panel
/// on the j-th parameter-randomized model θ̃_j (same inputs, same targets),
/// both aggregated with the same weights w.
///
/// The sign makes G **negative** semidefinite (attributions that do not
/// change when the model is randomized score worse), so minimizing it alone
/// is concave — its minimum is the vertex of the method that changes most —
/// and a λ-weighted sum with other metrics may be indefinite: solve it with
/// [`crate::global_minimum`], not [`crate::solve_qp`]. γ2 = 0, so
/// wᵀGw = Q(φ_w) for every w, on the simplex or not. The maps should be
/// normalized the same way on both models (e.g. abs-max as in App. C.2).
///
/// ```
/// use ndarray::array;
/// use salience_core::Ensemble;
/// use salience_optimize::{global_minimum, randomization_grams};
/// let original = Ensemble::from_stacked(array![[[1.0f32, 0.0]], [[1.0, 0.0]]].into_dyn(), None)?;
/// // Method 0 does not react to randomization, method 1 does.
/// let random = Ensemble::from_stacked(array![[[1.0f32, 0.0]], [[0.0, 1.0]]].into_dyn(), None)?;
/// let g = randomization_grams(&original, &[random])?;
/// assert_eq!(g[0].matrix()[[1, 1]], -2.0);
/// assert_eq!(global_minimum(g[0].matrix())?.weights.as_slice(), &[0.0, 1.0]);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn randomization_grams(original: &Ensemble, randomized: &[Ensemble]) -> Result<Vec<Gram>> {
    if randomized.is_empty() {
        return Err(SalienceError::Empty(
            "randomization_grams: no randomized-model ensembles (m = 0)".into(),
        ));
    }
    let stacked = original.stacked();
    for (j, r) in randomized.iter().enumerate() {
        if r.stacked().shape() != stacked.shape() {
            return Err(SalienceError::shape(
                &format!("randomized ensemble {j}"),
                format!("{:?} (the original ensemble's shape)", stacked.shape()),
                r.stacked().shape(),
            ));
        }
    }
    let k = original.k();
    (0..original.n_samples())
        .map(|i| {
            let phi = phi_of(original, i);
            let mut acc = GramAccumulator::new(k)?;
            for r in randomized {
                let pert = phi_of(r, i);
                acc.add(
                    phi.view(),
                    &Query::Sensitivity {
                        perturbed: pert.view(),
                    },
                )?;
            }
            let g = acc.finish()?;
            Gram::from_parts(-g.matrix().to_owned(), Array1::zeros(k), 0.0)
        })
        .collect()
}

/// The truncated-L2 complexity Gram (App. B; Dicker 2014) of one input's
/// maps `phi` (`[k, d]`), with the partition taken from `reference` (the
/// map φ at which the metric is linearized, length d): features with
/// |reference_f| ≤ t keep their squared value, the others contribute t².
/// For φ_w with the same partition, Q(φ_w) = Σ_f min(|φ_w,f|, t)²; for any
/// other φ_w it is an upper bound (min(a, b) ≤ a, b), which is what makes
/// [`truncated_l2_weights`] a majorize–minimize scheme.
///
/// The paper writes min{φ, t} elementwise; its γ1/γ2 test |φ_i|, so we use
/// |φ| (a negative attribution counts by its magnitude).
///
/// ```
/// use ndarray::array;
/// use salience_optimize::truncated_l2_gram;
/// let phi = array![[3.0f32, 0.5], [0.0, 1.0]];
/// let g = truncated_l2_gram(phi.view(), array![3.0f32, 0.5].view(), 1.0)?;
/// // w = (1, 0): min(3, 1)² + min(0.5, 1)² = 1.25.
/// assert!((g.q(&[1.0, 0.0])? - 1.25).abs() < 1e-12);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn truncated_l2_gram(
    phi: ArrayView2<'_, f32>,
    reference: ndarray::ArrayView1<'_, f32>,
    t: f32,
) -> Result<Gram> {
    let (k, d) = phi.dim();
    if k == 0 || d == 0 {
        return Err(SalienceError::Empty(format!(
            "truncated_l2_gram: maps of shape [{k}, {d}]"
        )));
    }
    if reference.len() != d {
        return Err(SalienceError::shape(
            "truncated_l2_gram reference",
            format!("[{d}]"),
            &[reference.len()],
        ));
    }
    if !(t.is_finite() && t > 0.0) {
        return Err(SalienceError::invalid("t", t, "must be finite and > 0"));
    }
    check_finite(&phi, "truncated_l2_gram maps")?;
    check_finite(&reference, "truncated_l2_gram reference")?;
    let mut g = Array2::<f64>::zeros((k, k));
    let mut outside = 0usize;
    for f in 0..d {
        if reference[f].abs() <= t {
            let col = phi.column(f);
            for a in 0..k {
                let va = f64::from(col[a]);
                for b in a..k {
                    g[[a, b]] += va * f64::from(col[b]);
                }
            }
        } else {
            outside += 1;
        }
    }
    let c = outside as f64 * f64::from(t) * f64::from(t);
    for a in 0..k {
        for b in a..k {
            let v = g[[a, b]] + c;
            g[[a, b]] = v;
            g[[b, a]] = v;
        }
    }
    Gram::from_parts(g, Array1::from_elem(k, -c), c)
}

/// The result of [`truncated_l2_weights`].
#[derive(Debug, Clone, PartialEq)]
pub struct TruncatedL2Fit {
    /// The final convex weights.
    pub weights: Weights,
    /// Q(φ_w) = Σ_f min(|φ_w,f|, t)² after each iteration (index 0: the
    /// uniform start); non-increasing.
    pub history: Vec<f64>,
    /// Whether the partition stopped changing before `max_iter`.
    pub converged: bool,
}

/// Convex weights minimizing the truncated-L2 complexity
/// Σ_f min(|φ_w,f|, t)² of one input's maps (`[k, d]`), by
/// majorize–minimize: start from uniform weights, build
/// [`truncated_l2_gram`] at the current φ_w, solve the QP, repeat until the
/// partition {f : |φ_w,f| ≤ t} is unchanged (at most `max_iter` times).
/// Each step cannot increase Q (the Gram is an upper bound that is tight at
/// the current point); the metric is not convex, so the result is a local
/// minimum.
///
/// ```
/// use ndarray::array;
/// use salience_optimize::truncated_l2_weights;
/// let phi = array![[0.9f32, 0.9, 0.9, 0.9], [2.0, 0.0, 0.0, 0.0]];
/// let fit = truncated_l2_weights(phi.view(), 0.5, 20)?;
/// assert!(fit.history.windows(2).all(|p| p[1] <= p[0] + 1e-12));
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn truncated_l2_weights(
    phi: ArrayView2<'_, f32>,
    t: f32,
    max_iter: usize,
) -> Result<TruncatedL2Fit> {
    let (k, d) = phi.dim();
    if max_iter == 0 {
        return Err(SalienceError::invalid("max_iter", 0, "must be ≥ 1"));
    }
    let q_of = |w: &[f64]| -> Vec<f32> {
        (0..d)
            .map(|f| {
                let v: f64 = (0..k).map(|a| w[a] * f64::from(phi[[a, f]])).sum();
                v as f32
            })
            .collect()
    };
    let truncated = |map: &[f32]| -> f64 {
        map.iter()
            .map(|&v| {
                let m = f64::from(v.abs()).min(f64::from(t));
                m * m
            })
            .sum()
    };
    let mut w = Weights::uniform(k)?;
    let mut map = q_of(w.as_slice());
    // Validates shapes, t and finiteness once.
    let mut gram = truncated_l2_gram(phi, ndarray::ArrayView1::from(&map[..]), t)?;
    let mut history = vec![truncated(&map)];
    let mut converged = false;
    let settings = QpSettings::default();
    for _ in 0..max_iter {
        let sol = solve_qp(gram.matrix(), &settings)?;
        let new_map = q_of(sol.weights.as_slice());
        let q_new = truncated(&new_map);
        let q_old = history.last().copied().unwrap_or(f64::INFINITY);
        if q_new > q_old {
            // Rounding only: keep the previous point.
            converged = true;
            break;
        }
        let same = map
            .iter()
            .zip(&new_map)
            .all(|(a, b)| (a.abs() <= t) == (b.abs() <= t));
        w = sol.weights;
        map = new_map;
        history.push(q_new);
        if same {
            converged = true;
            break;
        }
        gram = truncated_l2_gram(phi, ndarray::ArrayView1::from(&map[..]), t)?;
    }
    Ok(TruncatedL2Fit {
        weights: w,
        history,
        converged,
    })
}
