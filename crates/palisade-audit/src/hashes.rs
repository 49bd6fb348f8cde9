//! The stored subtree heads (`tree.hashes`): every complete subtree's head, laid out in the
//! order of Go's `golang.org/x/mod/sumdb/tlog` (`StoredHashIndex`), so that appending leaf
//! N writes its leaf hash and the heads it completes at one place, and any proof needs
//! O(log n) reads instead of rehashing the log.
//!
//! The file is derived data: the writer rebuilds whatever a crash left out, and the
//! verifier only uses it to name the entry whose leaf no longer matches.

use std::fs::File;
use std::path::Path;

use crate::merkle::{node_hash, Hash, Subtrees};

/// Position in `tree.hashes` of the head of the subtree at `level` that starts at leaf
/// `n << level`.
pub fn stored_index(level: u32, n: u64) -> u64 {
    // Level L's n-th head is stored right after level L+1's ... down to level 0's
    // (n << L) + 2^L - 1 -th leaf, i.e. after the leaf that completes it.
    let mut n = n;
    for _ in 0..level {
        n = 2 * n + 1;
    }
    let mut i = 0u64;
    let mut m = n;
    while m > 0 {
        i += m;
        m >>= 1;
    }
    i + level as u64
}

/// How many heads a tree of `size` leaves has stored.
pub fn stored_count(size: u64) -> u64 {
    if size == 0 {
        return 0;
    }
    stored_index(0, size - 1) + 1 + (size - 1).trailing_ones() as u64
}

/// The largest tree size whose heads fit in `count` stored hashes.
pub fn size_for_count(count: u64) -> u64 {
    // stored_count grows by at least one per leaf: a binary search is plenty.
    let (mut lo, mut hi) = (0u64, count);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if stored_count(mid) <= count {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

/// `tree.hashes` opened for reading, bounded to the heads of a tree of `size` leaves.
pub struct StoredTree {
    file: File,
    size: u64,
}

impl StoredTree {
    pub fn open(path: &Path, size: u64) -> std::io::Result<StoredTree> {
        let file = File::open(path)?;
        let have = file.metadata()?.len() / 32;
        if have < stored_count(size) {
            return Err(std::io::Error::other(format!(
                "{} holds the heads of {} entries, not {size}",
                path.display(),
                size_for_count(have)
            )));
        }
        Ok(StoredTree { file, size })
    }

    /// The stored head at `position`.
    pub fn read(&self, position: u64) -> std::io::Result<Hash> {
        read_hash(&self.file, position)
    }
}

pub fn read_hash(file: &File, position: u64) -> std::io::Result<Hash> {
    let mut h = [0u8; 32];
    read_exact_at(file, &mut h, position * 32)?;
    Ok(h)
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(not(unix))]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset).and_then(|n| {
        if n == buf.len() {
            Ok(())
        } else {
            Err(std::io::ErrorKind::UnexpectedEof.into())
        }
    })
}

impl Subtrees for StoredTree {
    type Error = std::io::Error;

    fn subtree(&self, lo: u64, hi: u64) -> std::io::Result<Hash> {
        if hi > self.size || lo >= hi {
            return Err(std::io::Error::other("subtree outside the tree"));
        }
        let width = hi - lo;
        if width.is_power_of_two() && lo.is_multiple_of(width) {
            let level = width.trailing_zeros();
            return self.read(stored_index(level, lo >> level));
        }
        // A right edge: split like MTH does; the left part is always complete.
        let k = 1u64 << (63 - (width - 1).leading_zeros());
        Ok(node_hash(
            &self.subtree(lo, lo + k)?,
            &self.subtree(lo + k, hi)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{leaf_hash, prove_consistency, prove_inclusion, root, Frontier};

    #[test]
    fn layout_matches_go_tlog() {
        // Values from golang.org/x/mod/sumdb/tlog's TestStoredHashIndex walk: level-0 leaves
        // at 0,1,3,4,7,8,10,11,15 and the level-1 head of leaves 0..2 right after leaf 1.
        let leaves: Vec<u64> = (0..9).map(|n| stored_index(0, n)).collect();
        assert_eq!(leaves, [0, 1, 3, 4, 7, 8, 10, 11, 15]);
        assert_eq!(stored_index(1, 0), 2);
        assert_eq!(stored_index(2, 0), 6);
        assert_eq!(stored_index(3, 0), 14);
        assert_eq!(stored_count(1), 1);
        assert_eq!(stored_count(2), 3);
        assert_eq!(stored_count(4), 7);
        assert_eq!(stored_count(5), 8);
        for size in 0..300 {
            assert_eq!(size_for_count(stored_count(size)), size);
        }
    }

    #[test]
    fn frontier_pushes_write_exactly_the_stored_layout_and_proofs_read_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tree.hashes");
        let leaves: Vec<Hash> = (0u32..77).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        let mut f = Frontier::default();
        let mut bytes = Vec::new();
        for (i, leaf) in leaves.iter().enumerate() {
            f.push(*leaf, |level, start, head| {
                assert_eq!(
                    (bytes.len() / 32) as u64,
                    stored_index(level, start >> level)
                );
                bytes.extend_from_slice(head);
            });
            assert_eq!((bytes.len() / 32) as u64, stored_count(i as u64 + 1));
        }
        std::fs::write(&path, &bytes).unwrap();
        for size in 1..=leaves.len() as u64 {
            let tree = StoredTree::open(&path, size).unwrap();
            let l = &leaves[..size as usize];
            assert_eq!(tree.subtree(0, size).unwrap(), root(l));
            for i in (0..size).step_by(7) {
                assert_eq!(
                    prove_inclusion(i, size, &tree).unwrap(),
                    prove_inclusion(i, size, l).unwrap()
                );
                assert_eq!(
                    prove_consistency(i, size, &tree).unwrap(),
                    prove_consistency(i, size, l).unwrap()
                );
            }
        }
        assert!(StoredTree::open(&path, 78).is_err());
    }
}
