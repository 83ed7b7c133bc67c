//! Ranking helpers shared by the metrics: average ranks (ties get the mean
//! of the ranks they span) and a deterministic descending order.

/// 1-based ranks of `values` in ascending order; tied values all get the
/// average of the ranks they occupy (the "average" method of
/// `scipy.stats.rankdata`). Values must not be NaN (a NaN is ordered
/// by [`f64::total_cmp`], never a panic).
///
/// ```
/// use salience_metrics::rank::average_ranks;
/// assert_eq!(average_ranks(&[10.0, 20.0, 10.0, 30.0]), vec![1.5, 3.0, 1.5, 4.0]);
/// ```
pub fn average_ranks(values: &[f64]) -> Vec<f64> {
    let keys: Vec<f64> = values.iter().map(|&v| canon64(v)).collect();
    let mut idx: Vec<usize> = (0..values.len()).collect();
    idx.sort_by(|&a, &b| keys[a].total_cmp(&keys[b]));
    let values = &keys;
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i + 1;
        while j < idx.len() && values[idx[j]] == values[idx[i]] {
            j += 1;
        }
        // Positions i..j (0-based) hold ranks i+1..=j; their mean:
        let r = (i + 1 + j) as f64 / 2.0;
        for &k in &idx[i..j] {
            ranks[k] = r;
        }
        i = j;
    }
    ranks
}

/// Sizes of the groups of tied values (only groups of two or more), used by
/// tie corrections.
///
/// ```
/// use salience_metrics::rank::tie_group_sizes;
/// assert_eq!(tie_group_sizes(&[1.0, 2.0, 2.0, 3.0, 3.0, 3.0]), vec![2, 3]);
/// ```
pub fn tie_group_sizes(values: &[f64]) -> Vec<usize> {
    let mut v: Vec<f64> = values.iter().map(|&v| canon64(v)).collect();
    v.sort_by(|a, b| a.total_cmp(b));
    let mut out = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i + 1;
        while j < v.len() && v[j] == v[i] {
            j += 1;
        }
        if j - i > 1 {
            out.push(j - i);
        }
        i = j;
    }
    out
}

/// Indices of `values` from the largest to the smallest value; ties are
/// broken by index, lower first (a stable sort), so the order is fully
/// deterministic. This is the pixel order of insertion/deletion and of
/// relevance rank accuracy.
///
/// ```
/// use salience_metrics::rank::descending_order;
/// assert_eq!(descending_order(&[0.5, 2.0, 0.5, 1.0]), vec![1, 3, 0, 2]);
/// ```
pub fn descending_order(values: &[f32]) -> Vec<usize> {
    let keys: Vec<f32> = values
        .iter()
        .map(|&v| if v == 0.0 { 0.0 } else { v })
        .collect();
    let mut idx: Vec<usize> = (0..values.len()).collect();
    idx.sort_by(|&a, &b| keys[b].total_cmp(&keys[a]));
    idx
}

/// −0.0 → +0.0, so that `total_cmp` treats the two zeros as equal.
fn canon64(v: f64) -> f64 {
    if v == 0.0 {
        0.0
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_all_tied() {
        assert_eq!(average_ranks(&[7.0; 4]), vec![2.5; 4]);
        assert_eq!(tie_group_sizes(&[7.0; 4]), vec![4]);
        assert!(average_ranks(&[]).is_empty());
    }

    #[test]
    fn descending_is_stable() {
        assert_eq!(descending_order(&[1.0, 1.0, 1.0]), vec![0, 1, 2]);
        assert_eq!(descending_order(&[3.0, -1.0, 3.0]), vec![0, 2, 1]);
        // The two zeros are a tie, broken by index.
        assert_eq!(descending_order(&[-0.0, 0.0]), vec![0, 1]);
        assert_eq!(average_ranks(&[0.0, -0.0]), vec![1.5, 1.5]);
    }
}
