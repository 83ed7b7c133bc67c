//! Splitting a dataset-scale run into shards.
//!
//! A run over `n` samples is cut into `count` contiguous, balanced ranges;
//! shard `index` (0-based) processes one of them. Results do not depend on
//! the split because every stochastic step is seeded per sample
//! ([`Shard::sample_seed`], the same derivation as
//! [`salience_core::derive_seed`]): sample `i` sees the same random numbers
//! whether it runs alone, in shard 3 of 8 or in the unsharded run. The
//! records the shards write ([`crate::records`]) merge back into exactly
//! the unsharded result.
//!
//! ```
//! use salience_report::Shard;
//! let s = Shard::parse("1/3")?;          // the second of three shards
//! assert_eq!(s.range(10), 4..7);        // sizes 4, 3, 3
//! assert_eq!(Shard::all().range(10), 0..10);
//! // Sample 5 gets the same seed in shard 1/3 as in the unsharded run.
//! let pos = s.range(10).position(|i| i == 5).unwrap();
//! assert_eq!(s.sample_seeds(7, 10)[pos], Shard::all().sample_seeds(7, 10)[5]);
//! # Ok::<(), salience_core::SalienceError>(())
//! ```

use salience_core::{Result, SalienceError};
use std::ops::Range;

/// One shard of a run: shard `index` (0-based) of `count`.
///
/// The fields are private so that a `Shard` cannot be built invalid: use
/// [`Shard::new`], [`Shard::parse`] or [`Shard::all`]; every `Shard`
/// satisfies `1 ≤ count` and `index < count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    index: usize,
    count: usize,
}

impl Default for Shard {
    /// The whole run ([`Shard::all`]).
    fn default() -> Self {
        Shard::all()
    }
}

impl std::fmt::Display for Shard {
    /// `index/count`, the form [`Shard::parse`] reads.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// The unsharded run: shard 0 of 1.
    ///
    /// ```
    /// assert_eq!(salience_report::Shard::all().to_string(), "0/1");
    /// ```
    pub fn all() -> Self {
        Shard { index: 0, count: 1 }
    }

    /// Shard `index` of `count`; an error unless `count ≥ 1` and
    /// `index < count`.
    ///
    /// ```
    /// use salience_report::Shard;
    /// assert!(Shard::new(2, 3).is_ok());
    /// assert!(Shard::new(3, 3).is_err());
    /// assert!(Shard::new(0, 0).is_err());
    /// ```
    pub fn new(index: usize, count: usize) -> Result<Self> {
        if count == 0 {
            return Err(SalienceError::invalid(
                "shard count",
                count,
                "must be at least 1",
            ));
        }
        if index >= count {
            return Err(SalienceError::invalid(
                "shard index",
                index,
                &format!("must be below the shard count {count} (shards are numbered from 0)"),
            ));
        }
        Ok(Shard { index, count })
    }

