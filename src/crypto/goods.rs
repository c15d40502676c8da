//! Goods encrypted in chunks under a fresh key K (NetBill step 4), for goods of any size, with
//! Merkle commitments that let a judge rule on one chunk.
//!
//! A ciphertext file is a 24-byte header and `n` sealed chunks:
//!
//! ```text
//! header   = "ACGOODS2" ‖ goods size (u64, big-endian) ‖ log2 of the chunk size (u8) ‖ nonce prefix (7 random bytes)
//! sealed i = AES-256-GCM(K, nonce = prefix ‖ i (u32, big-endian) ‖ last (0 or 1),
//!                        aad = "atomic-commerce:goods:v2" ‖ 0 ‖ EPO id ‖ 0 ‖ header,
//!                        plaintext chunk i ‖ its audit path in the plaintext tree)
//! ```
//!
//! Chunks are 4 KiB, doubled until the goods fit in 2¹⁸ of them (so trees held in memory stay
//! small, whatever the size); the last one may be shorter, and empty goods are one empty chunk.
//! The nonces are the STREAM construction's (Hoang, Reyhanitabar, Rogaway and Vizár, 2015):
//! each chunk is bound to its position and to whether it is the last, so reordered, truncated,
//! extended or spliced ciphertexts do not decrypt.
//!
//! Two RFC 6962 trees ([`super::merkle`]) commit to the goods: the plaintext tree, whose leaf
//! values are `SHA-256(plaintext chunk i)` and whose root and size the offer promises
//! ([`GoodsCommitment`]), and the ciphertext tree, whose leaf values are
//! `SHA-256(header ‖ sealed i)` and whose root both parties sign ([`ciphertext_root`]). Each
//! sealed chunk carries, under K, the merchant's own audit path of its plaintext in the
//! promised tree: one sealed chunk and its path to the signed ciphertext root ([`ChunkProof`])
//! show a judge whether K opens it and whether it holds what the offer promised, in
//! `O(chunk + log n)` bytes.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::aead::{self, NONCE_LEN, TAG_LEN};
use super::merkle::{self, Leaf, Root, Tree};
use crate::doc::{Body, Hex};
use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"ACGOODS2";
/// Length of the header.
pub const HEADER_LEN: usize = 24;
const MIN_CHUNK_LOG2: u8 = 12;
const MAX_CHUNKS_LOG2: u8 = 18;
const DOMAIN: &[u8] = b"atomic-commerce:goods:v2";

/// A goods key K (zeroized on drop).
pub type GoodsKey = Zeroizing<Hex<32>>;

/// A fresh random goods key.
pub fn fresh_key() -> GoodsKey {
    Zeroizing::new(Hex(super::random::<32>()))
}

/// What an offer promises about static goods: their size and the root of their plaintext tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoodsCommitment {
    /// Size in bytes.
    pub size: u64,
    /// Root of the plaintext tree.
    pub root: Hex<32>,
}

/// A ciphertext's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Size of the goods in bytes.
    pub size: u64,
    chunk_log2: u8,
    prefix: [u8; 7],
}

/// The chunk size (log2) for goods of `size` bytes.
fn chunk_log2(size: u64) -> u8 {
    let mut log2 = MIN_CHUNK_LOG2;
    while size.div_ceil(1 << log2) > 1 << MAX_CHUNKS_LOG2 {
        log2 += 1;
    }
    log2
}

impl Header {
    fn fresh(size: u64) -> Header {
        Header { size, chunk_log2: chunk_log2(size), prefix: super::random() }
    }

    /// The number of chunks.
    pub fn chunks(&self) -> u64 {
        chunks(self.size)
    }

    /// The length of plaintext chunk `i`.
    pub fn data_len(&self, i: u64) -> usize {
        data_len(self.size, i)
    }

    /// The length of sealed chunk `i`.
    pub fn sealed_len(&self, i: u64) -> usize {
        self.data_len(i) + 32 * merkle::path_len(self.chunks(), i) + TAG_LEN
    }

    /// The length of the whole ciphertext file.
    pub fn ciphertext_len(&self) -> u64 {
        HEADER_LEN as u64 + (0..self.chunks()).map(|i| self.sealed_len(i) as u64).sum::<u64>()
    }

