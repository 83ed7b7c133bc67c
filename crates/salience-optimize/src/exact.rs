//! Exact (order-independent) floating-point summation.
//!
//! [`ExactSum`] keeps a sum of f64 values as a list of non-overlapping
//! partials (Shewchuk's algorithm, as in Python's `math.fsum`), so the
//! represented value is the *exact* real sum of everything added. Its
//! [`ExactSum::value`] is that exact sum correctly rounded to f64. Hence the
//! result does not depend on the order of additions or on how the terms were
//! split into chunks and merged: accumulation is bitwise reproducible across
//! thread counts and chunk sizes.

/// An exact sum of f64 values (see the [module docs](self)).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ExactSum {
    partials: Vec<f64>,
}

impl ExactSum {
    /// Adds `x` exactly. `x` must be finite (callers validate their inputs;
    /// a non-finite `x` makes [`ExactSum::value`] non-finite, which callers
    /// check).
    pub(crate) fn add(&mut self, x: f64) {
        if !x.is_finite() {
            // Keep the non-finite value visible; value() will return it.
            self.partials.clear();
            self.partials.push(x);
            return;
        }
        if self.partials.len() == 1 && !self.partials[0].is_finite() {
            return;
        }
        let mut x = x;
        let mut i = 0;
        for j in 0..self.partials.len() {
            let mut y = self.partials[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                self.partials[i] = lo;
                i += 1;
            }
            x = hi;
        }
        self.partials.truncate(i);
        self.partials.push(x);
    }

    /// Adds every partial of `other` (exactly).
    pub(crate) fn merge(&mut self, other: &ExactSum) {
        for &p in &other.partials {
            self.add(p);
        }
    }

    /// The exact sum, correctly rounded to f64 (round half to even).
    pub(crate) fn value(&self) -> f64 {
        let p = &self.partials;
        let mut n = p.len();
        if n == 0 {
            return 0.0;
        }
        n -= 1;
        let mut hi = p[n];
        let mut lo = 0.0;
        while n > 0 {
            let x = hi;
            let y = p[n - 1];
            n -= 1;
            hi = x + y;
            let yr = hi - x;
            lo = y - yr;
            if lo != 0.0 {
                break;
            }
        }
        if n > 0 && ((lo < 0.0 && p[n - 1] < 0.0) || (lo > 0.0 && p[n - 1] > 0.0)) {
            let y = lo * 2.0;
            let x = hi + y;
            let yr = x - hi;
            if y == yr {
                hi = x;
            }
        }
        hi
    }
}

#[cfg(test)]
mod tests {
    use super::ExactSum;

    #[test]
    fn exact_where_naive_fails() {
        let mut s = ExactSum::default();
        for x in [1e100, 1.0, -1e100, 1e-30] {
            s.add(x);
        }
        assert_eq!(s.value(), 1.0 + 1e-30);
        let naive: f64 = [1e100, 1.0, -1e100, 1e-30].iter().sum();
        assert_ne!(naive, s.value());
    }

    #[test]
    fn order_and_split_independent() {
        let xs: Vec<f64> = (0..200)
            .map(|i| ((i * 7919) % 1000) as f64 * 1e-3 * if i % 3 == 0 { 1e8 } else { 1e-5 })
            .collect();
        let mut a = ExactSum::default();
        xs.iter().for_each(|&x| a.add(x));
        let mut b = ExactSum::default();
        xs.iter().rev().for_each(|&x| b.add(x));
        let (mut c1, mut c2) = (ExactSum::default(), ExactSum::default());
        xs[..77].iter().for_each(|&x| c1.add(x));
        xs[77..].iter().for_each(|&x| c2.add(x));
        c2.merge(&c1);
        assert_eq!(a.value().to_bits(), b.value().to_bits());
        assert_eq!(a.value().to_bits(), c2.value().to_bits());
    }

    #[test]
    fn non_finite_is_sticky() {
        let mut s = ExactSum::default();
        s.add(1.0);
        s.add(f64::INFINITY);
        s.add(2.0);
        assert!(!s.value().is_finite());
    }
}
