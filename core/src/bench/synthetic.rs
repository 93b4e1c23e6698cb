//! Deterministic synthetic weights, for running an architecture at its full size where no
//! checkpoint can be had (no machine here reaches the Hugging Face Hub): every value is a
//! function of its tensor's name and its index — splitmix64 of FNV-1a(name) + index, the
//! top 24 bits mapped to [-1, 1) in float32 — so a Python reference computes the very same
//! bits (`det_uniform` in scripts/goldens/omni.py) without either side storing gigabytes.
//! Timings do not depend on the values, so the same weights serve benchmarks.

/// FNV-1a, 64-bit, of `name`'s bytes.
fn fnv1a(name: &str) -> u64 {
    name.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01B3)
    })
}

/// `n` values `offset + scale · u`, `u` uniform in [-1, 1) (multiples of 2⁻²³), for the
/// tensor called `name`. Each step is exact or one float32 rounding, in the same order as
/// the reference script, so both sides agree bit for bit.
pub fn uniform(name: &str, n: usize, scale: f32, offset: f32) -> Vec<f32> {
    let base = fnv1a(name);
    (0..n as u64)
        .map(|i| {
            let mut z = base.wrapping_add(i).wrapping_add(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            let u = (z >> 40) as f32 * f32::powi(2.0, -23) - 1.0;
            let v = u * scale;
            if offset != 0.0 { v + offset } else { v }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_those_of_the_reference_generator() {
        // scripts/goldens/omni.py: det_uniform("x", (4,), 1.0)
        let v = uniform("x", 4, 1.0, 0.0);
        assert_eq!(v, [-0.597_583_53, 0.021_937_49, 0.881_609_7, -0.593_596]);
        assert_eq!(v, uniform("x", 4, 1.0, 0.0));
        assert_ne!(v, uniform("y", 4, 1.0, 0.0));
        let w = uniform("x", 4, 0.5, 1.0);
        for (a, b) in v.iter().zip(&w) {
            assert_eq!(*b, a * 0.5 + 1.0);
        }
    }
}
