#!/usr/bin/env python3
"""An independent verifier of Kleroterion's golden vectors, written from docs/FORMAT.md alone.

It shares no code with the Rust implementation and uses only the Python standard library
(Ed25519 verification included, from RFC 8032 section 5.1.7). It checks every envelope, signature,
event hash, stream chain, Merkle root, inclusion proof, consistency proof, checkpoint and
proof bundle in the vector file, and exits non-zero on the first disagreement.

Usage: python3 tests/independent_verifier.py services/ledger/tests/golden/vectors.txt
"""

import base64
import hashlib
import sys


def sha256(*parts):
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    return digest.digest()


# --- Ed25519 verification (RFC 8032 section 5.1.7; FORMAT.md 2.2 and 4) -------------------

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def point_add(a, b):
    (x1, y1, z1, t1), (x2, y2, z2, t2) = a, b
    aa = (y1 - x1) * (y2 - x2) % P
    bb = (y1 + x1) * (y2 + x2) % P
    cc = 2 * t1 * t2 * D % P
    dd = 2 * z1 * z2 % P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def scalar_mult(scalar, point):
    result = (0, 1, 1, 0)
    while scalar > 0:
        if scalar & 1:
            result = point_add(result, point)
        point = point_add(point, point)
        scalar >>= 1
    return result


def point_equal(a, b):
    (x1, y1, z1, _), (x2, y2, z2, _) = a, b
    return (x1 * z2 - x2 * z1) % P == 0 and (y1 * z2 - y2 * z1) % P == 0


def decompress(encoded):
    if len(encoded) != 32:
        return None
    y = int.from_bytes(encoded, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if x == 0 and sign == 1:
        return None
    if x & 1 != sign:
        x = P - x
    return (x, y, 1, x * y % P)


BASE_Y = 4 * pow(5, P - 2, P) % P
BASE = decompress(BASE_Y.to_bytes(32, "little"))


IDENTITY = (0, 1, 1, 0)


def is_small_order(point):
    return point_equal(scalar_mult(8, point), IDENTITY)


def negate(point):
    x, y, z, t = point
    return (-x % P, y, z, -t % P)


def ed25519_parts(public_key, message, signature):
    """The checks both rules share; returns (A, R, S, k) or None."""
    if len(signature) != 64:
        return None
    a = decompress(public_key)
    r = decompress(signature[:32])
    if a is None or r is None or is_small_order(a) or is_small_order(r):
        return None
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        return None
    k = int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(), "little") % L
    return a, r, s, k


def author_signature_valid(public_key, message, signature):
    """FORMAT.md 2.2: canonical A and R, neither of small order, S < L, [8][S]B = [8]R + [8][k]A."""
    parts = ed25519_parts(public_key, message, signature)
    if parts is None:
        return False
    a, r, s, k = parts
    difference = point_add(scalar_mult(s, BASE), negate(point_add(r, scalar_mult(k, a))))
    return point_equal(scalar_mult(8, difference), IDENTITY)


def note_signature_valid(public_key, message, signature):
    """FORMAT.md 4: checkpoint signatures use the cofactorless equation [S]B = R + [k]A."""
    parts = ed25519_parts(public_key, message, signature)
    if parts is None:
        return False
    a, r, s, k = parts
    return point_equal(scalar_mult(s, BASE), point_add(r, scalar_mult(k, a)))


# --- Envelopes (FORMAT.md section 2) ------------------------------------------------------

class Reader:
    def __init__(self, data):
        self.data, self.offset = data, 0

    def take(self, n):
        if self.offset + n > len(self.data):
            raise ValueError("truncated")
        chunk = self.data[self.offset:self.offset + n]
        self.offset += n
        return chunk

    def uint(self, n):
        return int.from_bytes(self.take(n), "big")

    def done(self):
        if self.offset != len(self.data):
            raise ValueError("trailing bytes")


def parse_author(encoding):
    r = Reader(encoding)
    author = {
        "event_id": r.take(16),
        "stream": r.take(r.uint(2)).decode("ascii"),
        "event_type": r.take(r.uint(2)).decode("ascii"),
        "event_version": r.uint(4),
        "author_public_key": r.take(32),
        "authored_at_unix_ms": r.uint(8),
    }
    author["payload"] = r.take(r.uint(4))
    r.done()
    return author


