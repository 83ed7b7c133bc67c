//! Pins of the dense linear algebra's outputs (issue 20.7): the linear
//! surrogates (full rank, rank deficient, fewer samples than features),
//! KernelSHAP's constrained regression and EigenCAM's principal projection,
//! recorded with the hand-written solvers before the switch to nalgebra.
//! Coefficients to 1e-6 relative (plus an absolute 1e-12 for values that
//! are zero); maps to 1e-6 of their largest magnitude (f32 maps, and a
//! map value can be zero). `SALIENCE_PRINT_PINS=1` prints the current
//! values.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use candle_core::Tensor;
use ndarray::{Array1, Array2, Array4};
use salience_core::{Explainer, FnModel, Seeds};
use salience_explain::cam::eigen_cam::principal_projection;
use salience_explain::{EigenCam, EigenCamConfig, SequentialClassifier};
use salience_perturb::{FeatureMask, KernelShap, KernelShapConfig, Surrogate};

/// Seeded uniform values in [−0.5, 0.5).
fn noise(len: usize, seed: u64) -> Vec<f64> {
    use rand::RngExt;
    let mut r = salience_core::seed::rng(seed);
    (0..len).map(|_| r.random_range(-0.5..0.5)).collect()
}

fn printing() -> bool {
    std::env::var_os("SALIENCE_PRINT_PINS").is_some()
}

/// |got − want| ≤ rel·|want| + abs for every entry.
fn check(name: &str, got: &[f64], want: &[f64], rel: f64, abs: f64) {
    if printing() {
        eprintln!("{name}: {got:?}");
        return;
    }
    assert_eq!(got.len(), want.len(), "{name}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= rel * w.abs() + abs,
            "{name}[{i}]: {g:e} vs pinned {w:e}"
        );
    }
}

/// A map to 1e-6 of its largest pinned magnitude.
fn check_map(name: &str, got: &[f64], want: &[f64]) {
    let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
    check(name, got, want, 0.0, 1e-6 * scale);
}

/// A LIME-like binary design `[n, m]` with a response `y` and weights.
fn binary_design(n: usize, m: usize, seed: u64) -> (Array2<f64>, Array1<f64>, Array1<f64>) {
    let u = noise(n * m, seed);
    let x = Array2::from_shape_fn((n, m), |(k, j)| if u[k * m + j] > 0.0 { 1.0 } else { 0.0 });
    let coef = noise(m, seed + 1);
    let e = noise(n, seed + 2);
    let y = Array1::from_shape_fn(n, |k| {
        (0..m).map(|j| coef[j] * x[[k, j]]).sum::<f64>() + 0.1 * e[k] + 0.3
    });
    let w = Array1::from_shape_fn(n, |k| 0.2 + (e[k] + 0.5));
    (x, y, w)
}

fn fit(s: Surrogate, x: &Array2<f64>, y: &Array1<f64>, w: &Array1<f64>) -> Vec<f64> {
    let f = s.fit(x.view(), y.view(), w.view()).unwrap();
    let mut v = f.coefficients;
    v.push(f.intercept);
    v
}

const OLS: Surrogate = Surrogate::LinearRegression;
const RIDGE: Surrogate = Surrogate::Ridge { lambda: 0.5 };

#[test]
fn full_rank_least_squares_and_ridge() {
    let (x, y, w) = binary_design(40, 6, 3);
    check(
        "ols_40x6",
        &fit(OLS, &x, &y, &w),
        &[
            0.23259446256033867,
            -0.4280448421299132,
            0.38419849346936846,
            0.2513539549484972,
            -0.3220623728534601,
            0.363725332415678,
            0.31835798884725774,
        ],
        1e-6,
        1e-12,
    );
    check(
        "ridge_40x6",
        &fit(RIDGE, &x, &y, &w),
        &[
            0.20237859471842892,
            -0.3749172387146769,
            0.33425910410387966,
            0.2302480970856864,
            -0.29895440820733316,
            0.3112131792359613,
            0.3663837266736729,
        ],
        1e-6,
        1e-12,
    );
}

