//! Activation tracing for diagnosing a backend's numerics: with
//! `MURMUR_TRACE_ACTIVATIONS=1`, every architecture's forward pass prints each block's
//! output range to stderr (evaluating as it goes, so only for diagnosis). It is how a
//! model that is right on one backend and wrong on another (NaN, overflow in half
//! precision, a miscompiled kernel) is narrowed to the first block that differs: run the
//! same prompt on both and compare the lines.

use std::sync::OnceLock;

use mlx_rs::{Array, Dtype};

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("MURMUR_TRACE_ACTIVATIONS").is_some_and(|v| v != "0"))
}

/// Prints `x`'s shape, dtype, largest magnitude and non-finite count as `label`, when
/// tracing is on; otherwise does nothing (one cached flag read).
pub(crate) fn activation(label: &str, x: &Array) {
    if !enabled() {
        return;
    }
    let stats = || -> Result<(f32, f32, u32), mlx_rs::error::Exception> {
        let f = x.as_dtype(Dtype::Float32)?;
        let finite = f.abs()?.lt(Array::from_f32(f32::INFINITY))?;
        let bad = finite.logical_not()?.sum(None)?.as_dtype(Dtype::Uint32)?;
        let max_abs = mlx_rs::ops::select(&finite, &f.abs()?, Array::from_f32(0.0))?.max(None)?;
        let mean = mlx_rs::ops::select(&finite, &f, Array::from_f32(0.0))?.mean(None)?;
        mlx_rs::transforms::eval([&bad, &max_abs, &mean])?;
        Ok((
            max_abs.item_cast::<f32>(),
            mean.item_cast::<f32>(),
            bad.item_cast::<u32>(),
        ))
    };
    match stats() {
        Ok((max_abs, mean, bad)) => eprintln!(
            "[trace] {label}: shape {:?} {:?} max|x| {max_abs:.4} mean {mean:.6} non-finite {bad}",
            x.shape(),
            x.dtype()
        ),
        Err(e) => eprintln!("[trace] {label}: {e}"),
    }
}
