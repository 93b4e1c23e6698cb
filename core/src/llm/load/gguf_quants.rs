//! GGML's block formats, decoded in plain Rust.
//!
//! A quantized GGUF tensor is a sequence of fixed-size blocks along each row: 32
//! elements per block for the legacy formats (`Q4_0`, `Q5_1`, `Q8_0`, ...), 256 for the
//! k-quants (`Q2_K` … `Q8_K`), which nest sub-block scales inside a super-block.
//!
//! Two things are done with them here:
//! - [`to_affine`]: formats whose groups of 32 elements share one scale and one offset
//!   are MLX's affine quantization (`w = scale·q + bias`, group 32) in another layout,
//!   so they are repacked instead of dequantized: exactly for `Q4_0`, `Q4_1`, `Q5_0`,
//!   `Q5_1`, `Q8_0` (bit for bit what MLX's own GGUF loader makes of the three it reads),
//!   and for `Q4_K`/`Q5_K` with the sub-block scale `d·sc` and offset `−dmin·m` rounded
//!   to f16 (relative error ≤ 2⁻¹¹, far below the format's own step).
//! - [`dequantize`]: every block format we support, decoded to f32 with the reference
//!   semantics of llama.cpp (`dequantize_row_*` in ggml-quants.c, mirrored by the
//!   `gguf` Python package's quants.py): the same integer unpacking and the same f32
//!   operations in the same order, so results are bit-identical to the references
//!   (tests/llm_gguf.rs checks this against goldens written by gguf-py). The loader
//!   uses it for the formats with 16-element sub-blocks (`Q2_K`, `Q3_K`, `Q6_K`) and
//!   `Q8_K`, which no MLX group size can hold exactly.
//!
//! All functions take whole blocks; a trailing partial block is ignored (the caller
//! checks sizes). Nothing here can panic on arbitrary bytes: blocks are fixed-size
//! slices, and any f16 bit pattern (inf, NaN) just yields inf/NaN values.

use std::fmt;

use half::f16;

/// GGML tensor types, as numbered in the GGUF specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2K,
    Q3K,
    Q4K,
    Q5K,
    Q6K,
    Q8K,
    BF16,
    /// A type this reader does not name (i-quants and newer): kept by number.
    Other(u32),
}

impl GgmlType {
    pub(super) fn from_u32(v: u32) -> Self {
        match v {
            0 => Self::F32,
            1 => Self::F16,
            2 => Self::Q4_0,
            3 => Self::Q4_1,
            6 => Self::Q5_0,
            7 => Self::Q5_1,
            8 => Self::Q8_0,
            9 => Self::Q8_1,
            10 => Self::Q2K,
            11 => Self::Q3K,
            12 => Self::Q4K,
            13 => Self::Q5K,
            14 => Self::Q6K,
            15 => Self::Q8K,
            30 => Self::BF16,
            n => Self::Other(n),
        }
    }

    /// The type's number in the GGUF specification (what [`Self::from_u32`] reads).
    pub fn to_u32(self) -> u32 {
        match self {
            Self::F32 => 0,
            Self::F16 => 1,
            Self::Q4_0 => 2,
            Self::Q4_1 => 3,
            Self::Q5_0 => 6,
            Self::Q5_1 => 7,
            Self::Q8_0 => 8,
            Self::Q8_1 => 9,
            Self::Q2K => 10,
            Self::Q3K => 11,
            Self::Q4K => 12,
            Self::Q5K => 13,
            Self::Q6K => 14,
            Self::Q8K => 15,
            Self::BF16 => 30,
            Self::Other(n) => n,
        }
    }

    /// (elements per block, bytes per block), for computing a tensor's byte size.
    pub fn block(self) -> Option<(u64, u64)> {
        Some(match self {
            Self::F32 => (1, 4),
            Self::F16 | Self::BF16 => (1, 2),
            Self::Q4_0 => (32, 18),
            Self::Q4_1 => (32, 20),
            Self::Q5_0 => (32, 22),
            Self::Q5_1 => (32, 24),
            Self::Q8_0 => (32, 34),
            Self::Q8_1 => (32, 40),
            Self::Q2K => (256, 84),
            Self::Q3K => (256, 110),
            Self::Q4K => (256, 144),
            Self::Q5K => (256, 176),
            Self::Q6K => (256, 210),
            Self::Q8K => (256, 292),
            Self::Other(_) => return None,
        })
    }