def parse_envelope(envelope):
    r = Reader(envelope)
    if r.uint(1) != 1:
        raise ValueError("unknown envelope format version")
    author_encoding = r.take(r.uint(4))
    parsed = {
        "author_encoding": author_encoding,
        "author": parse_author(author_encoding),
        "signature": r.take(64),
        "stream_revision": r.uint(8),
        "previous_event_hash": r.take(32),
        "recorded_at_unix_ms": r.uint(8),
    }
    r.done()
    if parsed["stream_revision"] == 0 and parsed["previous_event_hash"] != bytes(32):
        raise ValueError("revision 0 must have a zero previous hash")
    return parsed


def signing_input(author_encoding):
    return b"KLERO-EVENT-AUTHOR-V1\x00" + author_encoding


def event_hash(envelope):
    return sha256(b"KLERO-EVENT-HASH-V1\x00", envelope)


# --- Merkle log (FORMAT.md section 3; RFC 9162) -------------------------------------------

def leaf_hash(entry):
    return sha256(b"\x00", entry)


def node_hash(left, right):
    return sha256(b"\x01", left, right)


def mth(leaves):
    if not leaves:
        return sha256(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def verify_inclusion(index, size, leaf, proof, root):
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_root, second_root, proof):
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof
    if not proof:
        return False
    path = ([first_root] if first & (first - 1) == 0 else []) + list(proof)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


# --- Checkpoints and bundles (FORMAT.md sections 4 and 5) ---------------------------------

def parse_vkey(text):
    name, key_hash_hex, blob = text.split("+", 2)
    blob = base64.b64decode(blob)
    assert blob[0] == 1 and len(blob) == 33, "verifier key must be Ed25519"
    public_key = blob[1:]
    key_hash = sha256(name.encode(), b"\n\x01", public_key)[:4]
    assert key_hash.hex() == key_hash_hex, "verifier key hash"
    return name, key_hash, public_key


def verify_checkpoint(note, vkey, with_heads=False):
    name, key_hash, public_key = vkey
    text, signatures = note.split("\n\n", 1)
    text += "\n"
    lines = text[:-1].split("\n")
    origin, size, root = lines[:3]
    heads = None
    if len(lines) == 4:
        # FORMAT.md 4.1: the one extension line, "klero-stream-heads/v1 <count> <base64 root>".
        word, count, heads_root = lines[3].split(" ")
        assert word == "klero-stream-heads/v1" and count == str(int(count))
        heads = (int(count), base64.b64decode(heads_root, validate=True))
    else:
        assert len(lines) == 3, "a checkpoint has three lines, or four with the stream heads"
    assert origin == name, "checkpoint origin is the key name"
    assert size == str(int(size)), "tree size has no leading zeros"
    ok = False
    for line in signatures[:-1].split("\n"):
        assert line.startswith("\u2014 "), "signature line starts with an em dash"
        line_name, blob = line[2:].split(" ")
        blob = base64.b64decode(blob)
        if line_name == name and blob[:4] == key_hash:
            assert note_signature_valid(public_key, text.encode(), blob[4:]), "checkpoint signature"
            ok = True
    assert ok, "no signature by the log key"
    if with_heads:
        return int(size), base64.b64decode(root), heads
    return int(size), base64.b64decode(root)


# --- Batch inclusion and stream heads (FORMAT.md sections 3.1 and 4.1) --------------------

