#!/usr/bin/env python3
"""An independent verifier of atomic-commerce documents, written from docs/FORMATS.md with
Python's `cryptography` (Ed25519, AES-256-GCM) and a JCS encoder of its own: it shares no
code with the Rust implementation.

usage: verify.py VECTOR_DIR

Checks every identity (key id derivation, self-signature), every signed document of the
purchase and the signed documents nested in it, that the refused--* vectors do NOT verify,
and that the receipt's key K decrypts goods.enc to goods.txt.
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
    "netbill.key-statement": "bookshop",
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
    assert receipt["result"] == "paid"
    data = (directory / "goods.enc").read_bytes()
    assert data[:8] == b"ACGOODS1", "goods.enc: bad header"
    goods = AESGCM(bytes.fromhex(receipt["key"])).decrypt(data[8:20], data[20:], receipt["epo_id"].encode())
    assert hashlib.sha256(data).hexdigest() == receipt["ciphertext_sha256"], "goods.enc: checksum"
    assert goods == (directory / "goods.txt").read_bytes(), "goods.enc decrypts to other goods"
    print("ok  receipt K: decrypted goods match goods.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")))