#[test]
fn rank_deficient_least_squares_is_minimum_norm() {
    // Column 6 duplicates column 0, column 7 = column 1 + column 2.
    let (x0, y, w) = binary_design(30, 6, 7);
    let x = Array2::from_shape_fn((30, 8), |(k, j)| match j {
        6 => x0[[k, 0]],
        7 => x0[[k, 1]] + x0[[k, 2]],
        _ => x0[[k, j]],
    });
    check(
        "ols_rank6_30x8",
        &fit(OLS, &x, &y, &w),
        &[
            -0.21340682949190967,
            0.06391539134988229,
            0.13380729418793585,
            0.047688482613025385,
            0.04981201009981795,
            0.35524493226155024,
            -0.2134068294919097,
            0.19772268553781824,
            0.30411337523223114,
        ],
        1e-6,
        1e-12,
    );
    check(
        "ridge_rank6_30x8",
        &fit(RIDGE, &x, &y, &w),
        &[
            -0.20340085417525744,
            0.06522124521088715,
            0.12658589838532852,
            0.021017032455199716,
            0.04335579113803392,
            0.3111550197654642,
            -0.20340085417525797,
            0.1918071435962167,
            0.3423616598147677,
        ],
        1e-6,
        1e-12,
    );
}

#[test]
fn fewer_samples_than_features_dual_path() {
    let (x, y, w) = binary_design(10, 25, 11);
    check(
        "ols_10x25",
        &fit(OLS, &x, &y, &w),
        &[
            -0.34641655519787096,
            -0.19083512516626466,
            0.02765627883786316,
            -0.06928329795419218,
            -0.19590101544144414,
            0.09919176740293384,
            0.0019681567911759533,
            -0.04017552789167515,
            0.06148898575887544,
            -0.021862756634259874,
            -0.15105321176165887,
            0.2070371837931807,
            -0.10127089916348123,
            -0.05956553827831826,
            -0.11245072449525087,
            -0.25076164473111484,
            -0.1628045942329754,
            -0.06114736686398689,
            -0.1323453243383348,
            0.17562008739285284,
            0.036185824415137846,
            -0.08064866739197356,
            0.4172816817377317,
            -0.05373938287417753,
            -0.18256885671504453,
            0.16507508930228154,
        ],
        1e-6,
        1e-12,
    );
    check(
        "ridge_10x25",
        &fit(RIDGE, &x, &y, &w),
        &[
            -0.2991978282723059,
            -0.16699343604022343,
            0.01564699337347773,
            -0.044366922826846594,
            -0.15074184310622094,
            0.0663201735819227,
            0.008688494907294302,
            -0.037848737346940275,
            0.050391514134797505,
            -0.024483998810757628,
            -0.11681167040512104,
            0.19044319753509803,
            -0.10057327976989985,
            -0.04041265825788281,
            -0.10052222486045266,
            -0.20094914678790937,
            -0.14967443293507696,
            -0.042843423625163475,
            -0.11631772876391598,
            0.128688609662744,
            0.0048374642869987595,
            -0.07736318836971406,
            0.34599551646643306,
            -0.055125744473128006,
            -0.15391036357768823,
            0.10625284698388904,
        ],
        1e-6,
        1e-12,
    );
}

fn kernel_shap(n_samples: usize) -> Vec<f64> {
    // A nonlinear model of 12 inputs (interactions and a square).
    let m = FnModel::new(1, |x| {
        let x = x.into_dimensionality::<ndarray::Ix2>().unwrap();
        Ok(Array2::from_shape_fn((x.nrows(), 1), |(i, _)| {
            let r = x.row(i);
            r[0] * r[1] + 0.5 * r[2] * r[2] - r[3]
                + 0.25 * r[4] * r[5] * r[6]
                + r.iter().skip(7).sum::<f32>()
        }))
    });
    let x = Array2::from_shape_vec(
        (1, 12),
        noise(12, 17)
            .iter()
            .map(|v| (2.0 * v + 1.0) as f32)
            .collect(),
    )
    .unwrap()
    .into_dyn();
    let cfg = KernelShapConfig {
        n_samples,
        feature_mask: FeatureMask::PerElement,
        ..KernelShapConfig::default()
    };
    let a = KernelShap::with_config(m, cfg)
        .explain(x.view(), &[0], Seeds::base(5))
        .unwrap();
    a.view().iter().map(|&v| v as f64).collect()
}