    /// Whether [`super::gguf::GgufHeader::read_tensor`] reads this type.
    pub fn supported(self) -> bool {
        !matches!(self, Self::Q8_1 | Self::Other(_))
    }
}

impl fmt::Display for GgmlType {
    /// The type's name as llama.cpp spells it, e.g. `Q4_K` or `IQ2_XS`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::Q4_0 => "Q4_0",
            Self::Q4_1 => "Q4_1",
            Self::Q5_0 => "Q5_0",
            Self::Q5_1 => "Q5_1",
            Self::Q8_0 => "Q8_0",
            Self::Q8_1 => "Q8_1",
            Self::Q2K => "Q2_K",
            Self::Q3K => "Q3_K",
            Self::Q4K => "Q4_K",
            Self::Q5K => "Q5_K",
            Self::Q6K => "Q6_K",
            Self::Q8K => "Q8_K",
            Self::BF16 => "BF16",
            Self::Other(n) => match n {
                16 => "IQ2_XXS",
                17 => "IQ2_XS",
                18 => "IQ3_XXS",
                19 => "IQ1_S",
                20 => "IQ4_NL",
                21 => "IQ3_S",
                22 => "IQ2_S",
                23 => "IQ4_XS",
                24 => "I8",
                25 => "I16",
                26 => "I32",
                27 => "I64",
                28 => "F64",
                29 => "IQ1_M",
                34 => "TQ1_0",
                35 => "TQ2_0",
                39 => "MXFP4",
                40 => "NVFP4",
                _ => return write!(f, "GGML type {n}"),
            },
        };
        f.write_str(name)
    }
}

/// MLX's affine quantization group size for the formats that map onto it.
pub const AFFINE_GROUP_SIZE: i32 = 32;

/// A tensor in MLX's affine quantization, group size 32, in row-major element order.
#[derive(Debug, Clone, PartialEq)]
pub struct Affine {
    pub bits: i32,
    /// Quants packed little-endian: element `i` of a row takes bits `bits·i` to
    /// `bits·i + bits − 1` of the row's stream of u32 words (least significant first; a
    /// 5-bit element may straddle two words).
    pub weight: Vec<u32>,
    /// One per group of 32 elements.
    pub scales: Vec<f16>,
    pub biases: Vec<f16>,
}

/// Bits of the MLX affine form of `ty`, when [`to_affine`] repacks it.
pub fn affine_bits(ty: GgmlType) -> Option<i32> {
    match ty {
        GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q4K => Some(4),
        GgmlType::Q5_0 | GgmlType::Q5_1 | GgmlType::Q5K => Some(5),
        GgmlType::Q8_0 => Some(8),
        _ => None,
    }
}

/// Repack blocks of `ty` as MLX affine arrays (`None` unless [`affine_bits`] names it).
///
/// - `Q4_0`: `w = (q − 8)·d` → scale `d`, bias `−8d` on the 4-bit `q` (`Q5_0`: `−16d`).
/// - `Q4_1`, `Q5_1`: `w = q·d + m` → scale `d`, bias `m`.
/// - `Q8_0`: `w = q·d` with signed `q` → 8-bit unsigned `q + 128`, scale `d`, bias `−128d`.
/// - `Q4_K`, `Q5_K`: sub-block `j` has `w = d·sc_j·q − dmin·m_j` → scale `f16(d·sc_j)`,
///   bias `f16(−dmin·m_j)`, the products taken in f32 as the reference does.
///
/// Biases of the first kind are computed as MLX does (`−8·d` in f16: exact unless it
/// overflows).
pub fn to_affine(ty: GgmlType, data: &[u8]) -> Option<Affine> {
    let bits = affine_bits(ty)?;
    let (elements, block_bytes) = ty.block()?;
    let (elements, block_bytes) = (elements as usize, block_bytes as usize);
    let groups = data.len() / block_bytes * elements / 32;
    let mut a = Affine {
        bits,
        weight: Vec::with_capacity(groups * bits as usize),
        scales: Vec::with_capacity(groups),
        biases: Vec::with_capacity(groups),
    };
    let mut q = [0u8; 32];
    for b in data.chunks_exact(block_bytes) {
        if elements == 32 {
            let (scale, bias) = legacy_group(ty, b, &mut q);
            a.push_group(&q, scale, bias);
            continue;
        }
        let (d, dmin) = (f32_of_f16(b, 0), f32_of_f16(b, 2));
        for j in 0..8 {
            let (sc, m) = k4_sub_block(b, ty == GgmlType::Q5K, j, &mut q);
            let scale = f16::from_f32(d * f32::from(sc));
            let bias = f16::from_f32(-(dmin * f32::from(m)));
            a.push_group(&q, scale, bias);
        }
    }
    Some(a)
}

