//! Merkle trees over SHA-256, as RFC 6962 (Certificate Transparency) defines them: a leaf is
//! hashed as `SHA-256(0x00 ‖ value)`, an inner node as `SHA-256(0x01 ‖ left ‖ right)`, and a
//! tree of `n` leaves splits at the largest power of two below `n`.
//!
//! Inclusion proofs are made and checked by the `ct-merkle` crate. Its trees keep every node
//! in memory; [`Root`] computes the same root in `O(log n)` memory, one leaf at a time, for
//! checksums of goods of any size.

use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{InclusionProof, RootHash};
use sha2::{Digest, Sha256};

use crate::doc::Hex;

/// A leaf's value: the SHA-256 of the bytes it stands for.
pub type Leaf = [u8; 32];

/// A tree kept whole in memory, for inclusion proofs.
pub type Tree = MemoryBackedTree<Sha256, Leaf>;

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
        let mut hash: [u8; 32] = Sha256::new_with_prefix([0u8]).chain_update(leaf).finalize().into();
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

/// The audit path of leaf `index` of `tree`, sibling hashes from the leaf up.
pub fn path(tree: &Tree, index: u64) -> Vec<Hex<32>> {
    let proof = tree.prove_inclusion(usize::try_from(index).expect("an index below the tree's size"));
    proof.as_bytes().chunks(32).map(|h| Hex(h.try_into().expect("32-byte hashes"))).collect()
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

/// The root of `tree`.
pub fn root(tree: &Tree) -> Hex<32> {
    Hex((*tree.root().as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_streaming_root_is_the_rfc_6962_root_and_paths_verify() {
        let mut tree = Tree::new();
        let mut streaming = Root::default();
        for n in 1..=70u64 {
            let leaf: Leaf = Sha256::digest(n.to_be_bytes()).into();
            tree.push(leaf);
            streaming.push(&leaf);
            let root = root(&tree);
            assert_eq!(streaming.finish(), Some(root), "{n} leaves");
            for i in [0, n / 2, n - 1] {
                let p = path(&tree, i);
                assert_eq!(p.len(), path_len(n, i), "path length of leaf {i} of {n}");
                let value = *tree.get(i as usize).unwrap();
                assert!(verify(&root, n, &value, i, &p));
                assert!(!verify(&root, n, &[0; 32], i, &p), "another leaf");
                if n > 1 {
                    assert!(!verify(&root, n, &value, (i + 1) % n, &p), "another index");
                }
            }
        }
    }
}