#[test]
fn kernel_shap_constrained_regression() {
    // 60 coalitions (paired: a singular Gram) and 8 (< 11: the dual path).
    check(
        "kernel_shap_60",
        &kernel_shap(60),
        &[
            0.8952205181121826,
            0.971633791923523,
            0.6357965469360352,
            -1.2994493246078491,
            -0.0009823380969464779,
            -0.1353161484003067,
            0.07256390899419785,
            1.3895930051803589,
            0.6118204593658447,
            1.1380916833877563,
            1.3111001253128052,
            1.6054948568344116,
        ],
        1e-6,
        1e-7,
    );
    check(
        "kernel_shap_8",
        &kernel_shap(8),
        &[
            0.0,
            0.0,
            0.6297028064727783,
            -1.45644211769104,
            0.0,
            0.0,
            0.0,
            1.3083897829055786,
            0.929624617099762,
            0.929624617099762,
            0.0,
            4.8546671867370605,
        ],
        1e-6,
        1e-7,
    );
}

/// CNN-like non-negative activations `[k, hw]`.
fn activations(k: usize, hw: usize, seed: u64) -> Vec<f32> {
    noise(k * hw, seed)
        .iter()
        .enumerate()
        .map(|(i, v)| (v * 10.0 + (i % 7) as f64 * 0.4).max(0.0) as f32)
        .collect()
}

#[test]
fn eigen_cam_principal_projection() {
    // [k, k] Gram (hw > k) and [hw, hw] Gram (hw ≤ k), centred or not.
    for (name, k, hw, center, seed, want) in [
        (
            "proj_16x49_centred",
            16usize,
            49usize,
            true,
            1u64,
            PROJ_16X49_CENTRED,
        ),
        ("proj_16x49_raw", 16, 49, false, 2, PROJ_16X49_RAW),
        ("proj_64x16_centred", 64, 16, true, 3, PROJ_64X16_CENTRED),
        ("proj_64x16_raw", 64, 16, false, 4, PROJ_64X16_RAW),
    ] {
        let p = principal_projection(&activations(k, hw, seed), k, hw, center);
        check_map(name, &p, want);
    }
}

#[test]
fn eigen_cam_explainer_maps() {
    // The batched device path: identity layer, 2 inputs of 8 × 7 × 7
    // (Gram [8, 8]) and of 32 × 3 × 3 (Gram [9, 9]).
    for (name, k, h, seed, want) in [
        ("eigen_cam_8x7x7", 8usize, 7usize, 5u64, EIGEN_CAM_8X7X7),
        ("eigen_cam_32x3x3", 32, 3, 6, EIGEN_CAM_32X3X3),
    ] {
        let m = SequentialClassifier::new(1)
            .push("features", |x: &Tensor| Ok(x.clone()))
            .push("head", |a: &Tensor| a.flatten_from(1)?.sum_keepdim(1));
        let acts = activations(2 * k, h * h, seed);
        let x = Array4::from_shape_vec((2, k, h, h), acts)
            .unwrap()
            .into_dyn();
        let a = EigenCam::with_config(&m, EigenCamConfig::new("features"))
            .explain(x.view(), &[0, 0], Seeds::base(0))
            .unwrap();
        let got: Vec<f64> = a.view().iter().map(|&v| v as f64).collect();
        check_map(name, &got, want);
    }
}

const PROJ_16X49_CENTRED: &[f64] = &[
    -5.476910778090152,
    2.6282960503758215,
    -3.5135784409695976,
    -5.9111558266409805,
    3.6349056652730143,
    7.907363947905911,
    10.80461224059305,
    -2.8320676759520054,
    -2.926908794966884,
    -1.1261982086577897,
    -1.4688565042939694,
    -1.5029402623186778,
    2.466446218769219,
    0.10161785787163123,
    -3.2164438159994693,
    -5.05368146118402,
    -1.3845870829996476,
    -0.9720003728517712,
    -1.069711869726127,
    1.044909833097004,
    0.37473186967620953,
    -4.8115659805035955,
    -2.458457311807069,
    2.203377637401873,
    -1.0026985803623294,
    -0.27796020661152676,
    4.11889801996967,
    5.580057368854589,
    -4.562126901144962,
    -0.6874237911113843,
    3.310576641413678,
    5.6898695888426385,
    2.127208281388387,
    0.6167924324414794,
    4.521025698083851,
    -1.4730773655351383,
    -2.502296009747608,
    1.631906262991281,
    -4.554020795173037,
    1.1058566560504917,
    6.856786181838819,
    0.5970530061261881,
    -2.830021401640049,
    -5.40802126402896,
    -2.249798754173583,
    -0.9831817497452047,
    0.4966065207594667,
    -2.145211767509743,
    4.582004994021001,
];