impl Affine {
    /// Append one group: its 32 unsigned quants packed little-endian, `bits` each.
    fn push_group(&mut self, q: &[u8; 32], scale: f16, bias: f16) {
        let bits = self.bits as u32;
        let (mut acc, mut n) = (0u64, 0u32);
        for &v in q {
            acc |= u64::from(v) << n;
            n += bits;
            if n >= 32 {
                self.weight.push(acc as u32);
                acc >>= 32;
                n -= 32;
            }
        }
        self.scales.push(scale);
        self.biases.push(bias);
    }
}

/// The unsigned quants of a 32-element block and its affine scale and bias.
fn legacy_group(ty: GgmlType, b: &[u8], q: &mut [u8; 32]) -> (f16, f16) {
    let d = f16_at(b, 0);
    let times = |k: f32| f16::from_f32(k * d.to_f32());
    match ty {
        GgmlType::Q4_0 => {
            nibbles(&b[2..18], q);
            (d, times(-8.0))
        }
        GgmlType::Q4_1 => {
            nibbles(&b[4..20], q);
            (d, f16_at(b, 2))
        }
        GgmlType::Q5_0 => {
            q5_values(&b[2..6], &b[6..22], |j, v| q[j] = v);
            (d, times(-16.0))
        }
        GgmlType::Q5_1 => {
            q5_values(&b[4..8], &b[8..24], |j, v| q[j] = v);
            (d, f16_at(b, 2))
        }
        _ => {
            // Q8_0: flipping the sign bit maps i8 `q` to u8 `q + 128`.
            for (q, &x) in q.iter_mut().zip(&b[2..34]) {
                *q = x ^ 0x80;
            }
            (d, times(-128.0))
        }
    }
}

/// 16 bytes of GGML nibbles: elements 0..16 in the low nibbles, 16..32 in the high ones.
fn nibbles(qs: &[u8], q: &mut [u8; 32]) {
    for (j, &x) in qs.iter().enumerate() {
        q[j] = x & 0x0F;
        q[j + 16] = x >> 4;
    }
}

/// Decode whole blocks of `ty` to f32 exactly as the references do (`None` for types
/// without a block decoder here: float types, `Q8_1`, i-quants and newer).
pub fn dequantize(ty: GgmlType, data: &[u8]) -> Option<Vec<f32>> {
    let (decode, elements, bytes) = decoder(ty)?;
    let mut out = vec![0f32; data.len() / bytes * elements];
    for (b, y) in data.chunks_exact(bytes).zip(out.chunks_exact_mut(elements)) {
        decode(b, y);
    }
    Some(out)
}

/// [`dequantize`], rounded to f16 block by block (round to nearest even, as numpy's
/// and MLX's casts), so no f32 copy of a whole tensor is ever made.
pub fn dequantize_f16(ty: GgmlType, data: &[u8]) -> Option<Vec<f16>> {
    let (decode, elements, bytes) = decoder(ty)?;
    let mut out = Vec::with_capacity(data.len() / bytes * elements);
    let mut buf = [0f32; 256];
    let y = &mut buf[..elements];
    for b in data.chunks_exact(bytes) {
        decode(b, y);
        out.extend(y.iter().map(|&v| f16::from_f32(v)));
    }
    Some(out)
}

