//! What is computed for every image: the base methods, and every
//! (normalization, aggregator, subset of methods) combination that a table
//! or figure of the report needs. The catalogue depends on nothing but the
//! constants here, so the shards and the merge step rebuild the same one.

use salience::aggregate::Aggregation;
use salience::Normalization;

/// The base attributions of the ensemble, in the paper's order (§4, App. A).
pub const METHODS: [&str; 7] = [
    "SmoothGrad",
    "Integrated Gradients (blur)",
    "Expected Gradients",
    "Grad-CAM",
    "PolyCAM",
    "iGOS++",
    "RISE",
];

/// All methods, as a subset bit mask.
pub const ALL: u32 = (1 << METHODS.len()) - 1;

/// The record key of base method `m`.
pub fn method_key(m: usize) -> String {
    format!("method|{m}")
}

/// One aggregate: the maps normalized with `norm`, the methods of the bit
/// mask `subset`, aggregated by `agg`.
#[derive(Debug, Clone)]
pub struct Variant {
    /// Record key (unique).
    pub key: String,
    /// Map normalization before aggregation.
    pub norm: Normalization,
    /// The aggregator.
    pub agg: Aggregation,
    /// Bit mask over [`METHODS`].
    pub subset: u32,
}

/// Whether `key` is the key of a base method outside the mask `all` (a
/// method that does not apply to the model).
pub fn missing_method(key: &str, all: u32) -> bool {
    (0..METHODS.len()).any(|m| all >> m & 1 == 0 && key == method_key(m))
}

/// The key of an aggregate.
pub fn key(norm: Normalization, spec: &str, subset: u32) -> String {
    format!("{}|{spec}|{subset:02x}", norm.name())
}

/// Table 1: every aggregator with the paper's tuned parameters, with the
/// labels of the paper's table.
pub const TABLE1: [(&str, &str); 10] = [
    ("Average", "mean"),
    ("RBM (α = 10⁻⁴, k = 100)", "rbm:lr=1e-4,iters=100"),
    ("VAR (ε = 10⁻⁷)", "var:eps=1e-7"),
    ("UCB (ε = −0.5)", "ucb:eps=-0.5"),
    ("Percentile (k = 25)", "percentile:q=25"),
    ("PI (ε = −4)", "pi:eps=-4"),
    ("EI (ε = −6)", "ei:eps=-6"),
    ("CI", "ci"),
    ("API ([a, b] = [−7, 2])", "api:a=-7,b=2,n=10"),
    ("AEI ([a, b] = [−10, 5])", "aei:a=-10,b=5,n=10"),
];

/// §4.3: the normalizations compared (the paper's four and none).
pub const NORMS: [Normalization; 5] = [
    Normalization::None,
    Normalization::MinMax,
    Normalization::ZScore,
    Normalization::L1,
    Normalization::L2,
];

/// Display name of a normalization.
pub fn norm_label(n: Normalization) -> &'static str {
    match n {
        Normalization::None => "none",
        Normalization::MinMax => "linear (min-max)",
        Normalization::ZScore => "z-score",
        Normalization::L1 => "l1",
        Normalization::L2 => "l2",
        Normalization::AbsMax => "abs-max",
    }
}

/// §4.3: the aggregators compared across normalizations (the paper: the
/// average only; we add the best few of Table 1 whose parameters do not
/// depend on the scale of z-scored maps more than the mean's does).
pub const NORM_AGGS: [(&str, &str); 5] = [
    ("Average", "mean"),
    ("UCB (ε = −0.5)", "ucb:eps=-0.5"),
    ("Percentile (k = 25)", "percentile:q=25"),
    ("VAR (ε = 10⁻⁷)", "var:eps=1e-7"),
    ("RBM (α = 10⁻⁴, k = 100)", "rbm:lr=1e-4,iters=100"),
];

/// One hyperparameter sweep (Figures 5–9): z-scored maps, all methods.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// File stem of the PNG (`mahlau2022_<stem>.png`).
    pub stem: &'static str,
    /// The paper's figure.
    pub figure: &'static str,
    /// Aggregator name.
    pub name: &'static str,
    /// Parameter name for the x axis.
    pub param: &'static str,
    /// Logarithmic x axis.
    pub log_x: bool,
    /// (parameter value, aggregator spec).
    pub points: Vec<(f64, String)>,
}