    /// The header's bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..8].copy_from_slice(MAGIC);
        out[8..16].copy_from_slice(&self.size.to_be_bytes());
        out[16] = self.chunk_log2;
        out[17..].copy_from_slice(&self.prefix);
        out
    }

    /// Parses a header; the chunk size must be the one the size calls for.
    pub fn decode(bytes: &[u8]) -> Result<Header> {
        let bad = |why: &str| Error::malformed(format!("not an atomic-commerce goods ciphertext: {why}"));
        if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
            return Err(bad("bad header"));
        }
        let size = u64::from_be_bytes(bytes[8..16].try_into().expect("8 bytes"));
        if bytes[16] != chunk_log2(size) {
            return Err(bad("the chunk size does not fit the goods size"));
        }
        Ok(Header { size, chunk_log2: bytes[16], prefix: bytes[17..HEADER_LEN].try_into().expect("7 bytes") })
    }

    fn nonce(&self, i: u64) -> [u8; NONCE_LEN] {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..7].copy_from_slice(&self.prefix);
        nonce[7..11].copy_from_slice(&u32::try_from(i).expect("at most 2^18 chunks").to_be_bytes());
        nonce[11] = u8::from(i + 1 == self.chunks());
        nonce
    }

    fn aad(&self, epo_id: &str) -> Vec<u8> {
        [DOMAIN, &[0], epo_id.as_bytes(), &[0], &self.encode()].concat()
    }

    /// The ciphertext tree's leaf value of sealed chunk `sealed`.
    fn leaf(&self, sealed: &[u8]) -> Leaf {
        Sha256::new().chain_update(self.encode()).chain_update(sealed).finalize().into()
    }
}

/// The number of chunks of goods of `size` bytes.
pub fn chunks(size: u64) -> u64 {
    size.div_ceil(1 << chunk_log2(size)).max(1)
}

fn data_len(size: u64, i: u64) -> usize {
    let chunk = 1u64 << chunk_log2(size);
    let len = if i + 1 < chunks(size) { chunk } else { size - (chunks(size) - 1) * chunk };
    usize::try_from(len).expect("chunks are small")
}

/// Reads exactly `buffer.len()` bytes; a short read is a truncated input.
fn fill(reader: &mut impl Read, buffer: &mut [u8], what: impl FnOnce() -> String) -> Result<()> {
    reader.read_exact(buffer).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => Error::malformed(format!("truncated: {} is incomplete", what())),
        _ => Error::io(&e),
    })
}

/// Checks that `reader` has nothing more.
fn at_end(reader: &mut impl Read, what: &str) -> Result<()> {
    let mut byte = [0u8];
    match reader.read(&mut byte).map_err(|e| Error::io(&e))? {
        0 => Ok(()),
        _ => Err(Error::malformed(format!("{what} has more bytes than its header says"))),
    }
}

/// How many bytes of chunks are read at once and shared among the cores (at least one chunk):
/// enough to keep the cores busy, little enough to keep memory small.
const BATCH_BYTES: usize = 4 << 20;

/// Reads `count` chunks of lengths `len(i)` from `reader` in batches; runs `work` on each chunk
/// (in place) on every core, then gives `each` the chunks and their results in order.
fn batched<T: Send>(
    reader: &mut impl Read,
    count: u64,
    len: impl Fn(u64) -> usize,
    what: impl Fn(u64) -> String,
    work: impl Fn(u64, &mut Vec<u8>) -> T + Sync,
    mut each: impl FnMut(u64, &mut Vec<u8>, T) -> Result<()>,
) -> Result<()> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let mut buffers: Vec<Vec<u8>> = Vec::new();
    let mut first = 0;
    while first < count {
        let per_batch = (BATCH_BYTES / len(first).max(1)).max(1) as u64;
        let n = usize::try_from((count - first).min(per_batch)).expect("a batch is small");
        buffers.resize_with(n.max(buffers.len()), Vec::new);
        for (j, buffer) in buffers[..n].iter_mut().enumerate() {
            let i = first + j as u64;
            buffer.resize(len(i), 0);
            fill(reader, buffer, || what(i))?;
        }
        let part = n.div_ceil(threads);
        let results: Vec<T> = std::thread::scope(|scope| {
            let workers: Vec<_> = buffers[..n]
                .chunks_mut(part)
                .enumerate()
                .map(|(k, bufs)| {
                    let work = &work;
                    scope.spawn(move || {
                        let start = first + (k * part) as u64;
                        bufs.iter_mut().enumerate().map(|(j, b)| work(start + j as u64, b)).collect::<Vec<T>>()
                    })
                })
                .collect();
            workers.into_iter().flat_map(|w| w.join().expect("chunk work does not panic")).collect()
        });
        for (j, result) in results.into_iter().enumerate() {
            each(first + j as u64, &mut buffers[j], result)?;
        }
        first += n as u64;
    }
    Ok(())
}