/// Decodes one block (its bytes) into its elements.
type BlockDecoder = fn(&[u8], &mut [f32]);

/// A type's block decoder, elements per block and bytes per block.
fn decoder(ty: GgmlType) -> Option<(BlockDecoder, usize, usize)> {
    let decode: BlockDecoder = match ty {
        GgmlType::Q4_0 => q4_0,
        GgmlType::Q4_1 => q4_1,
        GgmlType::Q5_0 => q5_0,
        GgmlType::Q5_1 => q5_1,
        GgmlType::Q8_0 => q8_0,
        GgmlType::Q2K => q2_k,
        GgmlType::Q3K => q3_k,
        GgmlType::Q4K => q4_k,
        GgmlType::Q5K => q5_k,
        GgmlType::Q6K => q6_k,
        GgmlType::Q8K => q8_k,
        _ => return None,
    };
    let (elements, bytes) = ty.block()?;
    Some((decode, elements as usize, bytes as usize))
}

fn f16_at(b: &[u8], i: usize) -> f16 {
    f16::from_le_bytes([b[i], b[i + 1]])
}

fn f32_of_f16(b: &[u8], i: usize) -> f32 {
    f16_at(b, i).to_f32()
}

/// `d` (f16), 16 bytes of nibbles: `y = (q − 8)·d`.
fn q4_0(b: &[u8], y: &mut [f32]) {
    let d = f32_of_f16(b, 0);
    for (j, &q) in b[2..18].iter().enumerate() {
        y[j] = f32::from((q & 0x0F) as i8 - 8) * d;
        y[j + 16] = f32::from((q >> 4) as i8 - 8) * d;
    }
}

/// `d`, `m` (f16), 16 bytes of nibbles: `y = q·d + m`.
fn q4_1(b: &[u8], y: &mut [f32]) {
    let (d, m) = (f32_of_f16(b, 0), f32_of_f16(b, 2));
    for (j, &q) in b[4..20].iter().enumerate() {
        y[j] = f32::from(q & 0x0F) * d + m;
        y[j + 16] = f32::from(q >> 4) * d + m;
    }
}

/// Fifth bits of 32 elements in a little-endian u32, low four bits as in `Q4_0`.
fn q5_values(qh: &[u8], qs: &[u8], mut f: impl FnMut(usize, u8)) {
    let qh = u32::from_le_bytes([qh[0], qh[1], qh[2], qh[3]]);
    for (j, &q) in qs.iter().enumerate() {
        let hi = |k: usize| (((qh >> k) & 1) as u8) << 4;
        f(j, (q & 0x0F) | hi(j));
        f(j + 16, (q >> 4) | hi(j + 16));
    }
}

/// `d` (f16), `qh` (u32), 16 bytes of nibbles: `y = (q − 16)·d`.
fn q5_0(b: &[u8], y: &mut [f32]) {
    let d = f32_of_f16(b, 0);
    q5_values(&b[2..6], &b[6..22], |j, q| {
        y[j] = (f32::from(q) - 16.0) * d;
    });
}

/// `d`, `m` (f16), `qh` (u32), 16 bytes of nibbles: `y = q·d + m`.
fn q5_1(b: &[u8], y: &mut [f32]) {
    let (d, m) = (f32_of_f16(b, 0), f32_of_f16(b, 2));
    q5_values(&b[4..8], &b[8..24], |j, q| {
        y[j] = f32::from(q) * d + m;
    });
}

/// `d` (f16), 32 × i8: `y = q·d`.
fn q8_0(b: &[u8], y: &mut [f32]) {
    let d = f32_of_f16(b, 0);
    for (y, &q) in y.iter_mut().zip(&b[2..34]) {
        *y = f32::from(q as i8) * d;
    }
}

