//! `--shard I/N`: a deterministic part of the inputs for one of N machines.

use std::ops::Range;
use std::str::FromStr;

/// Part `index` (from 0) of `count` equal, contiguous parts, so that the parts' outputs
/// concatenated in index order are the unsharded output (a Slurm array or Kubernetes indexed Job
/// passes its index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This part, from 0.
    pub index: usize,
    /// How many parts.
    pub count: usize,
}

impl Shard {
    /// The positions of this part among `len` inputs.
    pub fn range(self, len: usize) -> Range<usize> {
        // u128 so that index * len cannot overflow.
        let bound = |i: usize| ((i as u128 * len as u128) / self.count as u128) as usize;
        bound(self.index)..bound(self.index + 1)
    }

    /// Whether this is the first part (which writes the CSV header).
    pub fn is_first(self) -> bool {
        self.index == 0
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let usage = || format!("'{text}': use I/N with 0 <= I < N, e.g. 0/4");
        let (i, n) = text.split_once('/').ok_or_else(usage)?;
        let index: usize = i.trim().parse().map_err(|_| usage())?;
        let count: usize = n.trim().parse().map_err(|_| usage())?;
        if count == 0 || index >= count {
            return Err(usage());
        }
        Ok(Shard { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_the_input_once_in_order() {
        for len in [0, 1, 2, 7, 100, 101] {
            for count in 1..=9 {
                let mut next = 0;
                for index in 0..count {
                    let range = Shard { index, count }.range(len);
                    assert_eq!(range.start, next, "len {len}, {index}/{count}");
                    assert!(range.len() <= len.div_ceil(count));
                    next = range.end;
                }
                assert_eq!(next, len, "len {len}, count {count}");
            }
        }
    }

    #[test]
    fn parses_and_rejects() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        for bad in ["4/4", "1/0", "a/2", "3", "-1/2", "1/2/3", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