/// Reads goods of `size` bytes chunk by chunk: `work` on every core, then `each` in order.
fn each_chunk<T: Send>(
    mut reader: impl Read,
    size: u64,
    work: impl Fn(u64, &mut Vec<u8>) -> T + Sync,
    each: impl FnMut(u64, &mut Vec<u8>, T) -> Result<()>,
) -> Result<()> {
    let what = |i| format!("the goods are shorter than {size} bytes; chunk {i}");
    batched(&mut reader, chunks(size), |i| data_len(size, i), what, work, each)?;
    at_end(&mut reader, "the goods file")
}

fn digest(data: &[u8]) -> Leaf {
    Sha256::digest(data).into()
}

/// The commitment to goods of `size` bytes read from `reader`, in `O(log n)` memory.
pub fn commit(reader: impl Read, size: u64) -> Result<GoodsCommitment> {
    let mut root = Root::default();
    each_chunk(
        reader,
        size,
        |_, data| digest(data),
        |_, _, leaf| {
            root.push(&leaf);
            Ok(())
        },
    )?;
    Ok(GoodsCommitment { size, root: root.finish().expect("at least one chunk") })
}

/// What encrypting the goods made.
#[derive(Debug, Clone, Copy)]
pub struct Encrypted {
    /// The root both parties will sign.
    pub ciphertext_root: Hex<32>,
    /// The goods' own commitment.
    pub goods: GoodsCommitment,
}

/// Encrypts goods of `size` bytes under `key` for `epo_id`, writing the ciphertext to `out`.
/// The goods are read twice (`open` gives a fresh reader each time): first to build the
/// plaintext tree, whose root `check` may refuse before anything is written, then to encrypt.
/// `progress` is told how many goods bytes each step handled.
pub fn encrypt<R: Read>(
    key: &Hex<32>,
    epo_id: &str,
    size: u64,
    open: impl Fn() -> Result<R>,
    check: impl FnOnce(&GoodsCommitment) -> Result<()>,
    out: &mut impl Write,
    progress: &mut dyn FnMut(u64),
) -> Result<Encrypted> {
    let mut leaves = Vec::with_capacity(usize::try_from(chunks(size)).expect("at most 2^18 chunks"));
    each_chunk(
        open()?,
        size,
        |_, data| digest(data),
        |_, data, leaf| {
            leaves.push(leaf);
            progress(data.len() as u64);
            Ok(())
        },
    )?;
    let tree = Tree::new(&leaves);
    drop(leaves);
    let goods = GoodsCommitment { size, root: tree.root() };
    check(&goods)?;
    let header = Header::fresh(size);
    let (aead, aad) = (aead::Key::new(&key.0), header.aad(epo_id));
    let write = |out: &mut dyn Write, bytes: &[u8]| out.write_all(bytes).map_err(|e| Error::io(&e));
    write(out, &header.encode())?;
    let mut root = Root::default();
    let seal = |i: u64, chunk: &mut Vec<u8>| {
        tree.path_into(i, chunk);
        aead.seal_in_place(header.nonce(i), &aad, chunk);
        header.leaf(chunk)
    };
    each_chunk(open()?, size, seal, |i, sealed, leaf| {
        root.push(&leaf);
        progress(header.data_len(i) as u64);
        write(out, sealed)
    })?;
    Ok(Encrypted { ciphertext_root: root.finish().expect("at least one chunk"), goods })
}