/// 16 scale bytes (4-bit scale, 4-bit min per 16 elements), 64 bytes of 2-bit quants,
/// `d`, `dmin` (f16): `y = d·sc·q − dmin·m`.
fn q2_k(b: &[u8], y: &mut [f32]) {
    let (scales, qs) = (&b[0..16], &b[16..80]);
    let (d, dmin) = (f32_of_f16(b, 80), f32_of_f16(b, 82));
    for (e, y) in y.iter_mut().enumerate() {
        let (half, shift, l) = (e / 128, 2 * ((e % 128) / 32), e % 32);
        let q = (qs[half * 32 + l] >> shift) & 3;
        let sc = scales[e / 16];
        let dl = d * f32::from(sc & 0x0F);
        let ml = dmin * f32::from(sc >> 4);
        *y = dl * f32::from(q) - ml;
    }
}

/// 32 bytes of high-bit masks, 64 bytes of 2-bit quants, 12 bytes of 6-bit signed
/// scales (one per 16 elements), `d` (f16): `y = d·(sc − 32)·(q − 4·!hbit)`.
fn q3_k(b: &[u8], y: &mut [f32]) {
    let (hmask, qs, s) = (&b[0..32], &b[32..96], &b[96..108]);
    let d = f32_of_f16(b, 108);
    let scale = |k: usize| {
        let low = if k < 8 { s[k] & 0x0F } else { s[k - 8] >> 4 };
        let high = (s[8 + k % 4] >> (2 * (k / 4))) & 3;
        d * f32::from((low | (high << 4)) as i8 - 32)
    };
    for (e, y) in y.iter_mut().enumerate() {
        let (half, shift, l) = (e / 128, 2 * ((e % 128) / 32), e % 32);
        let low = ((qs[half * 32 + l] >> shift) & 3) as i8;
        let high = (hmask[l] >> (e / 32)) & 1;
        let q = if high == 1 { low } else { low - 4 };
        *y = scale(e / 16) * f32::from(q);
    }
}

/// The 6-bit scale and min of sub-block `j` (0..8) of a `Q4_K`/`Q5_K` block, packed in
/// 12 bytes (llama.cpp's `get_scale_min_k4`).
fn scale_min_k4(s: &[u8], j: usize) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        (
            (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4),
            (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
        )
    }
}

/// Sub-block `j` (0..8) of a `Q4_K` block (`d`, `dmin` (f16), 12 bytes of 6-bit
/// scales/mins, 128 bytes of nibbles) or of a `Q5_K` block (the same with 32 bytes of
/// fifth bits before the nibbles): its 32 quants into `q`, and its scale and min.
fn k4_sub_block(b: &[u8], five_bits: bool, j: usize, q: &mut [u8; 32]) -> (u8, u8) {
    let qs = if five_bits { &b[48..176] } else { &b[16..144] };
    let (chunk, shift) = (j / 2, 4 * (j % 2));
    for (l, q) in q.iter_mut().enumerate() {
        *q = (qs[chunk * 32 + l] >> shift) & 0x0F;
        if five_bits {
            *q |= ((b[16 + l] >> j) & 1) << 4;
        }
    }
    scale_min_k4(&b[4..16], j)
}

/// `Q4_K`/`Q5_K`: `y = d·sc·q − dmin·m` per sub-block of 32.
fn q4_k(b: &[u8], y: &mut [f32]) {
    k4_family(b, false, y);
}

fn q5_k(b: &[u8], y: &mut [f32]) {
    k4_family(b, true, y);
}

fn k4_family(b: &[u8], five_bits: bool, y: &mut [f32]) {
    let (d, dmin) = (f32_of_f16(b, 0), f32_of_f16(b, 2));
    let mut q = [0u8; 32];
    for (j, y) in y.chunks_exact_mut(32).enumerate() {
        let (sc, m) = k4_sub_block(b, five_bits, j, &mut q);
        let (d1, m1) = (d * f32::from(sc), dmin * f32::from(m));
        for (y, &q) in y.iter_mut().zip(&q) {
            *y = d1 * f32::from(q) - m1;
        }
    }
}

/// 128 bytes of low nibbles, 64 bytes of high 2-bit pairs, 16 i8 scales (one per 16
/// elements), `d` (f16): `y = d·sc·(q − 32)`.
fn q6_k(b: &[u8], y: &mut [f32]) {
    let (ql, qh, scales) = (&b[0..128], &b[128..192], &b[192..208]);
    let d = f32_of_f16(b, 208);
    for (e, y) in y.iter_mut().enumerate() {
        let (half, r, l) = (e / 128, e % 128, e % 32);
        let low = (ql[half * 64 + r % 64] >> (4 * (r / 64))) & 0x0F;
        let high = (qh[half * 32 + l] >> (2 * (r / 32))) & 3;
        let q = (low | (high << 4)) as i8 - 32;
        *y = d * f32::from(scales[e / 16] as i8) * f32::from(q);
    }
}

