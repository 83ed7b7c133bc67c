//! Times ROAD's noisy linear imputation at 224×224×3 on the bench's
//! smooth two-blob map removed most-relevant-first (and 50 % scattered),
//! wall and CPU time, minimum and median of `runs` runs.
//!
//! `cargo run --release -p salience-metrics --example road_imputation_timing -- [runs]`

use ndarray::{Array2, Array3};
use salience_metrics::{noisy_linear_imputation, ImputationConfig};
use std::time::Instant;

fn cpu_secs() -> f64 {
    // utime + stime of this process from /proc/self/stat (Linux), in ticks of 1/100 s.
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
            let ut: f64 = rest.get(11)?.parse().ok()?;
            let st: f64 = rest.get(12)?.parse().ok()?;
            Some((ut + st) / 100.0)
        })
        .unwrap_or(f64::NAN)
}

fn main() -> Result<(), salience_core::SalienceError> {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let n = 224;
    let img = Array3::from_shape_fn((3, n, n), |(ch, y, x)| {
        ((y as f32 * 0.05 + ch as f32).sin() + (x as f32 * 0.03).cos()) * 0.5
            + 0.1 * ((y * 7 + x * 13 + ch) % 11) as f32 / 11.0
    });
    let map: Vec<f32> = (0..n * n)
        .map(|i| {
            let (y, x) = ((i / n) as f32, (i % n) as f32);
            (-((y - 80.0).powi(2) + (x - 90.0).powi(2)) / 2000.0).exp()
                + 0.7 * (-((y - 160.0).powi(2) + (x - 150.0).powi(2)) / 1500.0).exp()
        })
        .collect();
    let mut order: Vec<usize> = (0..map.len()).collect();
    order.sort_by(|&a, &b| map[b].total_cmp(&map[a]));
    let mut cases = Vec::new();
    for pct in [10usize, 50, 90] {
        let mut mask = Array2::from_elem((n, n), false);
        for &p in &order[..pct * n * n / 100] {
            mask[[p / n, p % n]] = true;
        }
        cases.push((format!("morf_{pct}pct"), mask));
    }
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let scattered = Array2::from_shape_fn((n, n), |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % 2 == 0
    });
    cases.push(("random_50pct".into(), scattered));
    let cfg = ImputationConfig::default();
    for (name, mask) in &cases {
        let mut wall = Vec::new();
        let mut cpu = Vec::new();
        for _ in 0..runs {
            let (t, c) = (Instant::now(), cpu_secs());
            let out = noisy_linear_imputation(img.view(), mask.view(), &cfg, 1)?;
            wall.push(t.elapsed().as_secs_f64());
            cpu.push(cpu_secs() - c);
            std::hint::black_box(out);
        }
        wall.sort_by(f64::total_cmp);
        let cpu_mean = cpu.iter().sum::<f64>() / runs as f64;
        println!(
            "{name:>14}: wall min {:.1} ms, median {:.1} ms; CPU mean {:.1} ms",
            wall[0] * 1e3,
            wall[runs / 2] * 1e3,
            cpu_mean * 1e3
        );
    }
    Ok(())
}
