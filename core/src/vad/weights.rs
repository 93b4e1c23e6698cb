//! Silero VAD's weights: a safetensors file of fifteen float32 tensors, checked and
//! turned into plain `Vec<f32>`s in the layouts the encoder and the LSTM compute with.
//!
//! Plain vectors rather than MLX arrays because an `Array` is `Send` but not `Sync`: a
//! [`super::Vad`] made of vectors can sit in a `static` and serve every thread at once,
//! and building the 1.2 MB of arrays again per call costs well under a millisecond.
//!
//! The header goes through the crate's one safetensors parser (header length bounded by
//! the file, known dtypes, `data_offsets` equal to dtype × shape with checked arithmetic,
//! inside the file, no overlaps); on top of it every tensor must be present with its
//! exact shape, in float32, with finite values, and nothing else may be there. Nothing
//! is allocated from a size the file states before those checks pass.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::llm::load::safetensors::parse_safetensors_header;

/// Samples per STFT frame (the `stft_conv` kernel).
pub(crate) const N_FFT: usize = 256;
/// Frequency bins of one STFT frame: the first 129 filters are the real parts, the
/// next 129 the imaginary parts.
pub(crate) const N_FREQ: usize = N_FFT / 2 + 1;
/// LSTM hidden size, which is also the encoder's output width.
pub(crate) const HIDDEN: usize = 128;
/// LSTM gates (input, forget, cell, output) stacked.
pub(crate) const GATES: usize = 4 * HIDDEN;
/// Kernel width of the four encoder convolutions.
pub(crate) const KERNEL: usize = 3;

/// Shapes of the encoder convolutions, in the file's (PyTorch's) layout
/// `[out, in, kernel]`, with their strides.
pub(crate) const CONVS: [(usize, usize, i32); 4] =
    [(128, N_FREQ, 1), (64, 128, 2), (64, 64, 2), (128, 64, 1)];

/// One encoder convolution: weight `[out, kernel, in]` (MLX's layout), bias `[out]`.
#[derive(Clone)]
pub(crate) struct Conv {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub out: usize,
    pub input: usize,
    pub stride: i32,
}

/// Every weight, laid out for computing (no `Debug`: 300,000 numbers).
#[derive(Clone)]
pub(crate) struct SileroWeights {
    /// The STFT basis, real part, transposed: `[N_FFT, N_FREQ]` (frames × it = re).
    pub stft_re: Vec<f32>,
    /// The imaginary part, likewise.
    pub stft_im: Vec<f32>,
    pub convs: Vec<Conv>,
    /// `weight_ih` transposed, `[HIDDEN, GATES]`: encoder output × it = gate inputs.
    pub w_ih_t: Vec<f32>,
    /// `bias_ih + bias_hh`, `[GATES]` (they are only ever added together).
    pub gate_bias: Vec<f32>,
    /// `weight_hh` transposed, `[HIDDEN, GATES]`: row `k` is what `h[k]` adds to each
    /// gate, so a step is 128 contiguous multiply-adds of 512 lanes.
    pub w_hh_t: Vec<f32>,
    /// The 1×1 output convolution: `[HIDDEN]` and its bias.
    pub head: Vec<f32>,
    pub head_bias: f32,
}

impl SileroWeights {
    /// Parse the safetensors file `bytes`; errors name `label` as the file.
    pub(crate) fn parse(bytes: &[u8], label: &Path) -> Result<Self> {
        let corrupt = |reason: String| Error::corrupt(label, reason);
        let header = parse_safetensors_header(bytes).map_err(|e| relabel(e, label))?;
        let mut tensors: HashMap<&str, &[u8]> = HashMap::new();
        for t in &header.tensors {
            let want = expected_shape(&t.name).ok_or_else(|| {
                corrupt(format!(
                    "unexpected tensor {} (not a Silero VAD weight)",
                    t.name
                ))
            })?;
            if t.dtype != "F32" {
                return Err(corrupt(format!(
                    "tensor {} is {}, not F32",
                    t.name, t.dtype
                )));
            }
            if t.shape != want {
                return Err(corrupt(format!(
                    "tensor {} has shape {:?}, not {want:?}",
                    t.name, t.shape
                )));
            }
            let data = usize::try_from(t.data.start)
                .ok()
                .zip(usize::try_from(t.data.end).ok())
                .and_then(|(a, b)| bytes.get(a..b))
                .ok_or_else(|| corrupt(format!("tensor {} lies outside the file", t.name)))?;
            tensors.insert(t.name.as_str(), data);
        }
        let mut take = |name: &str| -> Result<Vec<f32>> {
            let data = tensors
                .remove(name)
                .ok_or_else(|| corrupt(format!("tensor {name} is missing")))?;
            let values: Vec<f32> = data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            if values.iter().any(|v| !v.is_finite()) {
                return Err(corrupt(format!(
                    "tensor {name} holds NaN or infinite values"
                )));
            }
            Ok(values)
        };

        let stft = take("stft_conv.weight")?;
        let mut convs = Vec::with_capacity(CONVS.len());
        for (i, &(out, input, stride)) in CONVS.iter().enumerate() {
            let w = take(&format!("conv{}.weight", i + 1))?;
            convs.push(Conv {
                weight: conv_to_mlx(&w, out, input),
                bias: take(&format!("conv{}.bias", i + 1))?,
                out,
                input,
                stride,
            });
        }
        let w_ih = take("lstm_cell.weight_ih")?;
        let w_hh = take("lstm_cell.weight_hh")?;
        let b_ih = take("lstm_cell.bias_ih")?;
        let b_hh = take("lstm_cell.bias_hh")?;
        let head = take("final_conv.weight")?;
        let head_bias = take("final_conv.bias")?;
        Ok(Self {
            stft_re: transpose(&stft[..N_FREQ * N_FFT], N_FREQ, N_FFT),
            stft_im: transpose(&stft[N_FREQ * N_FFT..], N_FREQ, N_FFT),
            convs,
            w_ih_t: transpose(&w_ih, GATES, HIDDEN),
            gate_bias: b_ih.iter().zip(&b_hh).map(|(a, b)| a + b).collect(),
            w_hh_t: transpose(&w_hh, GATES, HIDDEN),
            head,
            head_bias: head_bias[0],
        })
    }
}