    /// Which shard, `0 ≤ index < count`.
    ///
    /// ```
    /// assert_eq!(salience_report::Shard::new(2, 5)?.index(), 2);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn index(&self) -> usize {
        self.index
    }

    /// How many shards the run is split into, at least 1.
    ///
    /// ```
    /// assert_eq!(salience_report::Shard::new(2, 5)?.count(), 5);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn count(&self) -> usize {
        self.count
    }

    /// Parses `"i/n"` (0-based `i`), as given to `--shard i/n`.
    ///
    /// ```
    /// use salience_report::Shard;
    /// assert_eq!(Shard::parse("0/4")?, Shard::new(0, 4)?);
    /// assert!(Shard::parse("4/4").is_err());
    /// assert!(Shard::parse("1-4").is_err());
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || SalienceError::invalid("shard", text, "expected `i/n` with 0 <= i < n");
        let (i, n) = text.trim().split_once('/').ok_or_else(bad)?;
        let i = i.trim().parse::<usize>().map_err(|_| bad())?;
        let n = n.trim().parse::<usize>().map_err(|_| bad())?;
        Shard::new(i, n)
    }

    /// Reads `--shard i/n` (or `--shard=i/n`) from command-line arguments;
    /// [`Shard::all`] when absent.
    ///
    /// ```
    /// use salience_report::Shard;
    /// let args: Vec<String> = ["--n", "8", "--shard", "1/2"].iter().map(|s| s.to_string()).collect();
    /// assert_eq!(Shard::from_args(&args)?, Shard::new(1, 2)?);
    /// assert_eq!(Shard::from_args(&[])?, Shard::all());
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn from_args(args: &[String]) -> Result<Self> {
        for (k, a) in args.iter().enumerate() {
            if let Some(v) = a.strip_prefix("--shard=") {
                return Shard::parse(v);
            }
            if a == "--shard" {
                let v = args.get(k + 1).ok_or_else(|| {
                    SalienceError::invalid("shard", "(missing)", "`--shard` needs a value `i/n`")
                })?;
                return Shard::parse(v);
            }
        }
        Ok(Shard::all())
    }

    /// The samples of this shard in a run over `n` samples: contiguous
    /// ranges whose sizes differ by at most one, the larger ones first.
    /// Shards `0..count` cover `0..n` exactly once (some are empty when
    /// `count > n`).
    ///
    /// ```
    /// use salience_report::Shard;
    /// let sizes: Vec<usize> = (0..4).map(|i| Shard::new(i, 4).unwrap().range(10).len()).collect();
    /// assert_eq!(sizes, vec![3, 3, 2, 2]);
    /// ```
    pub fn range(&self, n: usize) -> Range<usize> {
        let base = n / self.count;
        let extra = n % self.count;
        let start = self.index * base + self.index.min(extra);
        let len = base + usize::from(self.index < extra);
        start..start + len
    }

    /// The seed of sample `sample` in a run seeded with `run_seed`; it
    /// does not depend on the shard, so sharded and unsharded runs draw
    /// the same random numbers for the same sample.
    ///
    /// ```
    /// use salience_report::Shard;
    /// assert_eq!(Shard::sample_seed(1, 4), salience_core::derive_seed(1, 4));
    /// assert_ne!(Shard::sample_seed(1, 4), Shard::sample_seed(1, 5));
    /// ```
    pub fn sample_seed(run_seed: u64, sample: usize) -> u64 {
        salience_core::seed::derive_seed(run_seed, sample as u64)
    }

    /// The per-sample seeds of this shard's samples, in order (pass them
    /// to [`salience_core::Seeds::per_sample`]).
    ///
    /// ```
    /// use salience_report::Shard;
    /// let s = Shard::new(1, 2)?;
    /// assert_eq!(s.sample_seeds(7, 4), vec![Shard::sample_seed(7, 2), Shard::sample_seed(7, 3)]);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn sample_seeds(&self, run_seed: u64, n: usize) -> Vec<u64> {
        self.range(n)
            .map(|i| Shard::sample_seed(run_seed, i))
            .collect()
    }

    /// The file name of this shard's records for a run called `run`:
    /// `run.jsonl` for the unsharded run, `run.shard-i-of-n.jsonl`
    /// otherwise.
    ///
    /// ```
    /// use salience_report::Shard;
    /// assert_eq!(Shard::new(2, 8)?.file_name("table1"), "table1.shard-2-of-8.jsonl");
    /// assert_eq!(Shard::all().file_name("table1"), "table1.jsonl");
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn file_name(&self, run: &str) -> String {
        if self.count == 1 {
            format!("{run}.jsonl")
        } else {
            format!("{run}.shard-{}-of-{}.jsonl", self.index, self.count)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn shards_partition_the_samples(n in 0usize..500, count in 1usize..40) {
            let mut next = 0;
            for i in 0..count {
                let r = Shard::new(i, count).unwrap().range(n);
                prop_assert_eq!(r.start, next);
                prop_assert!(r.len() == n / count || r.len() == n / count + 1);
                next = r.end;
            }
            prop_assert_eq!(next, n);
        }
    }

    #[test]
    fn parse_rejects_garbage() {
        for bad in ["", "1", "a/b", "-1/3", "1/0", "3/3", "1/3/4"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Shard::parse(" 2 / 5 ").ok(),
            Some(Shard::new(2, 5).unwrap())
        );
        assert!(Shard::from_args(&["--shard".to_string()]).is_err());
    }

    /// Issue 19: `Shard { index: 0, count: 0 }` divided by zero in
    /// `range` and `Shard { index: 5, count: 2 }` gave `25..30` of 10
    /// samples; neither can be built any more.
    #[test]
    fn invalid_shards_cannot_be_built() {
        assert!(Shard::new(0, 0).is_err());
        assert!(Shard::new(5, 2).is_err());
        assert!(Shard::new(usize::MAX, usize::MAX).is_err());
        let s = Shard::new(usize::MAX - 1, usize::MAX).unwrap();
        assert!(s.range(10).is_empty());
        assert_eq!(s.range(usize::MAX), usize::MAX - 1..usize::MAX);
    }

    proptest! {
        #[test]
        fn new_accepts_exactly_the_valid_shards(index in any::<usize>(), count in any::<usize>(), n in any::<usize>()) {
            match Shard::new(index, count) {
                Ok(s) => {
                    prop_assert!(count >= 1 && index < count);
                    prop_assert_eq!((s.index(), s.count()), (index, count));
                    let r = s.range(n);
                    prop_assert!(r.start <= r.end && r.end <= n);
                    prop_assert_eq!(Shard::parse(&s.to_string()).unwrap(), s);
                }
                Err(_) => prop_assert!(count == 0 || index >= count),
            }
        }
    }
}