/// `d` (f32), 256 × i8, 16 i16 block sums (unused here): `y = d·q`.
fn q8_k(b: &[u8], y: &mut [f32]) {
    let d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    for (y, &q) in y.iter_mut().zip(&b[4..260]) {
        *y = d * f32::from(q as i8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Element `e` of an affine tensor, `q·scale + bias` in f32 (as MLX dequantizes).
    fn affine_value(a: &Affine, e: usize) -> f32 {
        let bits = a.bits as usize;
        let (word, at) = (bits * e / 32, bits * e % 32);
        let stream =
            u64::from(a.weight[word]) | a.weight.get(word + 1).map_or(0, |&w| u64::from(w) << 32);
        let q = (stream >> at) & ((1 << bits) - 1);
        q as f32 * a.scales[e / 32].to_f32() + a.biases[e / 32].to_f32()
    }

    /// The affine repacking reproduces the block decoder: exactly for the legacy formats,
    /// within f16 rounding of the sub-block scale and offset for `Q4_K`/`Q5_K`.
    #[test]
    fn affine_repacking_dequantizes_like_the_reference() {
        let types = [
            GgmlType::Q4_0,
            GgmlType::Q4_1,
            GgmlType::Q5_0,
            GgmlType::Q5_1,
            GgmlType::Q8_0,
            GgmlType::Q4K,
            GgmlType::Q5K,
        ];
        for (i, ty) in types.into_iter().enumerate() {
            let (_, block_bytes) = ty.block().unwrap();
            let mut bytes: Vec<u8> = (0..2 * block_bytes as usize)
                .map(|k| (k * 37 + i * 11 + 5) as u8)
                .collect();
            // Sane scales: d = 0.5 and m (or dmin) = -1.25 (0.01) in each block.
            for b in bytes.chunks_exact_mut(block_bytes as usize) {
                b[0..2].copy_from_slice(&f16::from_f32(0.5).to_le_bytes());
                if matches!(ty, GgmlType::Q4_1 | GgmlType::Q5_1) {
                    b[2..4].copy_from_slice(&f16::from_f32(-1.25).to_le_bytes());
                }
                if matches!(ty, GgmlType::Q4K | GgmlType::Q5K) {
                    b[0..4].copy_from_slice(&[0x66, 0x21, 0x1f, 0x21]); // 0.01..., 0.0099...
                }
            }
            let want = dequantize(ty, &bytes).unwrap();
            let a = to_affine(ty, &bytes).unwrap();
            assert_eq!(a.bits, affine_bits(ty).unwrap());
            assert_eq!(a.weight.len() * 32, want.len() * a.bits as usize, "{ty:?}");
            for (e, &w) in want.iter().enumerate() {
                let got = affine_value(&a, e);
                let exact = !matches!(ty, GgmlType::Q4K | GgmlType::Q5K);
                let tol = if exact { 0.0 } else { 2e-3 * (w.abs() + 1.0) };
                assert!((got - w).abs() <= tol, "{ty:?} element {e}: {got} vs {w}");
            }
        }
    }

    #[test]
    fn partial_blocks_and_other_types() {
        assert_eq!(dequantize(GgmlType::Q4K, &[0; 143]), Some(vec![]));
        assert_eq!(dequantize(GgmlType::F16, &[0; 4]), None);
        let x = [
            0x00, 0x3c, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 0,
        ];
        let f = dequantize_f16(GgmlType::Q4_0, &x).unwrap();
        let want: Vec<f16> = dequantize(GgmlType::Q4_0, &x)
            .unwrap()
            .into_iter()
            .map(f16::from_f32)
            .collect();
        assert_eq!(f, want);
        assert!(to_affine(GgmlType::Q6K, &[0; 210]).is_none());
    }
}