/// The sweeps of §4.2 (Figures 5–9).
pub fn sweeps() -> Vec<Sweep> {
    let percentile = (0..=10)
        .map(|i| {
            let q = f64::from(i) * 10.0;
            (q, format!("percentile:q={q}"))
        })
        .collect();
    let ucb = (-8..=8)
        .map(|i| {
            let e = f64::from(i) * 0.25;
            (e, format!("ucb:eps={e}"))
        })
        .collect();
    let pi = (-10..=2)
        .map(|i| {
            let e = f64::from(i);
            (e, format!("pi:eps={e}"))
        })
        .collect();
    let ei = (-10..=2)
        .map(|i| {
            let e = f64::from(i);
            (e, format!("ei:eps={e}"))
        })
        .collect();
    let var = (-10..=2)
        .map(|i| {
            let e = 10f64.powi(i);
            (e, format!("var:eps=1e{i}"))
        })
        .collect();
    vec![
        Sweep {
            stem: "fig5_percentile",
            figure: "Figure 5",
            name: "Percentile",
            param: "percentage k",
            log_x: false,
            points: percentile,
        },
        Sweep {
            stem: "fig6_ucb",
            figure: "Figure 6",
            name: "UCB",
            param: "exploration rate eps",
            log_x: false,
            points: ucb,
        },
        Sweep {
            stem: "fig7_pi",
            figure: "Figure 7",
            name: "PI",
            param: "exploration rate eps",
            log_x: false,
            points: pi,
        },
        Sweep {
            stem: "fig8_ei",
            figure: "Figure 8",
            name: "EI",
            param: "exploration rate eps",
            log_x: false,
            points: ei,
        },
        Sweep {
            stem: "fig9_var",
            figure: "Figure 9",
            name: "VAR",
            param: "eps (log scale)",
            log_x: true,
            points: var,
        },
    ]
}

/// §4.4: the aggregators of the ensemble-size ablation.
pub const SIZE_AGGS: [(&str, &str); 2] = [("Average", "mean"), ("UCB (ε = −0.5)", "ucb:eps=-0.5")];

/// Every subset of at least two of the methods in `all` (bit masks,
/// ascending).
pub fn subsets(all: u32) -> Vec<u32> {
    (1..=all)
        .filter(|s| s & !all == 0 && s.count_ones() >= 2)
        .collect()
}

/// The catalogue over the methods of the mask `all` (those that apply to
/// the model; [`ALL`] on the CNN): every aggregate of every table and
/// figure, each once.
pub fn variants(all: u32) -> salience::core::Result<Vec<Variant>> {
    let mut specs: Vec<(Normalization, String, u32)> = Vec::new();
    for (_, s) in TABLE1 {
        specs.push((Normalization::ZScore, s.to_string(), all));
    }
    for n in NORMS {
        for (_, s) in NORM_AGGS {
            specs.push((n, s.to_string(), all));
        }
    }
    for sweep in sweeps() {
        for (_, s) in sweep.points {
            specs.push((Normalization::ZScore, s, all));
        }
    }
    for (_, s) in SIZE_AGGS {
        for subset in subsets(all) {
            specs.push((Normalization::ZScore, s.to_string(), subset));
        }
    }
    let mut out: Vec<Variant> = Vec::new();
    for (norm, spec, subset) in specs {
        let k = key(norm, &spec, subset);
        if out.iter().any(|v| v.key == k) {
            continue;
        }
        out.push(Variant {
            key: k,
            norm,
            agg: spec.parse()?,
            subset,
        });
    }
    Ok(out)
}

/// The keys whose whole curves are recorded (Figures 4 and 10): the base
/// methods of `all`, and the average under every normalization.
pub fn curve_keys(all: u32) -> Vec<String> {
    let mut keys: Vec<String> = (0..METHODS.len())
        .filter(|m| all >> m & 1 == 1)
        .map(method_key)
        .collect();
    keys.extend(NORMS.iter().map(|&n| key(n, "mean", all)));
    keys
}
