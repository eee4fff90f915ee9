//! How many buffer barriers a submission implies, from what each step binds and how.
//!
//! wgpu tracks each buffer's use and, before a dispatch or a copy, records a barrier for every
//! buffer whose use changes; a use that writes (a `read_write` storage binding, a copy's
//! destination) needs one even when the previous use was the same, while read-only uses in a
//! row need none. So what kernels bind, and how, decides the barriers a token costs beside its
//! dispatches (`granite bench --profile` reports both). Counted within one submission: a
//! buffer's first use in it is not counted.
use std::collections::HashMap;

/// One use of a buffer by a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    /// A read-only storage binding.
    Read,
    /// A `read_write` storage binding.
    ReadWrite,
    CopySrc,
    CopyDst,
}

impl Use {
    fn writes(self) -> bool {
        matches!(self, Use::ReadWrite | Use::CopyDst)
    }

    /// One step's uses of the same buffer together (a buffer bound twice, or copied onto a
    /// window of itself through another buffer, in one step).
    fn merge(self, other: Use) -> Use {
        if self == other { self } else { Use::ReadWrite }
    }
}

/// Barriers for `steps` in order, each step the buffers it uses (keys compare buffers).
pub fn count<K: Eq + std::hash::Hash + Clone>(steps: &[Vec<(K, Use)>]) -> u64 {
    let mut state: HashMap<K, Use> = HashMap::new();
    let mut barriers = 0;
    for step in steps {
        let mut here: HashMap<&K, Use> = HashMap::new();
        for (k, u) in step {
            here.entry(k).and_modify(|v| *v = v.merge(*u)).or_insert(*u);
        }
        for (k, u) in here {
            if let Some(prev) = state.insert(k.clone(), u)
                && (prev != u || u.writes())
            {
                barriers += 1;
            }
        }
    }
    barriers
}

#[cfg(test)]
mod tests {
    use super::{Use, count};

    #[test]
    fn reads_in_a_row_are_free_and_writes_always_cost() {
        let s = |v: &[(u8, Use)]| v.to_vec();
        // a read by two kernels in a row: no barrier; written twice in a row: one.
        assert_eq!(count(&[s(&[(1, Use::Read)]), s(&[(1, Use::Read)])]), 0);
        assert_eq!(count(&[s(&[(1, Use::ReadWrite)]), s(&[(1, Use::ReadWrite)])]), 1);
        // written, then read: one; read, then written: one.
        let chain = [
            s(&[(1, Use::Read), (2, Use::ReadWrite)]),
            s(&[(2, Use::Read), (3, Use::ReadWrite)]),
            s(&[(3, Use::Read), (1, Use::ReadWrite)]),
        ];
        assert_eq!(count(&chain), 3);
        // copies: a destination written twice costs, a source read twice does not.
        let copies = [
            s(&[(1, Use::CopySrc), (2, Use::CopyDst)]),
            s(&[(1, Use::CopySrc), (2, Use::CopyDst)]),
        ];
        assert_eq!(count(&copies), 1);
        // one buffer bound twice in one step counts once, as the merged use.
        let twice = [s(&[(1, Use::Read), (1, Use::ReadWrite)]), s(&[(1, Use::Read)])];
        assert_eq!(count(&twice), 1);
    }
}