def split_point(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def batch_root(leaves, start, end, proof):
    """ROOT(I, D[start:end]) from section 3.1: `leaves` maps index to leaf hash; `proof` is a
    list consumed from the front."""
    inside = [i for i in leaves if start <= i < end]
    if not inside:
        assert proof, "the batch proof is too short"
        return proof.pop(0)
    if end - start == 1:
        return leaves[start]
    k = split_point(end - start)
    left = batch_root(leaves, start, start + k, proof)
    right = batch_root(leaves, start + k, end, proof)
    return node_hash(left, right)


def verify_batch_inclusion(size, leaves, proof, root):
    proof = list(proof)
    if size == 0:
        return not leaves and not proof and root == sha256(b"")
    if any(i >= size for i in leaves):
        return False
    try:
        computed = batch_root(leaves, 0, size, proof)
    except AssertionError:
        return False
    return not proof and computed == root


def head_sort_key(stream):
    return stream.encode().replace(b"/", b"\x00")


def head_entry(stream, revision, head_hash):
    name = stream.encode()
    return b"klero-stream-head/v1\x00" + len(name).to_bytes(2, "big") + name + revision.to_bytes(8, "big") + head_hash


def parse_head_entry(entry):
    prefix = b"klero-stream-head/v1\x00"
    assert entry.startswith(prefix)
    rest = entry[len(prefix):]
    length = int.from_bytes(rest[:2], "big")
    assert len(rest) == 2 + length + 40
    return rest[2:2 + length].decode(), int.from_bytes(rest[2 + length:10 + length], "big"), rest[10 + length:]


def range_positions(keys, low, high):
    """The positions an honest prover lists for the range [low, high) of sort keys: the leaves
    inside and the leaf on each side of them."""
    inside = [p for p, key in enumerate(keys) if low <= key and (high is None or key < high)]
    if inside:
        first, end = inside[0], inside[-1] + 1
    else:
        first = end = sum(1 for key in keys if key < low)
    listed = set(inside)
    if first > 0:
        listed.add(first - 1)
    if end < len(keys):
        listed.add(end)
    return sorted(listed)


def check_completeness(vectors, leaves, heads, roots, vkey):
    checks = 0
    size = len(leaves)
    for key, value in vectors.items():
        if not key.startswith("batch_inclusion["):
            continue
        indices = [int(i) for i in key[len("batch_inclusion["):-len(f";{size}]")].split(",") if i]
        proof = [bytes.fromhex(h) for h in value.split(",") if h]
        chosen = {i: leaves[i] for i in indices}
        assert verify_batch_inclusion(size, chosen, proof, roots[size]), key
        if indices:
            moved = dict(chosen)
            first = indices[0]
            moved.pop(first)
            free = [i for i in range(size) if i not in chosen]
            if free:
                moved[free[0]] = leaves[first]
                assert not verify_batch_inclusion(size, dict(sorted(moved.items())), proof, roots[size]), key
        checks += 1
    # The five events' own heads, rebuilt from the events.
    ordered = sorted(heads.items(), key=lambda item: head_sort_key(item[0]))
    five = [head_entry(stream, next_revision - 1, digest) for stream, (next_revision, digest) in ordered]
    for position, entry in enumerate(five):
        assert vectors[f"stream_head[five_events,{position}]"] == f"{entry.hex()} {leaf_hash(entry).hex()}"
    five_root = mth([leaf_hash(entry) for entry in five])
    assert vectors["stream_heads_root[five_events]"] == f"{len(five)} {five_root.hex()}"
    checks += 2
    # The made-up set: parsed, its order checked, its root recomputed.
    made_up = []
    while f"stream_head[made_up,{len(made_up)}]" in vectors:
        entry_hex, leaf_hex = vectors[f"stream_head[made_up,{len(made_up)}]"].split(" ")
        entry = bytes.fromhex(entry_hex)
        assert leaf_hash(entry).hex() == leaf_hex
        made_up.append(entry)
    names = [parse_head_entry(entry)[0] for entry in made_up]
    keys = [head_sort_key(name) for name in names]
    assert keys == sorted(keys) and len(set(keys)) == len(keys), "stream heads are sorted, each once"
    made_up_leaves = [leaf_hash(entry) for entry in made_up]
    made_up_root = mth(made_up_leaves)
    assert vectors["stream_heads_root[made_up]"] == f"{len(made_up)} {made_up_root.hex()}"
    ranges = {
        "subtree assembly/golden": (head_sort_key("assembly/golden"), head_sort_key("assembly/golden") + b"\x01"),
        "exact registry": (head_sort_key("registry"), head_sort_key("registry") + b"\x00"),
        "exact assembly/golden-1": (head_sort_key("assembly/golden-1"), head_sort_key("assembly/golden-1") + b"\x00"),
        "children_after assembly assembly/golden": (head_sort_key("assembly/golden") + b"\x01", b"assembly\x01"),
    }
    for label, (low, high) in ranges.items():
        positions_text, proof_text = vectors[f"heads_proof[made_up,{label}]"].split(" ")
        positions = [int(p) for p in positions_text.split(",")]
        assert positions == range_positions(keys, low, high), label
        proof = [bytes.fromhex(h) for h in proof_text.split(",") if h]
        chosen = {p: made_up_leaves[p] for p in positions}
        assert verify_batch_inclusion(len(made_up), chosen, proof, made_up_root), label
        checks += 1
    note = vectors[f"checkpoint_with_heads[{size}]"].replace("\\u{2014}", "\u2014").replace("\\n", "\n")
    checkpoint_size, checkpoint_root, committed = verify_checkpoint(note, vkey, with_heads=True)
    assert (checkpoint_size, checkpoint_root) == (size, roots[size])
    assert committed == (len(five), five_root), "the checkpoint commits to the five events' heads"
    checks += 1
    return checks


def verify_bundle(text, vkey):
    head, note = text.split("\ncheckpoint\n", 1)
    lines = head.split("\n")
    assert lines[0] == "klero-proof-bundle/v1"
    index = int(lines[1].removeprefix("leaf-index "))
    envelope = base64.b64decode(lines[2].removeprefix("envelope "))
    proof = [base64.b64decode(line.removeprefix("inclusion ")) for line in lines[3:]]
    size, root = verify_checkpoint(note, vkey)
    parsed = parse_envelope(envelope)
    author = parsed["author"]
    assert author_signature_valid(author["author_public_key"], signing_input(parsed["author_encoding"]), parsed["signature"])
    assert verify_inclusion(index, size, leaf_hash(event_hash(envelope)), proof, root), "bundle inclusion"
    return index


# --- Tiles, bundles, cosignatures, add-checkpoint (FORMAT.md sections 12 and 13) ----------

def index_path(n):
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n > 0:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(groups))


