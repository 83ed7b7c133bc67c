//! Activation maximization, plain and averaged over NoiseGrad draws.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod ng_common;

use ng_common::*;
use salience_core::{BatchSize, SalienceError, Seeds};
use salience_explain::{maximize_class, maximize_neuron, ActivationMaxConfig, ParamFilter};

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn plain(steps: usize) -> ActivationMaxConfig {
    ActivationMaxConfig {
        steps,
        ..ActivationMaxConfig::plain()
    }
}

#[test]
fn linear_model_moves_along_the_class_row() {
    let m = lin(18, 4, 5);
    let w = to_vec(&m.weights()["fc.weight"]);
    let classes = [0, 3, 2];
    let r = maximize_class(&[m], &[2, 3, 3], &classes, &plain(40), Seeds::base(1)).unwrap();
    assert_eq!(r.inputs.shape(), &[3, 2, 3, 3]);
    let x: Vec<f32> = r.inputs.iter().copied().collect();
    for (i, &c) in classes.iter().enumerate() {
        let cos = cosine(&x[i * 18..(i + 1) * 18], &w[c * 18..(c + 1) * 18]);
        assert!(cos > 0.99, "class {c}: cosine {cos}");
        // The logit increases at every step.
        for s in 1..40 {
            assert!(r.objective[s][i] > r.objective[s - 1][i], "step {s}");
        }
    }
}

#[test]
fn noisegrad_average_follows_the_mean_of_the_draws() {
    let m = lin(18, 4, 6);
    let draws = m.noise_draws(5, 0.5, 3, &ParamFilter::default()).unwrap();
    let mut mean_row = vec![0f32; 18];
    for d in &draws {
        let w = to_vec(&d.weights()["fc.weight"]);
        for (a, b) in mean_row.iter_mut().zip(&w[18..36]) {
            *a += b / 5.0;
        }
    }
    let r = maximize_class(&draws, &[2, 3, 3], &[1], &plain(40), Seeds::base(2)).unwrap();
    let x: Vec<f32> = r.inputs.iter().copied().collect();
    assert!(cosine(&x, &mean_row) > 0.99);
    // And differs from the single-model result.
    let single = maximize_class(&[m], &[2, 3, 3], &[1], &plain(40), Seeds::base(2)).unwrap();
    assert_ne!(single.inputs, r.inputs);
}

#[test]
fn regularised_run_is_deterministic_and_batch_size_invariant() {
    let m = net();
    let cfg = ActivationMaxConfig {
        steps: 12,
        clip: Some((-1.0, 1.0)),
        ..ActivationMaxConfig::default()
    };
    let a = maximize_class(
        std::slice::from_ref(&m),
        &[2, 4, 4],
        &[0, 1, 2],
        &cfg,
        Seeds::base(4),
    )
    .unwrap();
    let b = maximize_class(
        std::slice::from_ref(&m),
        &[2, 4, 4],
        &[0, 1, 2],
        &cfg,
        Seeds::base(4),
    )
    .unwrap();
    assert_eq!(a, b);
    let c = maximize_class(
        std::slice::from_ref(&m),
        &[2, 4, 4],
        &[0, 1, 2],
        &ActivationMaxConfig {
            batch_size: BatchSize::fixed(2).unwrap(),
            ..cfg.clone()
        },
        Seeds::base(4),
    )
    .unwrap();
    for (x, y) in a.inputs.iter().zip(c.inputs.iter()) {
        assert!((x - y).abs() <= 1e-6);
    }
    assert!(a.inputs.iter().all(|v| (-1.0..=1.0).contains(v)));
    for i in 0..3 {
        assert!(a.objective[11][i] > a.objective[0][i], "{i}");
    }
    let d = maximize_class(&[m], &[2, 4, 4], &[0, 1, 2], &cfg, Seeds::base(5)).unwrap();
    assert_ne!(a.inputs, d.inputs);
}

#[test]
fn neuron_objective_increases() {
    let m = net();
    let cfg = ActivationMaxConfig {
        steps: 15,
        ..ActivationMaxConfig::default()
    };
    let r = maximize_neuron(
        &[m.clone(), m.perturbed(0.1, 1).unwrap()],
        &[2, 4, 4],
        "features",
        &[0, 2],
        &cfg,
        Seeds::base(0),
    )
    .unwrap();
    assert_eq!(r.inputs.shape(), &[2, 2, 4, 4]);
    for i in 0..2 {
        assert!(
            r.objective[14][i] > r.objective[0][i] + 0.1,
            "{:?}",
            r.objective
        );
    }
    assert!(matches!(
        maximize_neuron(
            std::slice::from_ref(&m),
            &[2, 4, 4],
            "nope",
            &[0],
            &cfg,
            Seeds::base(0)
        ),
        Err(SalienceError::InvalidParameter { .. })
    ));
    assert!(matches!(
        maximize_neuron(&[m], &[2, 4, 4], "features", &[3], &cfg, Seeds::base(0)),
        Err(SalienceError::InvalidParameter { .. })
    ));
}

#[test]
fn bad_input_is_a_typed_error() {
    let m = lin(18, 4, 5);
    let ok = plain(3);
    let call = |c: &ActivationMaxConfig, shape: &[usize], classes: &[usize]| {
        maximize_class(std::slice::from_ref(&m), shape, classes, c, Seeds::base(0))
    };
    let inv = |r: salience_core::Result<salience_explain::ActivationMaxResult>| {
        matches!(r, Err(SalienceError::InvalidParameter { .. }))
    };
    assert!(inv(call(
        &ActivationMaxConfig {
            steps: 0,
            ..ok.clone()
        },
        &[18],
        &[0]
    )));
    assert!(inv(call(
        &ActivationMaxConfig {
            learning_rate: 0.0,
            ..ok.clone()
        },
        &[18],
        &[0]
    )));
    assert!(inv(call(
        &ActivationMaxConfig {
            learning_rate: f32::NAN,
            ..ok.clone()
        },
        &[18],
        &[0]
    )));
    assert!(inv(call(
        &ActivationMaxConfig {
            l2_decay: 1.0,
            ..ok.clone()
        },
        &[18],
        &[0]
    )));
    assert!(inv(call(
        &ActivationMaxConfig {
            clip: Some((1.0, 0.0)),
            ..ok.clone()
        },
        &[18],
        &[0]
    )));
    // A batch size of 0 cannot be built (issue 20: one batch-size type).
    assert!(inv(BatchSize::fixed(0).and_then(|batch_size| call(
        &ActivationMaxConfig {
            batch_size,
            ..ok.clone()
        },
        &[18],
        &[0]
    ))));
    // Jitter/blur need images.
    assert!(inv(call(
        &ActivationMaxConfig {
            steps: 3,
            ..ActivationMaxConfig::default()
        },
        &[18],
        &[0]
    )));
    assert!(call(&ok, &[18], &[0]).is_ok());
    assert!(matches!(
        call(&ok, &[18], &[4]),
        Err(SalienceError::TargetOutOfRange { .. })
    ));
    assert!(matches!(
        call(&ok, &[18], &[]),
        Err(SalienceError::Empty(_))
    ));
    assert!(matches!(
        call(&ok, &[0, 18], &[0]),
        Err(SalienceError::ShapeMismatch { .. })
    ));
    let none: [salience_explain::WeightMapModel<Lin>; 0] = [];
    assert!(matches!(
        maximize_class(&none, &[18], &[0], &ok, Seeds::base(0)),
        Err(SalienceError::Empty(_))
    ));
    // A shape the model cannot take is a model error, not a panic.
    assert!(call(&ok, &[17], &[0]).is_err());
}
