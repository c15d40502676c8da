#!/usr/bin/env python3
"""An independent verifier of atomic-commerce documents, written from docs/FORMATS.md with
Python's `cryptography` (Ed25519, AES-256-GCM) and a JCS encoder of its own: it shares no
code with the Rust implementation.

usage: verify.py VECTOR_DIR

Checks every identity (key id derivation, self-signature), every signed document of the
purchase and the signed documents nested in it, that the refused--* vectors do NOT verify,
and that the receipt's K opens the merchant's key commitment and decrypts goods.enc (chunked,
docs/FORMATS.md) to goods.txt, with the Merkle roots (RFC 6962) the receipt and the offer
name, and every chunk's own path.
"""
import hashlib
import json
import pathlib
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def jcs(value):
    # RFC 8785 for documents whose only numbers are small integers: sorted keys, no spaces.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def key_id(ed25519_public: bytes) -> str:
    return hashlib.sha256(b"atomic-commerce key id\x00" + ed25519_public).hexdigest()[:16]


def signed_message(doc) -> bytes:
    unsigned = {k: v for k, v in doc.items() if k != "signature"}
    prefix = b"atomic-commerce:" + doc["type"].encode() + b":v" + str(doc["version"]).encode() + b"\x00"
    return prefix + jcs(unsigned)


# Who must have signed each document type in the vectors' purchase.
SIGNER = {
    "identity": None,  # self-signed
    "netbill.offer": "bookshop",
    "netbill.delivery": "bookshop",
    "netbill.endorsed-epo": "bookshop",
    "netbill.epo": "alice",
    "netbill.key-request": "alice",
    "netbill.receipt": "netbill",
}


def verify(doc, keys, where):
    """Verifies doc, signed by the party its type requires, and every signed document nested
    in its body; returns the number of signatures checked."""
    sig = doc["signature"]
    signer = SIGNER[doc["type"]] or doc["body"]["name"]
    if sig["key_id"] != keys[signer][0]:
        raise InvalidSignature(f"{where}: signed by key {sig['key_id']}, not by {signer}")
    keys[signer][1].verify(bytes.fromhex(sig["ed25519"]), signed_message(doc))
    count = 1
    for name, value in doc["body"].items():
        if isinstance(value, dict) and "signature" in value and "type" in value:
            count += verify(value, keys, f"{where}: body.{name}")
    return count


def leaf(value: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + value).digest()


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def mth(leaves):
    # RFC 6962 2.1: split at the largest power of two below n.
    if len(leaves) == 1:
        return leaf(leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node(mth(leaves[:k]), mth(leaves[k:]))


def root_from_path(value: bytes, index: int, n: int, path):
    # RFC 9162 2.1.3.2: recompute the root from a leaf and its audit path.
    fn, sn, r = index, n - 1, leaf(value)
    for p in path:
        if sn == 0:
            return None
        if fn % 2 == 1 or fn == sn:
            r = node(p, r)
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node(r, p)
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


def chunk_log2(size: int) -> int:
    log2 = 12
    while -(-size // (1 << log2)) > 1 << 18:
        log2 += 1
    return log2


def chunks_of(data: bytes, size: int):
    c = 1 << chunk_log2(size)
    return [data[i : i + c] for i in range(0, size, c)] or [b""]


def path_len(n: int, i: int) -> int:
    if n <= 1:
        return 0
    k = 1
    while k * 2 < n:
        k *= 2
    return 1 + (path_len(k, i) if i < k else path_len(n - k, i - k))


def plaintext_root(goods: bytes) -> str:
    return mth([hashlib.sha256(c).digest() for c in chunks_of(goods, len(goods))]).hex()


def decrypt_goods(data: bytes, key: bytes, epo_id: str, promised):
    header = data[:24]
    assert header[:8] == b"ACGOODS2", "goods.enc: bad header"
    size = int.from_bytes(header[8:16], "big")
    assert header[16] == chunk_log2(size), "goods.enc: chunk size"
    c, prefix = 1 << header[16], header[17:24]
    n = max(1, -(-size // c))
    aad = b"atomic-commerce:goods:v2\x00" + epo_id.encode() + b"\x00" + header
    at, goods, leaves, paths_ok = 24, b"", [], True
    for i in range(n):
        data_len = c if i + 1 < n else size - (n - 1) * c
        sealed = data[at : at + data_len + 32 * path_len(n, i) + 16]
        at += len(sealed)
        leaves.append(hashlib.sha256(header + sealed).digest())
        nonce = prefix + i.to_bytes(4, "big") + bytes([1 if i + 1 == n else 0])
        plain = AESGCM(key).decrypt(nonce, sealed, aad)
        chunk, path = plain[:data_len], plain[data_len:]
        path = [path[j : j + 32] for j in range(0, len(path), 32)]
        root = root_from_path(hashlib.sha256(chunk).digest(), i, n, path)
        paths_ok &= root is not None and root.hex() == promised["root"]
        goods += chunk
    assert at == len(data), "goods.enc: trailing bytes"
    return goods, mth(leaves).hex(), paths_ok


def main(directory: pathlib.Path) -> int:
    keys = {}
    for path in sorted(directory.glob("*.id.json")):
        doc = json.loads(path.read_text())
        body = doc["body"]
        public = bytes.fromhex(body["ed25519"])
        assert key_id(public) == body["key_id"], f"{path.name}: key id does not match the key"
        keys[body["name"]] = (body["key_id"], Ed25519PublicKey.from_public_bytes(public))
        verify(doc, keys, path.name)
        print(f"ok  {path.name}: identity of {body['name']}, key id {body['key_id']}")

    for name in ["offer", "delivery", "epo", "endorsed-epo", "receipt", "key-request"]:
        doc = json.loads((directory / f"{name}.json").read_text())
        n = verify(doc, keys, f"{name}.json")
        print(f"ok  {name}.json: {n} signature(s) verify")

    for path in sorted(directory.glob("refused--*.json")):
        try:
            verify(json.loads(path.read_text()), keys, path.name)
        except InvalidSignature:
            print(f"ok  {path.name}: rejected")
            continue
        print(f"FAIL {path.name}: verified but must not")
        return 1

    receipt = json.loads((directory / "receipt.json").read_text())["body"]
    offer = json.loads((directory / "offer.json").read_text())["body"]
    assert receipt["result"] == "paid"
    key = bytes.fromhex(receipt["key"])
    commitment = hashlib.sha256(
        b"atomic-commerce:netbill.key-commitment:v1\x00" + receipt["epo_id"].encode() + b"\x00" + key
    ).hexdigest()
    for name in ["delivery", "epo"]:
        stated = json.loads((directory / f"{name}.json").read_text())["body"]["key_commitment"]
        assert stated == commitment == receipt["key_commitment"], f"{name}.json: key commitment"
    print("ok  receipt K: opens the merchant's key commitment in delivery.json, epo.json and receipt.json")
    goods, ciphertext_root, chunk_paths_ok = decrypt_goods(
        (directory / "goods.enc").read_bytes(), key, receipt["epo_id"], offer["goods"]
    )
    assert ciphertext_root == receipt["ciphertext_root"], "goods.enc: Merkle root"
    assert goods == (directory / "goods.txt").read_bytes(), "goods.enc decrypts to other goods"
    assert offer["goods"] == {"size": len(goods), "root": plaintext_root(goods)}, "the offer's goods commitment"
    assert chunk_paths_ok, "a chunk's own path does not lead to the offer's root"
    print("ok  receipt K: decrypted goods match goods.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")))