/// [`encrypt`] for goods in memory, promising nothing: the ciphertext and what it commits to.
pub fn encrypt_bytes(key: &Hex<32>, epo_id: &str, goods: &[u8]) -> (Vec<u8>, Encrypted) {
    let mut out = Vec::new();
    let made = encrypt(key, epo_id, goods.len() as u64, || Ok(goods), |_| Ok(()), &mut out, &mut |_| {})
        .expect("goods in memory encrypt");
    (out, made)
}

/// [`decrypt`] for a ciphertext in memory: the goods, if K opens every chunk.
pub fn decrypt_bytes(key: &Hex<32>, epo_id: &str, ciphertext: &[u8]) -> Result<Vec<u8>> {
    let mut goods = Vec::new();
    match decrypt(key, epo_id, ciphertext, None, &mut goods, &mut |_| {})?.first_fault {
        Some((i, _)) => Err(Error::refused(format!("key K does not decrypt chunk {i} of the goods of {epo_id}"))),
        None => Ok(goods),
    }
}

/// Reads a ciphertext chunk by chunk: `work` on every core, then `each` in order with the
/// chunk's ciphertext leaf; returns the header and the root.
fn each_sealed<T: Send>(
    mut reader: impl Read,
    work: impl Fn(&Header, u64, &mut Vec<u8>) -> T + Sync,
    mut each: impl FnMut(&Header, u64, &mut Vec<u8>, &Leaf, T) -> Result<()>,
) -> Result<(Header, Hex<32>)> {
    let mut bytes = [0u8; HEADER_LEN];
    fill(&mut reader, &mut bytes, || "the header".into())?;
    let header = Header::decode(&bytes)?;
    let mut root = Root::default();
    let what = |i| format!("chunk {i} of {}", header.chunks());
    let work = |i: u64, sealed: &mut Vec<u8>| (header.leaf(sealed), work(&header, i, sealed));
    batched(
        &mut reader,
        header.chunks(),
        |i| header.sealed_len(i),
        what,
        work,
        |i, sealed, (leaf, result)| {
            root.push(&leaf);
            each(&header, i, sealed, &leaf, result)
        },
    )?;
    at_end(&mut reader, "the ciphertext")?;
    Ok((header, root.finish().expect("at least one chunk")))
}

/// The ciphertext root of a ciphertext file (what the EPO signs), in `O(log n)` memory.
pub fn ciphertext_root(reader: impl Read, progress: &mut dyn FnMut(u64)) -> Result<(Header, Hex<32>)> {
    each_sealed(
        reader,
        |_, _, _| (),
        |header, i, _, _, ()| {
            progress(header.data_len(i) as u64);
            Ok(())
        },
    )
}

/// What one sealed chunk holds, as a judge sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// K does not open it.
    Sealed,
    /// K opens it, and its plaintext is (or is not) leaf `i` of the promised tree.
    Opened {
        /// Its plaintext.
        data: Vec<u8>,
        /// Whether the plaintext is what the commitment promised (`None`: none was made).
        as_promised: Option<bool>,
    },
}

/// What a chunk opened in place holds: its plaintext's length, whether that plaintext is what
/// the commitment promised (`None`: none was made), and its leaf in the goods tree.
struct Opened {
    len: usize,
    as_promised: Option<bool>,
    leaf: Leaf,
}

impl Opened {
    /// The chunk as a judge sees it, its plaintext the first `len` bytes of `opened`.
    fn chunk(&self, opened: &[u8]) -> Chunk {
        Chunk::Opened { data: opened[..self.len].to_vec(), as_promised: self.as_promised }
    }
}

/// Opens sealed chunk `i` with `key`, in place, and checks its plaintext against `promised`
/// (`None`: K does not open it).
fn open_chunk(
    header: &Header,
    i: u64,
    sealed: &mut [u8],
    key: &aead::Key,
    aad: &[u8],
    promised: Option<&GoodsCommitment>,
) -> Option<Opened> {
    let opened = key.open_in_place(header.nonce(i), aad, sealed)?;
    let (data, path) = opened.split_at(header.data_len(i).min(opened.len()));
    let leaf = digest(data);
    let as_promised = promised.map(|p| {
        let path: Vec<Hex<32>> = path.chunks(32).filter_map(|h| h.try_into().ok().map(Hex)).collect();
        p.size == header.size && merkle::verify(&p.root, header.chunks(), &leaf, i, &path)
    });
    Some(Opened { len: data.len(), as_promised, leaf })
}

