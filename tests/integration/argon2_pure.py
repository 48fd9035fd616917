"""Minimal pure-Python Argon2id (RFC 9106), used only by the integration tests
to produce a `password_hash` for a configured user without needing any
third-party module.  It is slow, so tests use tiny cost parameters.
"""

import base64
import hashlib
import os
import struct

MASK64 = (1 << 64) - 1
MASK32 = (1 << 32) - 1
VERSION = 0x13
TYPE_ID = 2
BLOCK_WORDS = 128
SYNC_POINTS = 4


def _le32(n):
    return struct.pack("<I", n)


def _blake2b(data, size):
    return hashlib.blake2b(data, digest_size=size).digest()


def _h_prime(data, outlen):
    """Variable-length hash H' from RFC 9106 section 3.3."""
    prefixed = _le32(outlen) + data
    if outlen <= 64:
        return _blake2b(prefixed, outlen)
    r = (outlen + 31) // 32 - 2
    v = _blake2b(prefixed, 64)
    out = [v[:32]]
    for _ in range(1, r):
        v = _blake2b(v, 64)
        out.append(v[:32])
    out.append(_blake2b(v, outlen - 32 * r))
    return b"".join(out)


def _rotr(x, n):
    return ((x >> n) | (x << (64 - n))) & MASK64


def _gb(v, a, b, c, d):
    va, vb, vc, vd = v[a], v[b], v[c], v[d]
    va = (va + vb + 2 * (va & MASK32) * (vb & MASK32)) & MASK64
    vd = _rotr(vd ^ va, 32)
    vc = (vc + vd + 2 * (vc & MASK32) * (vd & MASK32)) & MASK64
    vb = _rotr(vb ^ vc, 24)
    va = (va + vb + 2 * (va & MASK32) * (vb & MASK32)) & MASK64
    vd = _rotr(vd ^ va, 16)
    vc = (vc + vd + 2 * (vc & MASK32) * (vd & MASK32)) & MASK64
    vb = _rotr(vb ^ vc, 63)
    v[a], v[b], v[c], v[d] = va, vb, vc, vd


def _permute(v, idx):
    """Apply the BLAKE2b-based permutation P to 16 words of v at indices idx."""
    i = idx
    _gb(v, i[0], i[4], i[8], i[12])
    _gb(v, i[1], i[5], i[9], i[13])
    _gb(v, i[2], i[6], i[10], i[14])
    _gb(v, i[3], i[7], i[11], i[15])
    _gb(v, i[0], i[5], i[10], i[15])
    _gb(v, i[1], i[6], i[11], i[12])
    _gb(v, i[2], i[7], i[8], i[13])
    _gb(v, i[3], i[4], i[9], i[14])


_ROWS = [list(range(16 * r, 16 * r + 16)) for r in range(8)]
_COLS = [[2 * c + 16 * k + e for k in range(8) for e in (0, 1)] for c in range(8)]


def _compress(x, y):
    """Compression function G: 1024-byte blocks as lists of 128 words."""
    r = [a ^ b for a, b in zip(x, y)]
    q = list(r)
    for idx in _ROWS:
        _permute(q, idx)
    for idx in _COLS:
        _permute(q, idx)
    return [a ^ b for a, b in zip(q, r)]


def _to_words(b):
    return list(struct.unpack("<128Q", b))


def _to_bytes(words):
    return struct.pack("<128Q", *words)


def argon2id_raw(password, salt, t_cost, m_cost, parallelism, tag_len,
                 secret=b"", ad=b""):
    p = parallelism
    h0 = _blake2b(
        _le32(p) + _le32(tag_len) + _le32(m_cost) + _le32(t_cost)
        + _le32(VERSION) + _le32(TYPE_ID)
        + _le32(len(password)) + password
        + _le32(len(salt)) + salt
        + _le32(len(secret)) + secret
        + _le32(len(ad)) + ad,
        64,
    )
    m_prime = 4 * p * (m_cost // (4 * p))
    q = m_prime // p
    seg = q // SYNC_POINTS
    mem = [[None] * q for _ in range(p)]
    for lane in range(p):
        mem[lane][0] = _to_words(_h_prime(h0 + _le32(0) + _le32(lane), 1024))
        mem[lane][1] = _to_words(_h_prime(h0 + _le32(1) + _le32(lane), 1024))
    zero = [0] * BLOCK_WORDS
    for r in range(t_cost):
        for s in range(SYNC_POINTS):
            for lane in range(p):
                data_independent = (r == 0 and s < 2)
                addresses = None
                counter = 0
                start_idx = 2 if (r == 0 and s == 0) else 0

                def next_addresses():
                    nonlocal counter
                    counter += 1
                    inp = [r, lane, s, m_prime, t_cost, TYPE_ID, counter]
                    inp += [0] * (BLOCK_WORDS - len(inp))
                    return _compress(zero, _compress(zero, inp))

                if data_independent and start_idx != 0:
                    addresses = next_addresses()
                for i in range(start_idx, seg):
                    col = s * seg + i
                    prev_col = col - 1 if col > 0 else q - 1
                    prev = mem[lane][prev_col]
                    if data_independent:
                        if i % BLOCK_WORDS == 0:
                            addresses = next_addresses()
                        rand = addresses[i % BLOCK_WORDS]
                    else:
                        rand = prev[0]
                    j1 = rand & MASK32
                    j2 = rand >> 32
                    ref_lane = lane if (r == 0 and s == 0) else j2 % p
                    same = ref_lane == lane
                    if r == 0:
                        if same:
                            area = s * seg + i - 1
                        else:
                            area = s * seg - (1 if i == 0 else 0)
                        start = 0
                    else:
                        if same:
                            area = q - seg + i - 1
                        else:
                            area = q - seg - (1 if i == 0 else 0)
                        start = ((s + 1) * seg) % q
                    x = (j1 * j1) >> 32
                    y = (area * x) >> 32
                    rel = area - 1 - y
                    ref_col = (start + rel) % q
                    new = _compress(prev, mem[ref_lane][ref_col])
                    if r > 0:
                        old = mem[lane][col]
                        new = [a ^ b for a, b in zip(new, old)]
                    mem[lane][col] = new
    final = list(mem[0][q - 1])
    for lane in range(1, p):
        final = [a ^ b for a, b in zip(final, mem[lane][q - 1])]
    return _h_prime(_to_bytes(final), tag_len)


def _b64(b):
    return base64.b64encode(b).decode().rstrip("=")


def argon2id_phc(password, salt=None, t_cost=2, m_cost=64, parallelism=1, tag_len=32):
    """Return a PHC string like $argon2id$v=19$m=64,t=2,p=1$salt$hash."""
    if isinstance(password, str):
        password = password.encode()
    if salt is None:
        salt = os.urandom(16)
    tag = argon2id_raw(password, salt, t_cost, m_cost, parallelism, tag_len)
    return "$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s" % (
        m_cost, t_cost, parallelism, _b64(salt), _b64(tag))