/// The shape each tensor must have (`None`: not a Silero VAD tensor).
fn expected_shape(name: &str) -> Option<Vec<u64>> {
    let s = |d: &[usize]| Some(d.iter().map(|&x| x as u64).collect());
    match name {
        "stft_conv.weight" => s(&[2 * N_FREQ, 1, N_FFT]),
        "lstm_cell.weight_ih" | "lstm_cell.weight_hh" => s(&[GATES, HIDDEN]),
        "lstm_cell.bias_ih" | "lstm_cell.bias_hh" => s(&[GATES]),
        "final_conv.weight" => s(&[1, HIDDEN, 1]),
        "final_conv.bias" => s(&[1]),
        _ => {
            let (layer, part) = name.strip_prefix("conv")?.split_once('.')?;
            let (out, input, _) = *CONVS.get(layer.parse::<usize>().ok()?.checked_sub(1)?)?;
            match part {
                "weight" => s(&[out, input, KERNEL]),
                "bias" => s(&[out]),
                _ => None,
            }
        }
    }
}

/// `[rows, cols]` row-major → `[cols, rows]`.
fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0f32; m.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = m[r * cols + c];
        }
    }
    t
}

/// PyTorch's conv weight `[out, in, k]` → MLX's `[out, k, in]`.
fn conv_to_mlx(w: &[f32], out: usize, input: usize) -> Vec<f32> {
    let mut m = vec![0f32; w.len()];
    for o in 0..out {
        for i in 0..input {
            for k in 0..KERNEL {
                m[(o * KERNEL + k) * input + i] = w[(o * input + i) * KERNEL + k];
            }
        }
    }
    m
}