/// What decrypting a whole ciphertext found.
#[derive(Debug, Clone)]
pub struct Decrypted {
    /// The ciphertext's root.
    pub ciphertext_root: Hex<32>,
    /// The commitment to the goods decrypted.
    pub goods: GoodsCommitment,
    /// The first chunk K does not open or that is not what `promised` says, and what it holds.
    pub first_fault: Option<(u64, Chunk)>,
}

/// Decrypts a ciphertext with `key`, writing the goods to `out` (stopping at the first chunk K
/// does not open), and checks every chunk against `promised`.
pub fn decrypt(
    key: &Hex<32>,
    epo_id: &str,
    reader: impl Read,
    promised: Option<&GoodsCommitment>,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<Decrypted> {
    let aead = aead::Key::new(&key.0);
    let aad = std::sync::OnceLock::new();
    let mut plain = Root::default();
    let mut first_fault = None;
    let open = |header: &Header, i, sealed: &mut Vec<u8>| {
        open_chunk(header, i, sealed, &aead, aad.get_or_init(|| header.aad(epo_id)), promised)
    };
    let (header, ciphertext_root) = each_sealed(reader, open, |_, i, sealed, _, opened| {
        if matches!(first_fault, Some((_, Chunk::Sealed))) {
            return Ok(());
        }
        let Some(opened) = opened else {
            first_fault.get_or_insert((i, Chunk::Sealed));
            return Ok(());
        };
        plain.push(&opened.leaf);
        out.write_all(&sealed[..opened.len]).map_err(|e| Error::io(&e))?;
        progress(opened.len as u64);
        if opened.as_promised == Some(false) && first_fault.is_none() {
            first_fault = Some((i, opened.chunk(sealed)));
        }
        Ok(())
    })?;
    let goods = GoodsCommitment { size: header.size, root: plain.finish().unwrap_or(Hex([0; 32])) };
    Ok(Decrypted { ciphertext_root, goods, first_fault })
}

/// The body of a `netbill.chunk-proof`: one sealed chunk of a goods ciphertext and its audit
/// path to the ciphertext root, enough for a judge to rule on that chunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkProof {
    /// The ciphertext's header.
    pub header: Hex<HEADER_LEN>,
    /// The chunk's index.
    pub index: u64,
    /// The sealed chunk, in base64 (the one bulky field).
    #[serde(with = "base64_bytes")]
    pub chunk: Vec<u8>,
    /// Its audit path in the ciphertext tree.
    pub path: Vec<Hex<32>>,
}

impl Body for ChunkProof {
    const TYPE: &'static str = "netbill.chunk-proof";
}

impl ChunkProof {
    /// The ciphertext's header.
    pub fn header(&self) -> Result<Header> {
        Header::decode(&self.header.0)
    }

    /// Whether the chunk is chunk `index` of the ciphertext with root `root`.
    pub fn in_ciphertext(&self, root: &Hex<32>) -> Result<bool> {
        let header = Header::decode(&self.header.0)?;
        Ok(self.index < header.chunks()
            && self.chunk.len() == header.sealed_len(self.index)
            && merkle::verify(root, header.chunks(), &header.leaf(&self.chunk), self.index, &self.path))
    }

    /// What the chunk holds, opened with `key`.
    pub fn open(&self, key: &Hex<32>, epo_id: &str, promised: Option<&GoodsCommitment>) -> Result<Chunk> {
        let header = Header::decode(&self.header.0)?;
        let mut sealed = self.chunk.clone();
        let opened =
            open_chunk(&header, self.index, &mut sealed, &aead::Key::new(&key.0), &header.aad(epo_id), promised);
        Ok(opened.map_or(Chunk::Sealed, |o| o.chunk(&sealed)))
    }
}