def tile_path(kind, index, width):
    prefix = {"entries": "tile/entries/", "envelopes": "klero/envelopes/"}.get(kind)
    if prefix is None:
        prefix = f"tile/{int(kind.removeprefix('level '))}/"
    return prefix + index_path(index) + ("" if width == 256 else f".p/{width}")


def parse_witness_vkey(text):
    name, key_id_hex, blob = text.split("+", 2)
    blob = base64.b64decode(blob)
    assert blob[0] == 4 and len(blob) == 33, "a witness key is Ed25519 cosignature/v1 (0x04)"
    key_id = sha256(name.encode(), b"\n\x04", blob[1:])[:4]
    assert key_id.hex() == key_id_hex, "witness key ID"
    return name, key_id, blob[1:]


def verify_cosignature(note, witness):
    name, key_id, public_key = witness
    text, signatures = note.split("\n\n", 1)
    text += "\n"
    for line in signatures[:-1].split("\n"):
        line_name, blob = line[2:].split(" ")
        blob = base64.b64decode(blob)
        if line_name == name and blob[:4] == key_id and len(blob) == 76:
            timestamp = int.from_bytes(blob[4:12], "big")
            message = f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode()
            assert note_signature_valid(public_key, message, blob[12:]), "cosignature"
            return timestamp
    raise AssertionError("no cosignature by the witness")


def check_transparency(vectors, leaves, envelopes, roots, vkey):
    checks = 0
    note = vectors["cosigned_checkpoint[5]"].replace("\\u{2014}", "\u2014").replace("\\n", "\n")
    verify_checkpoint(note, vkey)
    witness = parse_witness_vkey(vectors["witness_verifier_key"])
    assert verify_cosignature(note, witness) == int(vectors["cosignature_timestamp"])
    forged = note.replace("\n5\n", "\n6\n", 1)
    try:
        verify_cosignature(forged, witness)
        raise RuntimeError("a cosignature verified on another checkpoint")
    except AssertionError:
        pass
    checks += 2
    for key, value in vectors.items():
        if key.startswith("tile_path["):
            kind, index, width = key[len("tile_path["):-1].split(",")
            assert tile_path(kind, int(index), int(width)) == value, key
            checks += 1
    assert vectors["tile[tile/0/000.p/5]"] == b"".join(leaves).hex()
    entries = b"".join(len(event_hash(e)).to_bytes(2, "big") + event_hash(e) for e in envelopes)
    assert vectors["tile[tile/entries/000.p/5]"] == entries.hex()
    bundle = b"".join(len(e).to_bytes(4, "big") + e for e in envelopes)
    assert vectors["tile[klero/envelopes/000.p/5]"] == bundle.hex()
    checks += 3
    body = vectors["add_checkpoint[3,5]"].replace("\\u{2014}", "\u2014").replace("\\n", "\n")
    head, checkpoint_note = body.split("\n\n", 1)
    lines = head.split("\n")
    old = int(lines[0].removeprefix("old "))
    proof = [base64.b64decode(line) for line in lines[1:]]
    size, root = verify_checkpoint(checkpoint_note, vkey)
    assert verify_consistency(old, size, roots[old], root, proof), "add-checkpoint proof"
    checks += 1
    return checks