/// The shared parser names in-memory files `<memory>`: name ours instead.
fn relabel(e: Error, label: &Path) -> Error {
    match e {
        Error::CorruptModel { reason, .. } => Error::corrupt(label, reason),
        Error::Unsupported { what, .. } => Error::Unsupported {
            path: label.to_path_buf(),
            what,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A safetensors file of `tensors` (name, dtype, shape, values as f32 bytes).
    fn file(tensors: &[(&str, &str, Vec<u64>, usize)]) -> Vec<u8> {
        let mut header = serde_json::Map::new();
        let mut offset = 0u64;
        for (name, dtype, shape, bytes) in tensors {
            header.insert(
                name.to_string(),
                serde_json::json!({"dtype": dtype, "shape": shape,
                    "data_offsets": [offset, offset + *bytes as u64]}),
            );
            offset += *bytes as u64;
        }
        let json = serde_json::to_vec(&header).unwrap();
        let mut b = (json.len() as u64).to_le_bytes().to_vec();
        b.extend(json);
        b.resize(b.len() + offset as usize, 0);
        b
    }

    fn all_tensors() -> Vec<(String, Vec<u64>)> {
        let mut names = vec!["stft_conv.weight".to_string()];
        for i in 1..=4 {
            names.push(format!("conv{i}.weight"));
            names.push(format!("conv{i}.bias"));
        }
        for n in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"] {
            names.push(format!("lstm_cell.{n}"));
        }
        names.push("final_conv.weight".into());
        names.push("final_conv.bias".into());
        names
            .into_iter()
            .map(|n| {
                let s = expected_shape(&n).unwrap();
                (n, s)
            })
            .collect()
    }

    /// A complete file of zero weights, each tensor's dtype and shape first passed
    /// through `edit`.
    fn full_file(edit: impl Fn(&str, &mut String, &mut Vec<u64>)) -> Vec<u8> {
        let specs: Vec<(String, String, Vec<u64>, usize)> = all_tensors()
            .into_iter()
            .map(|(n, mut shape)| {
                let mut dtype = "F32".to_string();
                edit(&n, &mut dtype, &mut shape);
                let width = if dtype == "F16" { 2 } else { 4 };
                let bytes = shape.iter().product::<u64>() as usize * width;
                (n, dtype, shape, bytes)
            })
            .collect();
        let refs: Vec<(&str, &str, Vec<u64>, usize)> = specs
            .iter()
            .map(|(n, d, s, b)| (n.as_str(), d.as_str(), s.clone(), *b))
            .collect();
        file(&refs)
    }

    fn parse_with(edit: impl Fn(&str, &mut String, &mut Vec<u64>)) -> Result<SileroWeights> {
        SileroWeights::parse(&full_file(edit), Path::new("test.safetensors"))
    }

    fn reason(r: Result<SileroWeights>) -> String {
        match r {
            Err(Error::CorruptModel { path, reason }) => {
                assert_eq!(path, Path::new("test.safetensors"));
                reason
            }
            Err(other) => panic!("expected CorruptModel, got {other:?}"),
            Ok(_) => panic!("expected CorruptModel, but it parsed"),
        }
    }

    #[test]
    fn a_well_formed_file_parses() {
        let w = parse_with(|_, _, _| {}).unwrap();
        assert_eq!(w.stft_re.len(), N_FFT * N_FREQ);
        assert_eq!(w.w_hh_t.len(), GATES * HIDDEN);
        assert_eq!(w.convs[1].weight.len(), 64 * 128 * KERNEL);
    }

    #[test]
    fn wrong_shapes_dtypes_and_names_are_refused() {
        let r = reason(parse_with(|n, _, s| {
            if n == "conv2.weight" {
                s[1] = 129;
            }
        }));
        assert!(r.contains("conv2.weight has shape [64, 129, 3]"), "{r}");
        let r = reason(parse_with(|n, d, s| {
            if n == "final_conv.bias" {
                *d = "F16".into();
                s[0] = 2;
            }
        }));
        assert!(r.contains("final_conv.bias is F16"), "{r}");
        let r = reason(SileroWeights::parse(
            &file(&[("conv9.weight", "F32", vec![1], 4)]),
            Path::new("test.safetensors"),
        ));
        assert!(r.contains("unexpected tensor conv9.weight"), "{r}");
        let r = reason(SileroWeights::parse(
            &file(&[("conv1.bias", "F32", vec![128], 512)]),
            Path::new("test.safetensors"),
        ));
        assert!(r.contains("is missing"), "{r}");
    }

    #[test]
    fn truncated_and_lying_headers_are_refused() {
        let good = parse_with(|_, _, _| {});
        assert!(good.is_ok());
        let r = reason(SileroWeights::parse(
            &[1, 2, 3],
            Path::new("test.safetensors"),
        ));
        assert!(r.contains("truncated"), "{r}");
        let mut b = file(&[("conv1.bias", "F32", vec![128], 512)]);
        b.truncate(b.len() - 1);
        let r = reason(SileroWeights::parse(&b, Path::new("test.safetensors")));
        assert!(r.contains("past the end"), "{r}");
        let mut b = file(&[("conv1.bias", "F32", vec![128], 512)]);
        b[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        let r = reason(SileroWeights::parse(&b, Path::new("test.safetensors")));
        assert!(r.contains("exceeds"), "{r}");
    }

    #[test]
    fn non_finite_weights_are_refused() {
        // final_conv.bias is the file's last tensor.
        let mut b = full_file(|_, _, _| {});
        let n = b.len();
        b[n - 4..].copy_from_slice(&f32::NAN.to_le_bytes());
        let r = reason(SileroWeights::parse(&b, Path::new("test.safetensors")));
        assert!(r.contains("NaN"), "{r}");
    }

    #[test]
    fn layouts_are_transposed_as_documented() {
        assert_eq!(
            transpose(&[1., 2., 3., 4., 5., 6.], 2, 3),
            [1., 4., 2., 5., 3., 6.]
        );
        // out 1, in 2, k 3: [[a0 a1 a2], [b0 b1 b2]] → [[a0 b0], [a1 b1], [a2 b2]].
        let w = [0., 1., 2., 10., 11., 12.];
        assert_eq!(conv_to_mlx(&w, 1, 2), [0., 10., 1., 11., 2., 12.]);
    }
}
