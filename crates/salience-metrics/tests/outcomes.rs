//! Per-sample outcomes of the localisation metrics: arbitrary maps and
//! masks (constant maps, empty and full masks, NaN) give either a typed
//! error or one outcome per sample — a finite score, or undefined with the
//! right reason — and a sample's outcome does not depend on the others.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use ndarray::{Array3, Axis};
use proptest::prelude::*;
use salience_core::{AttributionBatch, DegenerateReason, SalienceError};
use salience_metrics::*;

#[derive(Debug, Clone)]
struct Case {
    n: usize,
    h: usize,
    w: usize,
    maps: Vec<f32>,
    masks: Vec<bool>,
}

/// Per sample: a map kind (random, constant, all zero) and a mask kind
/// (random, empty, full).
fn case() -> impl Strategy<Value = (Case, Option<usize>)> {
    (1usize..5, 1usize..5, 1usize..5, any::<bool>()).prop_flat_map(|(n, h, w, nan)| {
        let p = h * w;
        (
            prop::collection::vec(
                (
                    0usize..3,
                    prop::collection::vec(-5.0f32..5.0, p),
                    -3.0f32..3.0,
                ),
                n,
            ),
            prop::collection::vec((0usize..3, prop::collection::vec(any::<bool>(), p)), n),
            if nan {
                (0..n * p).prop_map(Some).boxed()
            } else {
                Just(None).boxed()
            },
        )
            .prop_map(move |(maps, masks, nan_at)| {
                let maps = maps
                    .into_iter()
                    .flat_map(|(kind, vals, c)| match kind {
                        0 => vals,
                        1 => vec![c; vals.len()],
                        _ => vec![0.0; vals.len()],
                    })
                    .collect();
                let masks = masks
                    .into_iter()
                    .flat_map(|(kind, bits)| match kind {
                        0 => bits,
                        1 => vec![false; bits.len()],
                        _ => vec![true; bits.len()],
                    })
                    .collect();
                (
                    Case {
                        n,
                        h,
                        w,
                        maps,
                        masks,
                    },
                    nan_at,
                )
            })
    })
}

type Metric = fn(&AttributionBatch, &MaskBatch) -> salience_core::Result<Outcomes>;

fn metrics() -> Vec<(&'static str, Metric)> {
    vec![
        ("pointing", |a, m| {
            let c = PointingGameConfig {
                map: PixelMapConfig::signed(),
                ..Default::default()
            };
            pointing_game(a, m, &c)
        }),
        ("rank", |a, m| {
            relevance_rank_accuracy(a, m, &PixelMapConfig::signed())
        }),
        ("mass", |a, m| {
            relevance_mass_accuracy(a, m, &PixelMapConfig::signed())
        }),
        ("auc", |a, m| ranking_auc(a, m, &PixelMapConfig::default())),
        ("topk", |a, m| {
            top_k_intersection(
                a,
                m,
                &TopKConfig {
                    k: 1,
                    ..TopKConfig::quantus()
                },
            )
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(salience_core::validate::fuzz_cases(300)))]

    #[test]
    fn outcomes_are_per_sample_and_finite((case, nan_at) in case()) {
        let mut maps = Array3::from_shape_vec((case.n, case.h, case.w), case.maps.clone()).unwrap();
        let masks = MaskBatch::from_bool(
            Array3::from_shape_vec((case.n, case.h, case.w), case.masks.clone()).unwrap(),
        ).unwrap();
        if let Some(i) = nan_at {
            if let Some(v) = maps.iter_mut().nth(i) {
                *v = f32::NAN;
            }
        }
        let batch = AttributionBatch::from_pixel_maps(maps.clone());
        let Ok(batch) = batch else {
            // NaN rejected at construction: fine, typed.
            prop_assert!(nan_at.is_some());
            return Ok(());
        };
        for (name, metric) in metrics() {
            let r = metric(&batch, &masks);
            if nan_at.is_some() {
                prop_assert!(matches!(r, Err(SalienceError::NonFinite { .. })), "{name}: {r:?}");
                continue;
            }
            let o = r.unwrap();
            prop_assert_eq!(o.len(), case.n);
            for i in 0..case.n {
                let p = case.h * case.w;
                let map = &case.maps[i * p..(i + 1) * p];
                let mask = &case.masks[i * p..(i + 1) * p];
                let k = mask.iter().filter(|&&b| b).count();
                let constant = map.iter().all(|&v| v == map[0]);
                let outcome = o.outcomes()[i];
                match outcome {
                    Outcome::Score(v) => {
                        prop_assert!(v.is_finite(), "{name}: {v}");
                        prop_assert!(k > 0, "{name}: scored an empty mask");
                        if name != "mass" {
                            prop_assert!((0.0..=1.0).contains(&v), "{name}: {v}");
                        }
                    }
                    Outcome::Undefined(Undefined::EmptyMask) => prop_assert_eq!(k, 0, "{}", name),
                    Outcome::Undefined(Undefined::DegenerateMap(r)) => {
                        prop_assert!(constant, "{name}");
                        prop_assert_eq!(r == DegenerateReason::AllZero, map[0] == 0.0, "{}", name);
                    }
                    Outcome::Undefined(Undefined::FullMask) => {
                        prop_assert_eq!(name, "auc");
                        prop_assert_eq!(k, p);
                    }
                    Outcome::Undefined(Undefined::NonPositiveTotal) => {
                        prop_assert_eq!(name, "mass");
                        prop_assert!(map.iter().map(|&v| v as f64).sum::<f64>() <= 0.0);
                    }
                    Outcome::Undefined(other) => prop_assert!(false, "{name}: {other:?}"),
                }
                // Empty masks are undefined for every mask metric, and a
                // constant map for the ranking ones.
                if k == 0 {
                    prop_assert_eq!(outcome, Outcome::Undefined(Undefined::EmptyMask));
                } else if constant && matches!(name, "pointing" | "rank" | "topk") {
                    prop_assert!(matches!(outcome, Outcome::Undefined(Undefined::DegenerateMap(_))));
                }
                // Independence: the sample alone gets the same outcome.
                let alone = AttributionBatch::from_pixel_maps(
                    maps.index_axis(Axis(0), i).to_owned().insert_axis(Axis(0)),
                ).unwrap();
                let alone_mask = MaskBatch::from_bool(
                    masks.view().index_axis(Axis(0), i).to_owned().insert_axis(Axis(0)),
                ).unwrap();
                let single = metric(&alone, &alone_mask).unwrap();
                prop_assert_eq!(single.outcomes()[0], outcome, "{}", name);
            }
            // Summaries skip undefined samples and stay finite.
            let s = o.summary();
            prop_assert_eq!(s.n, o.n_defined());
            prop_assert!(s.mean.is_finite() && s.std.is_finite());
            prop_assert_eq!(o.strict().is_ok(), o.n_undefined() == 0);
        }
    }
}
