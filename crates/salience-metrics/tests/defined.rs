//! `on_defined_samples`: degenerate samples are dropped one by one, the
//! others keep the scores (and seeds) they have in the full batch.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use ndarray::{Array3, Array4};
use salience_core::{AttributionBatch, DegenerateReason, SalienceError, Seeds};
use salience_metrics::{
    gini_sparseness, infidelity, on_defined_samples, InfidelityConfig, Scores, SparsenessConfig,
};

fn maps_with_zeros(zero: &[usize]) -> AttributionBatch {
    AttributionBatch::from_pixel_maps(Array3::from_shape_fn((5, 4, 4), |(i, y, x)| {
        if zero.contains(&i) {
            0.0
        } else {
            ((i + 1) * (y * 4 + x)) as f32 % 7.0 - 2.0
        }
    }))
    .unwrap()
}

#[test]
fn drops_exactly_the_degenerate_samples() {
    let x = Array4::<f32>::zeros((5, 1, 4, 4)).into_dyn();
    let maps = maps_with_zeros(&[1, 3]);
    let (scores, kept) = on_defined_samples(x.view(), &maps, &[0; 5], &[0; 5], |s| {
        gini_sparseness(&s.maps, &SparsenessConfig::default())?.strict()
    })
    .unwrap()
    .unwrap();
    assert_eq!(kept, vec![0, 2, 4]);
    let full = gini_sparseness(&maps_with_zeros(&[]), &SparsenessConfig::default()).unwrap();
    let expect: Vec<f64> = kept
        .iter()
        .map(|&i| full.strict().unwrap().values()[i])
        .collect();
    assert_eq!(scores.values(), expect.as_slice());
    // All degenerate: None.
    let none = on_defined_samples(
        x.view(),
        &maps_with_zeros(&[0, 1, 2, 3, 4]),
        &[0; 5],
        &[0; 5],
        |s| gini_sparseness(&s.maps, &SparsenessConfig::default())?.strict(),
    )
    .unwrap();
    assert!(none.is_none());
}

#[test]
fn seeded_metrics_keep_their_per_sample_scores() {
    // A linear "model" over 16 pixels; infidelity draws from each sample's seed.
    let model = salience_core::LinearModel::new(
        ndarray::Array2::from_shape_fn((2, 16), |(c, j)| (c as f32 + 1.0) * (j as f32 - 7.5) / 8.0),
        ndarray::array![0.0f32, 0.1],
    )
    .unwrap();
    let x = Array4::from_shape_fn((5, 1, 4, 4), |(i, _, y, z)| {
        ((i + y * 4 + z) % 5) as f32 / 4.0
    })
    .into_dyn();
    let seeds = [11u64, 12, 13, 14, 15];
    let targets = [0usize, 1, 0, 1, 0];
    let cfg = InfidelityConfig {
        n_perturbations: 8,
        ..InfidelityConfig::captum()
    };
    let full = infidelity(
        &model,
        x.view(),
        &maps_with_zeros(&[]),
        &targets,
        &cfg,
        Seeds::per_sample(&seeds),
    )
    .unwrap();
    let (scores, kept) =
        on_defined_samples(x.view(), &maps_with_zeros(&[]), &targets, &seeds, |s| {
            // Pretend sample 2 of the full batch is degenerate.
            if let Some(p) = s.indices.iter().position(|&i| i == 2) {
                return Err(SalienceError::DegenerateMap {
                    sample: p,
                    map: 0,
                    reason: DegenerateReason::AllZero,
                });
            }
            infidelity(
                &model,
                s.inputs.view(),
                &s.maps,
                &s.targets,
                &cfg,
                Seeds::per_sample(&s.seeds),
            )?
            .strict()
        })
        .unwrap()
        .unwrap();
    assert_eq!(kept, vec![0, 1, 3, 4]);
    for (v, &i) in scores.values().iter().zip(&kept) {
        assert_eq!(*v, full.strict().unwrap().values()[i]);
    }
}

#[test]
fn other_errors_and_bad_lengths_are_returned() {
    let x = Array4::<f32>::zeros((5, 1, 4, 4)).into_dyn();
    let maps = maps_with_zeros(&[]);
    let err = on_defined_samples(
        x.view(),
        &maps,
        &[0; 5],
        &[0; 5],
        |_| -> salience_core::Result<Scores> { Err(SalienceError::Model("boom".into())) },
    );
    assert!(matches!(err, Err(SalienceError::Model(_))));
    let ok = |_: &salience_metrics::SampleSubset| Scores::new(vec![1.0]);
    assert!(matches!(
        on_defined_samples(x.view(), &maps, &[0; 4], &[0; 5], ok),
        Err(SalienceError::TargetCount { .. })
    ));
    assert!(on_defined_samples(x.view(), &maps, &[0; 5], &[0; 3], ok).is_err());
    let fewer = maps_with_zeros(&[])
        .view()
        .slice_axis(ndarray::Axis(0), (0..2).into())
        .to_owned();
    let fewer = AttributionBatch::new(fewer).unwrap();
    assert!(on_defined_samples(x.view(), &fewer, &[0; 5], &[0; 5], ok).is_err());
}