def main(path):
    vectors = {}
    for line in open(path, encoding="utf-8"):
        if line.startswith("#") or not line.strip():
            continue
        key, value = line.rstrip("\n").split(": ", 1)
        vectors[key] = value

    vkey = parse_vkey(vectors["log_verifier_key"])
    checks = 0
    heads = {}
    leaves = []
    envelopes = []
    index = 0
    while f"event[{index}].envelope" in vectors:
        envelope = bytes.fromhex(vectors[f"event[{index}].envelope"])
        parsed = parse_envelope(envelope)
        author = parsed["author"]
        assert parsed["author_encoding"].hex() == vectors[f"event[{index}].author_encoding"]
        assert sha256(signing_input(parsed["author_encoding"])).hex() == vectors[f"event[{index}].signing_input_sha256"]
        assert parsed["signature"].hex() == vectors[f"event[{index}].signature"]
        assert author_signature_valid(author["author_public_key"], signing_input(parsed["author_encoding"]), parsed["signature"]), \
            f"event {index} signature"
        tampered = bytearray(parsed["author_encoding"])
        tampered[-1] ^= 1
        assert not author_signature_valid(author["author_public_key"], signing_input(bytes(tampered)), parsed["signature"])
        digest = event_hash(envelope)
        assert digest.hex() == vectors[f"event[{index}].event_hash"], f"event {index} hash"
        assert leaf_hash(digest).hex() == vectors[f"event[{index}].leaf_hash"]
        revision, previous = heads.get(author["stream"], (0, bytes(32)))
        assert parsed["stream_revision"] == revision and parsed["previous_event_hash"] == previous, f"event {index} chain"
        heads[author["stream"]] = (revision + 1, digest)
        leaves.append(leaf_hash(digest))
        envelopes.append(envelope)
        checks += 8
        index += 1

    size = len(leaves)
    roots = [mth(leaves[:n]) for n in range(size + 1)]
    for n in range(size + 1):
        assert roots[n].hex() == vectors[f"root[{n}]"], f"root of size {n}"
        checks += 1
    for i in range(size):
        proof = [bytes.fromhex(h) for h in vectors[f"inclusion[{i},{size}]"].split(",") if h]
        assert verify_inclusion(i, size, leaves[i], proof, roots[size]), f"inclusion {i}"
        assert not verify_inclusion(i, size, leaves[(i + 1) % size], proof, roots[size])
        checks += 2
    for m in range(1, size):
        proof = [bytes.fromhex(h) for h in vectors[f"consistency[{m},{size}]"].split(",") if h]
        assert verify_consistency(m, size, roots[m], roots[size], proof), f"consistency {m}"
        assert not verify_consistency(m, size, roots[m - 1] if m > 1 else b"x" * 32, roots[size], proof)
        checks += 2

    note = vectors[f"checkpoint[{size}]"].replace("\\u{2014}", "\u2014").replace("\\n", "\n")
    checkpoint_size, checkpoint_root = verify_checkpoint(note, vkey)
    assert (checkpoint_size, checkpoint_root) == (size, roots[size]), "checkpoint covers the log"
    checks += 1
    bundle = vectors["bundle[2]"].replace("\\u{2014}", "\u2014").replace("\\n", "\n")
    assert verify_bundle(bundle, vkey) == 2
    checks += 1
    checks += check_transparency(vectors, leaves, envelopes, roots, vkey)
    checks += check_completeness(vectors, leaves, heads, roots, vkey)
    for key, value in vectors.items():
        if key.startswith("signature_rule["):
            public_key, message, signature, verdict = value.split(" ")
            valid = author_signature_valid(bytes.fromhex(public_key), bytes.fromhex(message), bytes.fromhex(signature))
            assert valid == (verdict == "valid"), f"{key}: the rule says {verdict}"
            checks += 1
    print(f"independent verifier: {checks} checks passed on {size} events")


if __name__ == "__main__":
    main(sys.argv[1])