const PROJ_16X49_RAW: &[f64] = &[
    3.88567082924194,
    1.8865983876398413,
    7.918526056948732,
    11.305722261938662,
    8.218493147673396,
    11.127509928469404,
    13.713872896811393,
    5.621597736744686,
    8.381087186139318,
    4.290643413969153,
    6.992366928807246,
    12.31356566792813,
    8.835494636559131,
    7.350160252365624,
    5.648016363080301,
    4.605686315175439,
    5.090981732702127,
    8.616755523522334,
    6.369234949675182,
    9.45126652174536,
    8.28916462026135,
    3.8227170367853933,
    3.2928993216412885,
    7.0483548502943645,
    9.298278606997874,
    8.128817936348858,
    9.82824054162127,
    7.8797267849631965,
    4.75858516102802,
    3.2119610172860646,
    4.562014416096861,
    6.761555055468679,
    6.739378378488068,
    10.202176354028959,
    11.624543551632941,
    3.2225928443495557,
    5.978069249819887,
    4.948604188025476,
    9.821410487897094,
    6.643109099871638,
    11.621406027811732,
    13.041702941810962,
    7.8766845591141825,
    7.189532111423289,
    9.723977541685393,
    8.152265268457493,
    6.606930276926889,
    9.708473137151309,
    8.462118538633232,
];

const PROJ_64X16_CENTRED: &[f64] = &[
    -7.084128223674175,
    1.2271690866732514,
    5.743067102758161,
    8.149833199091315,
    1.9114561240523464,
    -1.2156344200014195,
    -2.342619074467905,
    -4.445778187142805,
    -7.056633293197521,
    2.985254907516784,
    12.110457848833336,
    7.032538786295748,
    -4.868619062095235,
    -2.398762642388839,
    -7.295027581278839,
    -2.4525745709741993,
];

const PROJ_64X16_RAW: &[f64] = &[
    18.560072225811826,
    15.949319673586832,
    16.062910555071824,
    15.452168932058013,
    21.486501579272325,
    16.562090726835336,
    16.55635348628179,
    17.029457062613833,
    16.26766946038611,
    16.963634192531565,
    17.288195281741192,
    15.414671611390885,
    18.005335802339307,
    15.142143960269212,
    19.480205362210064,
    15.594025231105364,
];

const EIGEN_CAM_8X7X7: &[f64] = &[
    0.0,
    0.0,
    0.0,
    1.1302725076675415,
    1.2715728282928467,
    0.0,
    7.496282577514648,
    0.0,
    0.0,
    0.0,
    0.0,
    2.3950862884521484,
    0.0,
    5.026558876037598,
    1.2095452547073364,
    0.0,
    0.8028736710548401,
    0.0,
    0.0,
    0.0,
    5.910772800445557,
    0.0,
    0.22202646732330322,
    4.102870464324951,
    0.0,
    0.0,
    0.0,
    2.5011870861053467,
    1.6371351480484009,
    0.0,
    0.0,
    0.0,
    1.8571281433105469,
    3.841230630874634,
    6.688555717468262,
    0.4066949188709259,
    0.09213024377822876,
    0.0,
    0.0,
    2.7476484775543213,
    0.0,
    2.500934600830078,
    0.0,
    0.0,
    0.0,
    0.0,
    2.929035186767578,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0393398217856884,
    5.418266773223877,
    0.0,
    6.056407928466797,
    0.0,
    0.0,
    0.0,
    0.5107274055480957,
    2.332165002822876,
    5.005317687988281,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    5.49042272567749,
    2.118847608566284,
    0.7122893333435059,
    0.0,
    3.064469337463379,
    0.0,
    0.0,
    5.448856353759766,
    0.0,
    1.3314214944839478,
    0.0,
    0.0,
    0.0,
    0.0,
    6.7815165519714355,
    4.62546443939209,
    0.0,
    0.0,
    0.0,
    0.19958969950675964,
    0.0,
    0.0,
    2.7505548000335693,
    0.0,
    0.501865029335022,
    0.5585443377494812,
    0.0,
    0.0,
    2.3182671070098877,
    8.324689865112305,
];

const EIGEN_CAM_32X3X3: &[f64] = &[
    0.5571723580360413,
    0.0,
    0.0,
    5.862838268280029,
    8.884218215942383,
    0.0,
    0.0,
    0.0,
    4.614745140075684,
    7.099710464477539,
    0.0,
    4.557231426239014,
    0.0,
    6.545055389404297,
    3.5357892513275146,
    0.0,
    0.0,
    0.0,
];
