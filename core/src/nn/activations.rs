//! Activations, each compiled once per thread into one fused kernel.

use std::cell::RefCell;

use mlx_rs::Array;

use crate::error::Result;

type Exception = mlx_rs::error::Exception;
type Unary = Box<dyn for<'a> FnMut(&'a Array) -> std::result::Result<Array, Exception>>;
type Binary =
    Box<dyn for<'a> FnMut((&'a Array, &'a Array)) -> std::result::Result<Array, Exception>>;

thread_local! {
    // Compiled closures are built once per thread and reused: creating one costs tens
    // of microseconds, which per layer and token is more than the graph it replaces.
    // (They are not `Send`, hence thread-local rather than stored in the model.)
    static SWIGLU: RefCell<Option<Binary>> = const { RefCell::new(None) };
    static GELU_APPROX: RefCell<Option<Unary>> = const { RefCell::new(None) };
    static GELU: RefCell<Option<Unary>> = const { RefCell::new(None) };
}

/// Apply the unary function `f`, compiled on this thread's first call and cached in
/// `cell` for the later ones.
fn compiled_unary(
    cell: &'static std::thread::LocalKey<RefCell<Option<Unary>>>,
    f: fn(&Array) -> std::result::Result<Array, Exception>,
    x: &Array,
) -> Result<Array> {
    cell.with_borrow_mut(|c| {
        let compiled =
            c.get_or_insert_with(|| Box::new(mlx_rs::transforms::compile::compile(f, true)));
        Ok(compiled(x)?)
    })
}

/// `silu(gate) · x`, the SwiGLU gate of Llama-family MLPs, compiled into one fused
/// kernel (mlx-lm compiles the same function; separately it costs an extra kernel
/// launch and a round trip through memory per layer and token).
pub fn swiglu(gate: &Array, x: &Array) -> Result<Array> {
    fn f((g, x): (&Array, &Array)) -> std::result::Result<Array, Exception> {
        g.multiply(mlx_rs::ops::sigmoid(g)?)?.multiply(x)
    }
    SWIGLU.with_borrow_mut(|c| {
        let compiled =
            c.get_or_insert_with(|| Box::new(mlx_rs::transforms::compile::compile(f, true)));
        Ok(compiled((gate, x))?)
    })
}

/// GELU, tanh approximation (Gemma's `gelu_pytorch_tanh`), computed in `x`'s own
/// dtype as mlx-lm does (mlx-rs's version promotes bf16 activations to f32, which
/// changes results), and compiled into one fused kernel.
pub fn gelu_approx(x: &Array) -> Result<Array> {
    fn f(x: &Array) -> std::result::Result<Array, Exception> {
        let c = |v: f32| Array::from_f32(v).as_dtype(x.dtype());
        let cubic = x.power(&c(3.0)?)?;
        let inner = c((2.0 / std::f32::consts::PI).sqrt())?
            .multiply(x.add(c(0.044715)?.multiply(&cubic)?)?)?;
        c(0.5)?
            .multiply(x)?
            .multiply(c(1.0)?.add(mlx_rs::ops::tanh(&inner)?)?)
    }
    compiled_unary(&GELU_APPROX, f, x)
}

/// Exact GELU, `x · (1 + erf(x / √2)) / 2`, computed in `x`'s own dtype as MLX's Python
/// `nn.gelu` does (mlx-rs's `nn::gelu` promotes half-precision activations to f32),
/// compiled into one fused kernel.
pub fn gelu(x: &Array) -> Result<Array> {
    fn f(x: &Array) -> std::result::Result<Array, Exception> {
        let c = |v: f32| Array::from_f32(v).as_dtype(x.dtype());
        let erf = mlx_rs::ops::erf(x.divide(c(std::f32::consts::SQRT_2)?)?)?;
        x.multiply(c(1.0)?.add(erf)?)?.divide(c(2.0)?)
    }
    compiled_unary(&GELU, f, x)
}
