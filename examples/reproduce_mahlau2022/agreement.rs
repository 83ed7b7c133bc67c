//! "Agreement with the paper": each claim of Mahlau & Nolde (2022) checked
//! against this run's numbers. The verdicts are computed, not written by
//! hand, so they follow the data of whatever run produced the file.

use crate::catalogue::{self, METHODS};
use crate::common::fmt_p;
use crate::report::{ablation, fmt_param, Col, Data};
use salience::metrics::{wilcoxon_signed_rank, Summary, WilcoxonConfig};
use salience::Normalization;
use std::fmt::Write as _;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Significance level of the paired tests.
const ALPHA: f64 = 0.05;

fn z(spec: &str) -> String {
    catalogue::key(Normalization::ZScore, spec, catalogue::ALL)
}

fn mean(data: &Data, key: &str, col: Col) -> Result<f64> {
    Ok(Summary::of(&data.column(key, col)?).mean)
}

/// How much better `a` is than `b` on `col` (positive = better; for
/// deletion, lower is better), on the same images, with the Wilcoxon p.
struct Better {
    delta: f64,
    p: f64,
}

fn better(data: &Data, a: &str, b: &str, col: Col) -> Result<Better> {
    let (x, y) = (data.column(a, col)?, data.column(b, col)?);
    let sign = if col == Col::Del { -1.0 } else { 1.0 };
    let delta = sign * (Summary::of(&x).mean - Summary::of(&y).mean);
    let p = wilcoxon_signed_rank(&x, &y, &WilcoxonConfig::default()).map_or(1.0, |r| r.p_value);
    Ok(Better { delta, p })
}

/// The verdict on "a is better than b" (`expect_better`) or "a is not
/// better / worse" (`!expect_better`).
fn verdict(b: &Better, expect_better: bool) -> &'static str {
    let significant = b.p < ALPHA;
    let is_better = b.delta > 0.0;
    match (is_better == expect_better, significant) {
        (true, true) => "agrees (significant)",
        (true, false) => "same direction, not significant",
        (false, false) => "opposite direction, not significant",
        (false, true) => "disagrees (significant)",
    }
}

fn fmt_better(b: &Better, what: &str) -> String {
    format!(
        "{what}: Δ = {:+.4} in favour of the first, p = {}",
        b.delta,
        fmt_p(b.p)
    )
}

/// Rank (1 = best) of `key` among `keys` by the mean of `col`.
fn rank(data: &Data, key: &str, keys: &[String], col: Col) -> Result<usize> {
    let m = mean(data, key, col)?;
    let mut r = 1;
    for k in keys {
        let v = mean(data, k, col)?;
        let beats = if col == Col::Del { v < m } else { v > m };
        if beats {
            r += 1;
        }
    }
    Ok(r)
}

fn best_method(data: &Data, col: Col) -> Result<(usize, f64)> {
    let mut best: Option<(usize, f64)> = None;
    for m in 0..METHODS.len() {
        let v = mean(data, &catalogue::method_key(m), col)?;
        let is_better = match best {
            None => true,
            Some((_, b)) => {
                if col == Col::Del {
                    v < b
                } else {
                    v > b
                }
            }
        };
        if is_better {
            best = Some((m, v));
        }
    }
    best.ok_or_else(|| "no methods".into())
}

/// The sweep's (parameter, mean) pairs for `col`.
fn sweep_means(data: &Data, stem: &str, col: Col) -> Result<Vec<(f64, f64)>> {
    let sweep = catalogue::sweeps()
        .into_iter()
        .find(|s| s.stem == stem)
        .ok_or("unknown sweep")?;
    sweep
        .points
        .iter()
        .map(|(x, spec)| Ok((*x, mean(data, &z(spec), col)?)))
        .collect()
}

fn argbest(points: &[(f64, f64)], col: Col) -> (f64, f64) {
    let mut best = (f64::NAN, f64::NAN);
    for &(x, v) in points {
        let is_better = best.1.is_nan()
            || if col == Col::Del {
                v < best.1
            } else {
                v > best.1
            };
        if is_better {
            best = (x, v);
        }
    }
    best
}

