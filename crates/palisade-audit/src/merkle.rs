//! RFC 6962 / RFC 9162 Merkle tree hashing, inclusion and consistency proofs.
//!
//! The ground work for the Merkle audit log of issue 4: leaf `SHA-256(0x00 || entry)`, node
//! `SHA-256(0x01 || left || right)`, tree heads over any number of leaves, and the two proofs
//! a verifier holding only a signed tree head needs. The verifiers follow RFC 9162 §2.1.3.2
//! and §2.1.4.2 step by step; the provers follow RFC 6962 §2.1.1 and §2.1.2. Tested against
//! the Certificate Transparency reference vectors.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// `SHA-256(0x00 || entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two strictly below `n` (n >= 2).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// MTH(D[n]) over leaf hashes; the empty tree's head is `SHA-256("")`.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The head of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Where the provers read subtree heads from: a slice of leaf hashes in memory, or the
/// log's stored hashes on disk (which answer in O(log n) reads).
pub trait Subtrees {
    type Error;
    /// MTH of leaves `lo..hi` (`lo < hi`).
    fn subtree(&self, lo: u64, hi: u64) -> Result<Hash, Self::Error>;
}

impl Subtrees for [Hash] {
    type Error = std::convert::Infallible;
    fn subtree(&self, lo: u64, hi: u64) -> Result<Hash, Self::Error> {
        Ok(root(&self[lo as usize..hi as usize]))
    }
}

/// PATH(m, D[n]) for leaf `index` in the tree of the first `size` leaves
/// (`Ok(None)` when `index >= size`).
pub fn prove_inclusion<S: Subtrees + ?Sized>(
    index: u64,
    size: u64,
    tree: &S,
) -> Result<Option<Vec<Hash>>, S::Error> {
    if index >= size {
        return Ok(None);
    }
    // Walk down from the root, collecting siblings; the path lists them leaf first.
    let (mut lo, mut hi, mut m) = (0u64, size, index);
    let mut out = Vec::new();
    while hi - lo > 1 {
        let k = split(hi - lo);
        if m < k {
            out.push(tree.subtree(lo + k, hi)?);
            hi = lo + k;
        } else {
            out.push(tree.subtree(lo, lo + k)?);
            lo += k;
            m -= k;
        }
    }
    out.reverse();
    Ok(Some(out))
}

/// PROOF(m, D[n]): that the tree of the first `first` leaves is a prefix of the tree of the
/// first `size` leaves (`Ok(None)` when `first > size`).
pub fn prove_consistency<S: Subtrees + ?Sized>(
    first: u64,
    size: u64,
    tree: &S,
) -> Result<Option<Vec<Hash>>, S::Error> {
    if first > size {
        return Ok(None);
    }
    let mut out = Vec::new();
    if first == 0 || first == size {
        return Ok(Some(out));
    }
    // SUBPROOF(m, D[lo..hi], complete), unrolled; siblings are collected root first.
    let (mut lo, mut hi, mut m, mut complete) = (0u64, size, first, true);
    loop {
        if m == hi - lo {
            if !complete {
                out.push(tree.subtree(lo, hi)?);
            }
            break;
        }
        let k = split(hi - lo);
        if m <= k {
            out.push(tree.subtree(lo + k, hi)?);
            hi = lo + k;
        } else {
            out.push(tree.subtree(lo, lo + k)?);
            lo += k;
            m -= k;
            complete = false;
        }
    }
    out.reverse();
    Ok(Some(out))
}

/// [`prove_inclusion`] over leaf hashes in memory.
pub fn inclusion_proof(index: usize, leaves: &[Hash]) -> Option<Vec<Hash>> {
    let Ok(p) = prove_inclusion(index as u64, leaves.len() as u64, leaves);
    p
}

/// [`prove_consistency`] over leaf hashes in memory.
pub fn consistency_proof(first: usize, leaves: &[Hash]) -> Option<Vec<Hash>> {
    let Ok(p) = prove_consistency(first as u64, leaves.len() as u64, leaves);
    p
}

/// The right edge of a growing tree: the heads of its maximal complete subtrees, largest
/// first. Appending is amortized one node hash; the root of the current size costs
/// O(log n). This is what the writer and the verifier keep instead of the whole tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// One head per set bit of `size`, from the highest bit down.
    heads: Vec<Hash>,
}