/// The proof of chunk `index` of a ciphertext (reading it whole, with its tree in memory).
pub fn prove(reader: impl Read, index: u64) -> Result<ChunkProof> {
    let mut leaves = Vec::new();
    let mut found = None;
    let (header, _) = each_sealed(
        reader,
        |_, _, _| (),
        |_, i, sealed, leaf, ()| {
            leaves.push(*leaf);
            if i == index {
                found = Some(sealed.to_vec());
            }
            Ok(())
        },
    )?;
    let chunk = found.ok_or_else(|| {
        Error::usage(format!("the ciphertext has {} chunks: there is no chunk {index}", header.chunks()))
    })?;
    Ok(ChunkProof { header: Hex(header.encode()), index, chunk, path: Tree::new(&leaves).path(index) })
}

/// Serde for bytes as standard base64.
mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    pub fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        crate::doc::text::from_str_with(d, |text| STANDARD.decode(text).map_err(|e| format!("invalid base64: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(goods: &[u8], key: &Hex<32>, epo_id: &str) -> (Vec<u8>, Encrypted) {
        encrypt_bytes(key, epo_id, goods)
    }

    fn opened(ct: &[u8], key: &Hex<32>, epo_id: &str, promised: &GoodsCommitment) -> Result<(Vec<u8>, Decrypted)> {
        let mut goods = Vec::new();
        let d = decrypt(key, epo_id, ct, Some(promised), &mut goods, &mut |_| {})?;
        Ok((goods, d))
    }

    #[test]
    fn round_trips_of_every_shape() {
        let key = fresh_key();
        for size in [0usize, 1, 4095, 4096, 4097, 3 * 4096 + 5] {
            let goods: Vec<u8> = (0..size).map(|i| (i * 7) as u8).collect();
            let (ct, made) = sealed(&goods, &key, "epo-1");
            let header = Header::decode(&ct).unwrap();
            assert_eq!(ct.len() as u64, header.ciphertext_len(), "{size} bytes");
            assert_eq!(made.goods, commit(&goods[..], size as u64).unwrap());
            assert_eq!(ciphertext_root(&ct[..], &mut |_| {}).unwrap().1, made.ciphertext_root);
            let (back, d) = opened(&ct, &key, "epo-1", &made.goods).unwrap();
            assert_eq!(back, goods);
            assert_eq!((d.ciphertext_root, d.goods, d.first_fault), (made.ciphertext_root, made.goods, None));
        }
    }

    #[test]
    fn the_chunk_size_keeps_trees_small() {
        assert_eq!(chunk_log2(1 << 30), 12, "1 GiB: 4 KiB chunks");
        assert_eq!(chunk_log2((1 << 30) + 1), 13);
        assert_eq!(chunks(4 << 30), 1 << 18, "4 GiB: 16 KiB chunks");
    }

    #[test]
    fn truncation_reordering_splicing_and_a_forged_last_chunk_are_caught() {
        let key = fresh_key();
        let goods = vec![7u8; 3 * 4096 + 100];
        let (ct, made) = sealed(&goods, &key, "epo-1");
        let header = Header::decode(&ct).unwrap();
        let at = |i: u64| HEADER_LEN + (0..i).map(|j| header.sealed_len(j)).sum::<usize>();
        // Truncation after chunk 1: the root and the length change, and chunk 1 is no last chunk.
        assert!(ciphertext_root(&ct[..at(2)], &mut |_| {}).is_err(), "truncated");
        let mut short = header;
        short.size = 2 * 4096;
        let forged = [&short.encode()[..], &ct[HEADER_LEN..at(2)]].concat();
        let refused = decrypt(&key, "epo-1", &forged[..], None, &mut Vec::new(), &mut |_| {})
            .map_or(true, |d| d.first_fault.is_some_and(|f| f.0 == 0));
        assert!(refused, "a header that claims fewer chunks opens nothing");
        // Chunks 0 and 1 swapped (equal lengths).
        let swapped = [&ct[..HEADER_LEN], &ct[at(1)..at(2)], &ct[at(0)..at(1)], &ct[at(2)..]].concat();
        let d = opened(&swapped, &key, "epo-1", &made.goods).unwrap().1;
        assert_eq!(d.first_fault.map(|f| f.0), Some(0), "a chunk out of place does not open");
        assert_ne!(d.ciphertext_root, made.ciphertext_root);
        // A chunk spliced from another purchase of the same goods under the same key.
        let (other, _) = sealed(&goods, &key, "epo-2");
        let spliced = [&ct[..at(1)], &other[at(1)..at(2)], &ct[at(2)..]].concat();
        assert_eq!(opened(&spliced, &key, "epo-1", &made.goods).unwrap().1.first_fault.map(|f| f.0), Some(1));
        // The last chunk re-sealed as if it were not the last (only K's holder could): refused.
        let last = header.chunks() - 1;
        let mut body = ct[at(last)..].to_vec();
        let aead = aead::Key::new(&key.0);
        let plain = aead.open_in_place(header.nonce(last), &header.aad("epo-1"), &mut body).unwrap().to_vec();
        let mut resealed = plain.clone();
        let mut not_last = header.nonce(last);
        not_last[11] = 0;
        aead.seal_in_place(not_last, &header.aad("epo-1"), &mut resealed);
        let forged = [&ct[..at(last)], &resealed].concat();
        assert_eq!(opened(&forged, &key, "epo-1", &made.goods).unwrap().1.first_fault.map(|f| f.0), Some(last));
    }

    #[test]
    fn other_goods_show_in_every_chunk() {
        let key = fresh_key();
        let goods = vec![1u8; 5 * 4096];
        let promised = commit(&goods[..], goods.len() as u64).unwrap();
        let mut other = goods.clone();
        other[3 * 4096 + 9] = 2;
        let (ct, _) = sealed(&other, &key, "epo-1");
        // The merchant's paths lead to the root of what he encrypted: no chunk is as promised.
        let d = opened(&ct, &key, "epo-1", &promised).unwrap().1;
        assert!(matches!(d.first_fault, Some((0, Chunk::Opened { as_promised: Some(false), .. }))));
        let chunk = prove(&ct[..], 4).unwrap().open(&key, "epo-1", Some(&promised)).unwrap();
        assert!(matches!(chunk, Chunk::Opened { as_promised: Some(false), .. }));
    }

    #[test]
    fn one_chunk_proves_what_the_merchant_delivered_in_it() {
        let key = fresh_key();
        let goods = vec![1u8; 5 * 4096];
        let mut corrupted = goods.clone();
        corrupted[3 * 4096 + 9] = 2;
        // A merchant who builds his paths from the promised goods and seals one chunk otherwise.
        let reads = std::cell::Cell::new(0);
        let open = || {
            reads.set(reads.get() + 1);
            Ok(if reads.get() == 1 { &goods[..] } else { &corrupted[..] })
        };
        let mut ct = Vec::new();
        let made = encrypt(&key, "epo-1", goods.len() as u64, open, |_| Ok(()), &mut ct, &mut |_| {}).unwrap();
        let (_, promised) = sealed(&goods, &key, "epo-1");
        assert_eq!(made.goods, promised.goods, "the tree is the promised one");
        let d = opened(&ct, &key, "epo-1", &promised.goods).unwrap().1;
        assert!(matches!(d.first_fault, Some((3, Chunk::Opened { as_promised: Some(false), .. }))));
        let proof = prove(&ct[..], 3).unwrap();
        assert!(proof.in_ciphertext(&made.ciphertext_root).unwrap());
        assert!(!proof.in_ciphertext(&promised.ciphertext_root).unwrap(), "another ciphertext");
        let chunk = proof.open(&key, "epo-1", Some(&promised.goods)).unwrap();
        assert!(matches!(chunk, Chunk::Opened { as_promised: Some(false), .. }));
        let good = prove(&ct[..], 2).unwrap().open(&key, "epo-1", Some(&promised.goods)).unwrap();
        assert!(matches!(good, Chunk::Opened { as_promised: Some(true), .. }));
        assert_eq!(prove(&ct[..], 3).unwrap().open(&fresh_key(), "epo-1", None).unwrap(), Chunk::Sealed);
    }
}
