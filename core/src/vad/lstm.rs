//! The recurrent half of Silero VAD: an LSTM cell whose state runs from chunk to chunk,
//! then ReLU, a 1×1 convolution to one logit and a sigmoid.
//!
//! It runs in plain Rust on `f32` rather than on MLX: each step depends on the previous
//! one, so it is 9,375 strictly sequential steps for five minutes of audio, each a
//! 128 × 512 product (64 K multiply-adds) and 640 sigmoids/tanhs. One MLX op costs more
//! to queue and evaluate than that whole step takes here; the input half of the gates
//! (`x · W_ihᵀ + b`), which does not depend on the state, is computed for all chunks at
//! once on MLX by the encoder.

use super::weights::{GATES, HIDDEN, SileroWeights};

/// The LSTM's state between chunks: hidden and cell vectors, zero at the start.
#[derive(Debug, Clone)]
pub(crate) struct LstmState {
    h: [f32; HIDDEN],
    c: [f32; HIDDEN],
}

impl Default for LstmState {
    fn default() -> Self {
        Self {
            h: [0.0; HIDDEN],
            c: [0.0; HIDDEN],
        }
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// One chunk: `gate_input` is `x · W_ihᵀ + b_ih + b_hh` (`GATES` values, PyTorch's gate
/// order i, f, g, o); updates `state` and returns the chunk's speech probability.
pub(crate) fn step(w: &SileroWeights, gate_input: &[f32], state: &mut LstmState) -> f32 {
    let mut g = [0f32; GATES];
    g.copy_from_slice(&gate_input[..GATES]);
    // g += W_hh · h, as 128 scaled rows of W_hhᵀ: contiguous, independent lanes that the
    // compiler vectorizes (a dot product per gate would be a serial reduction).
    for (row, &hk) in w.w_hh_t.chunks_exact(GATES).zip(&state.h) {
        if hk != 0.0 {
            for (gj, &wj) in g.iter_mut().zip(row) {
                *gj += hk * wj;
            }
        }
    }
    let (i, rest) = g.split_at(HIDDEN);
    let (f, rest) = rest.split_at(HIDDEN);
    let (cell, o) = rest.split_at(HIDDEN);
    let mut logit = w.head_bias;
    for j in 0..HIDDEN {
        let c = sigmoid(f[j]) * state.c[j] + sigmoid(i[j]) * cell[j].tanh();
        let h = sigmoid(o[j]) * c.tanh();
        state.c[j] = c;
        state.h[j] = h;
        logit += w.head[j] * h.max(0.0);
    }
    sigmoid(logit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vad::weights::Conv;

    fn weights(seed: u32) -> SileroWeights {
        let mut s = seed;
        let mut rand = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
                })
                .collect()
        };
        SileroWeights {
            stft_re: vec![],
            stft_im: vec![],
            convs: Vec::<Conv>::new(),
            w_ih_t: vec![],
            gate_bias: vec![],
            w_hh_t: rand(GATES * HIDDEN),
            head: rand(HIDDEN),
            head_bias: 0.1,
        }
    }

    /// The textbook LSTM cell in f64, gate by gate.
    fn reference(w: &SileroWeights, x: &[f32], h: &mut [f64], c: &mut [f64]) -> f64 {
        let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
        let gate = |k: usize, h: &[f64]| -> f64 {
            x[k] as f64
                + (0..HIDDEN)
                    .map(|m| w.w_hh_t[m * GATES + k] as f64 * h[m])
                    .sum::<f64>()
        };
        let pre: Vec<f64> = (0..GATES).map(|k| gate(k, h)).collect();
        let mut logit = w.head_bias as f64;
        for j in 0..HIDDEN {
            let (i, f, g, o) = (
                sig(pre[j]),
                sig(pre[HIDDEN + j]),
                pre[2 * HIDDEN + j].tanh(),
                sig(pre[3 * HIDDEN + j]),
            );
            c[j] = f * c[j] + i * g;
            h[j] = o * c[j].tanh();
            logit += w.head[j] as f64 * h[j].max(0.0);
        }
        sig(logit)
    }

    #[test]
    fn steps_match_a_textbook_lstm_cell() {
        let w = weights(7);
        let mut state = LstmState::default();
        let (mut h, mut c) = (vec![0f64; HIDDEN], vec![0f64; HIDDEN]);
        let mut s = 3u32;
        for _ in 0..50 {
            let x: Vec<f32> = (0..GATES)
                .map(|_| {
                    s = s.wrapping_mul(22_695_477).wrapping_add(1);
                    ((s >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 4.0
                })
                .collect();
            let got = step(&w, &x, &mut state);
            let want = reference(&w, &x, &mut h, &mut c);
            assert!((got as f64 - want).abs() < 1e-5, "{got} vs {want}");
        }
    }

    #[test]
    fn saturated_inputs_stay_finite() {
        let w = weights(1);
        let mut state = LstmState::default();
        for x in [1e30f32, -1e30, 0.0] {
            let p = step(&w, &[x; GATES], &mut state);
            assert!((0.0..=1.0).contains(&p), "{p}");
        }
    }
}