impl Frontier {
    /// A frontier for a tree of `size` leaves from its complete-subtree heads, largest first
    /// (one per set bit of `size`); `None` when the count does not match.
    pub fn from_heads(size: u64, heads: Vec<Hash>) -> Option<Frontier> {
        (heads.len() == size.count_ones() as usize).then_some(Frontier { size, heads })
    }

    /// The leaf ranges whose heads make up the frontier of a tree of `size` leaves.
    pub fn ranges(size: u64) -> impl Iterator<Item = (u64, u64)> {
        let mut lo = 0u64;
        (0..64).rev().filter_map(move |bit| {
            let width = 1u64 << bit;
            (size & width != 0).then(|| {
                let range = (lo, lo + width);
                lo += width;
                range
            })
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Add a leaf; calls `completed(level, start_leaf, head)` for the leaf itself (level 0)
    /// and for every subtree it completes, smallest first.
    pub fn push(&mut self, leaf: Hash, mut completed: impl FnMut(u32, u64, &Hash)) {
        let mut head = leaf;
        let mut level = 0u32;
        let index = self.size;
        completed(0, index, &head);
        // Each trailing one bit of the old size is a subtree of the same height to merge.
        while self.size >> level & 1 == 1 {
            // The loop only runs while a head of this height is on the stack.
            let Some(left) = self.heads.pop() else { break };
            head = node_hash(&left, &head);
            level += 1;
            completed(level, index >> level << level, &head);
        }
        self.heads.push(head);
        self.size += 1;
    }

    /// MTH of the tree so far.
    pub fn root(&self) -> Hash {
        let mut heads = self.heads.iter().rev();
        let Some(first) = heads.next() else {
            return empty_root();
        };
        heads.fold(*first, |acc, left| node_hash(left, &acc))
    }
}

/// RFC 9162 §2.1.3.2: does `proof` show `leaf` at `index` in the tree of `size` with `root`?
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: is the tree of `first` leaves with `first_root` a prefix of the tree
/// of `second` leaves with `second_root`?
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> bool {
    if first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    if first == 0 {
        // The empty tree is a prefix of every tree.
        return proof.is_empty();
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<&Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(first_root);
    }
    path.extend(proof.iter());
    let (mut fnode, mut snode) = (first - 1, second - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*path[0], *path[0]);
    for c in &path[1..] {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    fr == *first_root && sr == *second_root && snode == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Certificate Transparency reference leaves and tree heads for sizes 0..=8.
    const ENTRIES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    const ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn h(s: &str) -> Hash {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).unwrap();
        out
    }

    fn leaves() -> Vec<Hash> {
        ENTRIES
            .iter()
            .map(|e| leaf_hash(&hex::decode(e).unwrap()))
            .collect()
    }

    #[test]
    fn tree_heads_match_the_reference() {
        let l = leaves();
        for n in 0..=8 {
            assert_eq!(root(&l[..n]), h(ROOTS[n]), "size {n}");
        }
    }

    #[test]
    fn inclusion_proofs_match_the_reference() {
        let l = leaves();
        // (1-based leaf, tree size, path)
        let vectors: [(usize, usize, &[&str]); 4] = [
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                3,
                3,
                &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
            (
                2,
                5,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (leaf, size, path) in vectors {
            let want: Vec<Hash> = path.iter().map(|p| h(p)).collect();
            assert_eq!(inclusion_proof(leaf - 1, &l[..size]).unwrap(), want);
            let r = h(ROOTS[size]);
            assert!(verify_inclusion(
                (leaf - 1) as u64,
                size as u64,
                &l[leaf - 1],
                &want,
                &r
            ));
            // Wrong index, size, leaf or root; a flipped bit; a missing or extra node.
            assert!(!verify_inclusion(
                leaf as u64,
                size as u64,
                &l[leaf - 1],
                &want,
                &r
            ));
            assert!(!verify_inclusion(
                (leaf - 1) as u64,
                2 * size as u64,
                &l[leaf - 1],
                &want,
                &r
            ));
            assert!(!verify_inclusion(
                (leaf - 1) as u64,
                size as u64,
                &l[0].map(|b| !b),
                &want,
                &r
            ));
            assert!(!verify_inclusion(
                (leaf - 1) as u64,
                size as u64,
                &l[leaf - 1],
                &want,
                &h(ROOTS[0])
            ));
            for i in 0..want.len() {
                let mut bad = want.clone();
                bad[i][0] ^= 8;
                assert!(!verify_inclusion(
                    (leaf - 1) as u64,
                    size as u64,
                    &l[leaf - 1],
                    &bad,
                    &r
                ));
            }
            let mut longer = want.clone();
            longer.push(r);
            assert!(!verify_inclusion(
                (leaf - 1) as u64,
                size as u64,
                &l[leaf - 1],
                &longer,
                &r
            ));
            if !want.is_empty() {
                let shorter = &want[..want.len() - 1];
                assert!(!verify_inclusion(
                    (leaf - 1) as u64,
                    size as u64,
                    &l[leaf - 1],
                    shorter,
                    &r
                ));
            }
        }
    }

    #[test]
    fn consistency_proofs_match_the_reference() {
        let l = leaves();
        let vectors: [(usize, usize, &[&str]); 3] = [
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (m, n, path) in vectors {
            let want: Vec<Hash> = path.iter().map(|p| h(p)).collect();
            assert_eq!(consistency_proof(m, &l[..n]).unwrap(), want, "{m}..{n}");
            let (r1, r2) = (h(ROOTS[m]), h(ROOTS[n]));
            assert!(verify_consistency(m as u64, n as u64, &r1, &r2, &want));
            assert!(
                !verify_consistency(m as u64, n as u64, &r2, &r1, &want),
                "swapped roots"
            );
            assert!(!verify_consistency(m as u64 + 1, n as u64, &r1, &r2, &want));
            assert!(!verify_consistency(
                m as u64,
                n as u64,
                &r1,
                &r2,
                &want[1..]
            ));
            assert!(!verify_consistency(m as u64, n as u64, &r1, &r2, &[]));
            for i in 0..want.len() {
                let mut bad = want.clone();
                bad[i][0] ^= 16;
                assert!(!verify_consistency(m as u64, n as u64, &r1, &r2, &bad));
            }
        }
        // Edge cases: equal sizes, the empty tree, time travel.
        let (a, b) = (h(ROOTS[1]), h(ROOTS[2]));
        assert!(verify_consistency(1, 1, &a, &a, &[]));
        assert!(!verify_consistency(1, 1, &a, &b, &[]));
        assert!(verify_consistency(0, 3, &a, &b, &[]));
        assert!(!verify_consistency(2, 1, &a, &b, &[]));
        assert!(!verify_consistency(1, 2, &a, &b, &[]));
    }

    #[test]
    fn frontier_roots_and_completed_subtrees_match_the_tree() {
        let l: Vec<Hash> = (0u32..70).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut f = Frontier::default();
        assert_eq!(f.root(), empty_root());
        for n in 0..l.len() {
            let mut seen = Vec::new();
            f.push(l[n], |level, start, head| seen.push((level, start, *head)));
            assert_eq!(f.root(), root(&l[..=n]), "size {}", n + 1);
            // The leaf, then one head per subtree it completed, each equal to MTH of its range.
            assert_eq!(seen.len() as u32, (n as u64 + 1).trailing_zeros() + 1);
            for (level, start, head) in seen {
                let (lo, hi) = (start as usize, start as usize + (1 << level));
                assert_eq!(hi, n + 1);
                assert_eq!(head, root(&l[lo..hi]), "level {level} at {start}");
            }
            let heads: Vec<Hash> = Frontier::ranges(n as u64 + 1)
                .map(|(lo, hi)| root(&l[lo as usize..hi as usize]))
                .collect();
            assert_eq!(Frontier::from_heads(n as u64 + 1, heads), Some(f.clone()));
        }
    }

    #[test]
    fn every_proof_of_every_small_tree_verifies() {
        let l: Vec<Hash> = (0u32..40).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        for n in 1..=l.len() {
            let r = root(&l[..n]);
            for i in 0..n {
                let p = inclusion_proof(i, &l[..n]).unwrap();
                assert!(
                    verify_inclusion(i as u64, n as u64, &l[i], &p, &r),
                    "{i} in {n}"
                );
            }
            assert!(inclusion_proof(n, &l[..n]).is_none());
            for m in 0..=n {
                let p = consistency_proof(m, &l[..n]).unwrap();
                let r1 = root(&l[..m]);
                assert!(
                    verify_consistency(m as u64, n as u64, &r1, &r, &p),
                    "{m}..{n}"
                );
            }
        }
    }
}
