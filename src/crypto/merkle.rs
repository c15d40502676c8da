//! Merkle trees over SHA-256, as RFC 6962 (Certificate Transparency) defines them: a leaf is
//! hashed as `SHA-256(0x00 ‖ value)`, an inner node as `SHA-256(0x01 ‖ left ‖ right)`, and a
//! tree of `n` leaves splits at the largest power of two below `n`.
//!
//! Inclusion proofs are checked by the `ct-merkle` crate ([`verify`]). [`Root`] computes a root
//! in `O(log n)` memory, one leaf at a time, for checksums of goods of any size; [`Tree`] keeps
//! every level (2n hashes, built with n − 1 node hashes) to hand out audit paths. Both are
//! tested against `ct-merkle`'s own trees.

use ct_merkle::{InclusionProof, RootHash};
use sha2::{Digest, Sha256};

use crate::doc::Hex;

/// A leaf's value: the SHA-256 of the bytes it stands for.
pub type Leaf = [u8; 32];

/// A tree kept whole in memory, level by level, for audit paths.
#[derive(Debug, Clone)]
pub struct Tree {
    /// Level 0 holds the leaf hashes; a level's last node without a sibling moves up as is,
    /// which builds RFC 6962's tree (the left subtree of every node is complete).
    levels: Vec<Vec<[u8; 32]>>,
}

impl Tree {
    /// The tree of these leaf values (at least one).
    pub fn new(leaves: &[Leaf]) -> Tree {
        let mut levels = vec![leaves.iter().map(leaf_hash).collect::<Vec<_>>()];
        while levels.last().expect("a level").len() > 1 {
            let below = levels.last().expect("a level");
            let up = below.chunks(2).map(|pair| if let [l, r] = pair { node(l, r) } else { pair[0] }).collect();
            levels.push(up);
        }
        Tree { levels }
    }

    /// The root.
    pub fn root(&self) -> Hex<32> {
        Hex(self.levels.last().expect("a level")[0])
    }

    /// Appends to `out` the audit path of leaf `index`, sibling hashes from the leaf up.
    pub fn path_into(&self, index: u64, out: &mut Vec<u8>) {
        let mut i = usize::try_from(index).expect("an index below the tree's size");
        for level in &self.levels[..self.levels.len() - 1] {
            if let Some(sibling) = level.get(i ^ 1) {
                out.extend_from_slice(sibling);
            }
            i /= 2;
        }
    }

    /// The audit path of leaf `index`.
    pub fn path(&self, index: u64) -> Vec<Hex<32>> {
        let mut bytes = Vec::new();
        self.path_into(index, &mut bytes);
        bytes.chunks(32).map(|h| Hex(h.try_into().expect("32-byte hashes"))).collect()
    }
}

fn leaf_hash(value: &Leaf) -> [u8; 32] {
    Sha256::new_with_prefix([0u8]).chain_update(value).finalize().into()
}

/// The root of a tree grown one leaf at a time, in `O(log n)` memory.
#[derive(Debug, Default, Clone)]
pub struct Root {
    /// Roots of complete subtrees, largest first, with their number of leaves.
    stack: Vec<(u64, [u8; 32])>,
    leaves: u64,
}

impl Root {
    /// Appends a leaf.
    pub fn push(&mut self, leaf: &Leaf) {
        let mut hash = leaf_hash(leaf);
        let mut size = 1;
        while let Some(&(top_size, top)) = self.stack.last() {
            if top_size != size {
                break;
            }
            self.stack.pop();
            hash = node(&top, &hash);
            size *= 2;
        }
        self.stack.push((size, hash));
        self.leaves += 1;
    }

    /// The number of leaves so far.
    pub fn leaves(&self) -> u64 {
        self.leaves
    }

    /// The root of the leaves so far (`None` for no leaf).
    pub fn finish(&self) -> Option<Hex<32>> {
        let mut subtrees = self.stack.iter().rev();
        let mut root = subtrees.next()?.1;
        for (_, left) in subtrees {
            root = node(left, &root);
        }
        Some(Hex(root))
    }
}

fn node(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    Sha256::new_with_prefix([1u8]).chain_update(left).chain_update(right).finalize().into()
}

/// The number of hashes in the audit path of leaf `index` of a tree of `leaves` leaves.
pub fn path_len(leaves: u64, index: u64) -> usize {
    if leaves <= 1 {
        return 0;
    }
    let left = leaves.next_power_of_two() / 2;
    1 + if index < left { path_len(left, index) } else { path_len(leaves - left, index - left) }
}

/// Whether `path` proves `leaf` is leaf `index` of the tree of `leaves` leaves with `root`.
pub fn verify(root: &Hex<32>, leaves: u64, leaf: &Leaf, index: u64, path: &[Hex<32>]) -> bool {
    let bytes: Vec<u8> = path.iter().flat_map(|h| h.0).collect();
    let Ok(proof) = InclusionProof::<Sha256>::try_from_bytes(bytes) else { return false };
    RootHash::<Sha256>::new(root.0.into(), leaves).verify_inclusion(leaf, index, &proof).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_and_paths_are_the_rfc_6962_ones() {
        let mut reference = ct_merkle::mem_backed_tree::MemoryBackedTree::<Sha256, Leaf>::new();
        let mut streaming = Root::default();
        let mut leaves = Vec::new();
        for n in 1..=70u64 {
            let leaf: Leaf = Sha256::digest(n.to_be_bytes()).into();
            reference.push(leaf);
            streaming.push(&leaf);
            leaves.push(leaf);
            let tree = Tree::new(&leaves);
            let root = tree.root();
            assert_eq!(root.0, <[u8; 32]>::from(*reference.root().as_bytes()), "{n} leaves: ct-merkle's root");
            assert_eq!(streaming.finish(), Some(root), "{n} leaves");
            for i in 0..n {
                let p = tree.path(i);
                let theirs = reference.prove_inclusion(i as usize);
                assert_eq!(p.iter().flat_map(|h| h.0).collect::<Vec<_>>(), theirs.as_bytes(), "path {i} of {n}");
                assert_eq!(p.len(), path_len(n, i), "path length of leaf {i} of {n}");
                let value = leaves[i as usize];
                assert!(verify(&root, n, &value, i, &p));
                assert!(!verify(&root, n, &[0; 32], i, &p), "another leaf");
                if n > 1 {
                    assert!(!verify(&root, n, &value, (i + 1) % n, &p), "another index");
                }
            }
        }
    }
}