/// The Markdown section.
pub fn section(data: &Data) -> Result<String> {
    let n = data.samples.len();
    let avg = z("mean");
    let aggs: Vec<String> = catalogue::TABLE1.iter().map(|(_, s)| z(s)).collect();
    let mut rows: Vec<(String, String, String)> = Vec::new();
    let mut push = |claim: &str, ours: String, v: &str| rows.push((claim.into(), ours, v.into()));

    // §4.1 / Figure 4.
    let (bi, bi_v) = best_method(data, Col::Ins)?;
    let b = better(data, &avg, &catalogue::method_key(bi), Col::Ins)?;
    push(
        "§4.1, Fig. 4: the Average has a better insertion score than every base attribution",
        format!(
            "Average {:.4} vs best base method {} {:.4}; {}",
            mean(data, &avg, Col::Ins)?,
            METHODS[bi],
            bi_v,
            fmt_better(&b, "Average − best")
        ),
        verdict(&b, true),
    );
    let (bd, bd_v) = best_method(data, Col::Del)?;
    let method_keys: Vec<String> = (0..METHODS.len()).map(catalogue::method_key).collect();
    let r = rank(data, &avg, &method_keys, Col::Del)?;
    let b = better(data, &avg, &catalogue::method_key(bd), Col::Del)?;
    push(
        "§4.1: the Average's deletion is not better than every base attribution, but close to the best (here: within 25 % of the best base AUC)",
        format!(
            "Average {:.4}, rank {r} of 8 among the base methods and the Average; best base {} {:.4}; {}",
            mean(data, &avg, Col::Del)?,
            METHODS[bd],
            bd_v,
            fmt_better(&b, "Average − best")
        ),
        if r > 1 && b.delta.abs() < 0.25 * bd_v.abs().max(1e-12) {
            "agrees"
        } else if r == 1 {
            "disagrees (the Average is best)"
        } else {
            "disagrees (not close)"
        },
    );

    // Table 1.
    for (label, spec, col, expect, claim) in [
        ("UCB (ε = −0.5)", "ucb:eps=-0.5", Col::Ins, true, "Table 1: UCB (ε = −0.5) beats the Average on insertion (best aggregator on both datasets)"),
        ("UCB (ε = −0.5)", "ucb:eps=-0.5", Col::Del, true, "Table 1: UCB beats the Average on deletion (GTSRB; ImageNet: close)"),
        ("Percentile (k = 25)", "percentile:q=25", Col::Del, true, "Table 1: the lower quartile beats the Average on deletion (ImageNet; tiny margin)"),
        ("PI (ε = −4)", "pi:eps=-4", Col::Ins, false, "Table 1: PI is worse than the Average (insertion)"),
        ("PI (ε = −4)", "pi:eps=-4", Col::Del, false, "Table 1: PI is worse than the Average (deletion)"),
        ("EI (ε = −6)", "ei:eps=-6", Col::Ins, false, "Table 1: EI is nearly as good as the Average but a little worse (insertion)"),
        ("API", "api:a=-7,b=2,n=10", Col::Ins, false, "Table 1: API is a little worse than the Average (insertion)"),
        ("AEI", "aei:a=-10,b=5,n=10", Col::Ins, false, "Table 1: AEI is a little worse than the Average (insertion)"),
        ("RBM", "rbm:lr=1e-4,iters=100", Col::Ins, true, "Table 1: RBM beats the Average on insertion (ImageNet only; much worse on GTSRB)"),
    ] {
        let b = better(data, &z(spec), &avg, col)?;
        let what = if col == Col::Del { "deletion" } else { "insertion" };
        push(
            claim,
            format!("{label} vs Average, {}", fmt_better(&b, what)),
            verdict(&b, expect),
        );
    }
    let b_var = better(data, &z("var:eps=1e-7"), &avg, Col::Ins)?;
    push(
        "Table 1: VAR (ε = 10⁻⁷) is within ~0.001 of the Average",
        fmt_better(&b_var, "VAR − Average, insertion"),
        if b_var.delta.abs() < 1e-3 {
            "agrees"
        } else {
            "disagrees"
        },
    );
    for col in [Col::Ins, Col::Del] {
        let r = rank(data, &z("ci"), &aggs, col)?;
        push(
            if col == Col::Ins {
                "Table 1: CI is the worst aggregator (insertion)"
            } else {
                "Table 1: CI is the worst aggregator (deletion)"
            },
            format!("CI ranks {r} of {} aggregators", aggs.len()),
            if r == aggs.len() {
                "agrees"
            } else {
                "disagrees"
            },
        );
    }
    let mut beat = Vec::new();
    for ((label, spec), key) in catalogue::TABLE1.iter().zip(&aggs).skip(1) {
        let bi = better(data, key, &avg, Col::Ins)?;
        let bd = better(data, key, &avg, Col::Del)?;
        if (bi.delta > 0.0 && bi.p < ALPHA) || (bd.delta > 0.0 && bd.p < ALPHA) {
            beat.push(format!("{label} (`{spec}`)"));
        }
    }
    push(
        "§4.1: the simple Average is hard to beat; few aggregators score higher in any metric",
        if beat.is_empty() {
            "no aggregator is significantly better than the Average in either metric".into()
        } else {
            format!(
                "significantly better than the Average in at least one metric: {}",
                beat.join(", ")
            )
        },
        if beat.len() <= 2 {
            "agrees"
        } else {
            "disagrees"
        },
    );

    // §4.2 sweeps.
    let p_ins = sweep_means(data, "fig5_percentile", Col::Ins)?;
    let p_del = sweep_means(data, "fig5_percentile", Col::Del)?;
    let (qi, qi_v) = argbest(&p_ins, Col::Ins);
    let (qd, _) = argbest(&p_del, Col::Del);
    let avg_ins = mean(data, &avg, Col::Ins)?;
    let q_best = better(data, &z(&format!("percentile:q={qi}")), &avg, Col::Ins)?;
    let near = (qi - 40.0).abs() <= 10.0 && (qd - 10.0).abs() <= 10.0;
    push(
        "§4.2.1, Fig. 5: percentile — best insertion at k = 40, best deletion at k = 10; never beats the Average on insertion",
        format!(
            "best insertion at k = {qi} ({qi_v:.4} vs Average {avg_ins:.4}, p = {}), best deletion at k = {qd}",
            fmt_p(q_best.p)
        ),
        match (q_best.delta > 0.0 && q_best.p < ALPHA, near) {
            (true, _) => "disagrees (a percentile significantly beats the Average)",
            (false, true) => "agrees",
            (false, false) => "partly (never significantly above the Average, but the optima lie elsewhere)",
        },
    );
    let u_ins = sweep_means(data, "fig6_ucb", Col::Ins)?;
    let u_del = sweep_means(data, "fig6_ucb", Col::Del)?;
    let (ei_, ei_v) = argbest(&u_ins, Col::Ins);
    let (ed, _) = argbest(&u_del, Col::Del);
    let span = |v: &[(f64, f64)]| {
        let (lo, hi) = v
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), p| {
                (l.min(p.1), h.max(p.1))
            });
        hi - lo
    };
    push(
        "§4.2.2, Fig. 6: UCB — best insertion at a negative ε (−0.6), beating the Average; deletion barely depends on ε (best at −1.5)",
        format!(
            "best insertion at ε = {ei_} ({ei_v:.4} vs Average {avg_ins:.4}); best deletion at ε = {ed}; range over ε: insertion {:.4}, deletion {:.4}",
            span(&u_ins),
            span(&u_del)
        ),
        match (ei_ < 0.0, ei_v > avg_ins) {
            (true, true) => "agrees",
            (true, false) => "partly (negative ε best, but not above the Average)",
            _ if ei_ == 0.0 => "disagrees (ε = 0, i.e. the Average, is best; negative ε lowers insertion)",
            _ => "disagrees (best ε > 0)",
        },
    );
    let pi_ins = sweep_means(data, "fig7_pi", Col::Ins)?;
    let (pe, pv) = argbest(&pi_ins, Col::Ins);
    push(
        "§4.2.3, Fig. 7: PI is worse than the best base method and the Average over the whole ε range",
        format!(
            "best PI insertion {pv:.4} at ε = {pe}; Average {avg_ins:.4}; best base method {:.4}",
            bi_v
        ),
        if pv < avg_ins && pv < bi_v { "agrees" } else { "disagrees" },
    );
    let ei_ins = sweep_means(data, "fig8_ei", Col::Ins)?;
    let first = ei_ins.first().copied().unwrap_or((f64::NAN, f64::NAN));
    let last = ei_ins.last().copied().unwrap_or((f64::NAN, f64::NAN));
    push(
        "§4.2.4, Fig. 8: EI converges to the Average for very negative ε and only gets worse for larger ε",
        format!(
            "EI insertion {:.4} at ε = {} (Average {avg_ins:.4}), {:.4} at ε = {}",
            first.1, first.0, last.1, last.0
        ),
        if (first.1 - avg_ins).abs() < 0.01 && last.1 <= first.1 {
            "agrees"
        } else {
            "disagrees"
        },
    );
    let v_ins = sweep_means(data, "fig9_var", Col::Ins)?;
    let v_del = sweep_means(data, "fig9_var", Col::Del)?;
    let (vi, _) = argbest(&v_ins, Col::Ins);
    let small = v_ins
        .iter()
        .filter(|p| p.0 <= 1e-2)
        .fold(0.0f64, |m, p| m.max((p.1 - avg_ins).abs()));
    push(
        "§4.2.5, Fig. 9: VAR ≈ Average for small ε (10⁻¹⁰ … 10⁻²); deletion improves with larger ε",
        format!(
            "max |VAR − Average| insertion over ε ≤ 10⁻²: {small:.2e}; best insertion at ε = {}; deletion {:.4} at ε = {} → {:.4} at ε = {}",
            fmt_param(vi, true),
            v_del.first().map_or(f64::NAN, |p| p.1),
            v_del.first().map_or("?".into(), |p| fmt_param(p.0, true)),
            v_del.last().map_or(f64::NAN, |p| p.1),
            v_del.last().map_or("?".into(), |p| fmt_param(p.0, true)),
        ),
        if small < 1e-3 {
            "agrees (small ε); the ε dependence only appears above the paper's range"
        } else {
            "disagrees"
        },
    );

    // §4.3
    let norm_key = |nm: Normalization| catalogue::key(nm, "mean", catalogue::ALL);
    let norms = catalogue::NORMS;
    let by = |col: Col| -> Result<Normalization> {
        let mut best: Option<(Normalization, f64)> = None;
        for &nm in &norms {
            let v = mean(data, &norm_key(nm), col)?;
            let is_better = match best {
                None => true,
                Some((_, b)) => {
                    if col == Col::Del {
                        v < b
                    } else {
                        v > b
                    }
                }
            };
            if is_better {
                best = Some((nm, v));
            }
        }
        best.map(|b| b.0).ok_or_else(|| "no normalizations".into())
    };
    let (ni, nd, nb) = (by(Col::Ins)?, by(Col::Del)?, by(Col::Diff)?);
    push(
        "§4.3, Fig. 10: (Average) linear normalization has the best insertion, l1 / l2 the best deletion, z-score the best balance",
        format!(
            "best insertion: {}; best deletion: {}; best insertion − deletion: {}",
            catalogue::norm_label(ni),
            catalogue::norm_label(nd),
            catalogue::norm_label(nb)
        ),
        match (ni == Normalization::MinMax, matches!(nd, Normalization::L1 | Normalization::L2), nb == Normalization::ZScore) {
            (true, true, true) => "agrees",
            (false, false, false) => "disagrees",
            _ => "partly",
        },
    );
    let none = better(
        data,
        &norm_key(Normalization::ZScore),
        &norm_key(Normalization::None),
        Col::Diff,
    )?;
    push(
        "§3.1, §4.3: normalizing is necessary (z-scored Average better than the unnormalized one)",
        fmt_better(&none, "z-score − none, insertion − deletion"),
        verdict(&none, true),
    );

    // §4.4
    for (col, name) in [(Col::Ins, "insertion"), (Col::Del, "deletion")] {
        let a = ablation(data, "mean", col)?;
        let u = ablation(data, "ucb:eps=-0.5", col)?;
        let pick = |s: &[Summary]| {
            let pts: Vec<(f64, f64)> = s
                .iter()
                .enumerate()
                .skip(1)
                .map(|(i, v)| ((i + 1) as f64, v.mean))
                .collect();
            argbest(&pts, col).0
        };
        let gap = |k: usize| -> f64 {
            let sign = if col == Col::Del { -1.0 } else { 1.0 };
            match (u.top.get(k - 1), a.top.get(k - 1)) {
                (Some(x), Some(y)) => sign * (x.mean - y.mean),
                _ => f64::NAN,
            }
        };
        let rnd = |k: usize| a.random.get(k - 1).map_or(f64::NAN, |s| s.mean);
        let k_best = pick(&a.top);
        let grows = gap(7) > gap(2);
        push(
            if col == Col::Ins {
                "§4.4, Fig. 11: (top-k, insertion) weaker methods hurt: the best ensemble has fewer than 7 methods; UCB's advantage over the Average grows with k"
            } else {
                "§4.4, Fig. 11: (top-k, deletion) best with two methods; UCB's advantage over the Average grows with k"
            },
            format!(
                "Average top-k best at k = {k_best}; UCB − Average ({name}, + = UCB better): {:+.4} at k = 2, {:+.4} at k = 7; all-subsets Average: {:.4} at k = 2 → {:.4} at k = 7",
                gap(2),
                gap(7),
                rnd(2),
                rnd(7)
            ),
            match (k_best < 7.0, grows) {
                (true, true) => "agrees",
                (false, false) => "disagrees",
                _ => "partly",
            },
        );
    }

    let mut md = String::from("\n## Agreement with the paper\n\n");
    let _ = writeln!(
        md,
        "Each claim of the paper (ResNet18 on ImageNet / GTSRB, 2000 images) against this run ({n} Fashion-MNIST \
         images, small CNN). Verdicts are computed from the numbers above: paired two-sided Wilcoxon tests at \
         α = {ALPHA} where two methods are compared on the same images (\"same direction, not significant\" means \
         the difference has the paper's sign but could be noise at this n).\n"
    );
    md.push_str("| claim (paper) | this run | verdict |\n|---|---|---|\n");
    for (c, o, v) in rows {
        let _ = writeln!(md, "| {c} | {o} | {v} |");
    }
    md.push_str(
        "\n**Why results can differ (not comparable one to one).** The model is a 2-conv-layer CNN on 28 × 28 \
         grey images (784 pixels, 10 classes), not a ResNet18 on 224 × 224 colour images: Grad-CAM / PolyCAM maps \
         come from 14 × 14 and 28 × 28 layers, the iGOS++ mask has 7 × 7 cells, and every insertion / deletion step \
         moves 3.6 % of the pixels (the paper: 0.1 %). Fashion-MNIST objects fill much of the image on a black \
         background, so a random-normal baseline (per-image mean and standard deviation) is far from the data, and \
         the softmax of a small CNN saturates differently from an ImageNet ResNet's. The explainers' budgets are \
         reduced (table above) and n is small, so differences of the size reported in the paper's Table 1 \
         (≈ 0.001–0.01 AUC) are often within noise here. Hyperparameters were not tuned on this data: the \
         paper's ImageNet-tuned values are used throughout, as the paper did for GTSRB. Expected Gradients, \
         the base method that beats the Average here (Fig. 4 claim), integrates from random-normal baselines — \
         the same kind of image the insertion / deletion curves start from (insertion) or end at (deletion); \
         its attributions are therefore tuned to exactly the perturbation these metrics apply, which likely \
         favours it on this data (a guess, not tested here: scoring with a blurred or black baseline would \
         tell).\n",
    );
    Ok(md)
}
