//! What MLX computes on in this process, and the precision choices that follow from it.
//!
//! MLX's GPU backends (Metal, CUDA) have fast half-precision and quantized kernels, so
//! models run as stored there. Its CPU backend does not: on x86 its element-wise and
//! quantized-matmul kernels are scalar loops over one core, and only float32 matrix
//! products go through a BLAS. A 4-bit SmolLM2-135M decoded at under 6 tokens/s and
//! prefilled at 9 tokens/s that way; dequantized to float32 behind an optimized BLAS it
//! prefills some twenty times faster (BENCHMARKS.md, CPU section). So on the CPU backend
//! weights are held as dense float32 when that fits in memory ([`Precision::Auto`]).

use std::ffi::{CStr, c_char, c_int, c_void};
use std::path::PathBuf;

use mlx_rs::{Device, DeviceType, Dtype};
use serde::{Deserialize, Serialize};

/// Which kind of device MLX's default stream runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    Cpu,
    Gpu,
}

impl DeviceKind {
    /// The default device's kind (MLX picks the GPU when its build has one).
    pub fn current() -> Self {
        match Device::try_default().and_then(|d| d.get_type()) {
            Ok(DeviceType::Gpu) => DeviceKind::Gpu,
            _ => DeviceKind::Cpu,
        }
    }

    /// Whether half precision is the fast choice: on the GPU backends yes; on the CPU
    /// backend float32 is (BLAS matmuls, no half-to-float conversion per element).
    pub fn fast_half(self) -> bool {
        self == DeviceKind::Gpu
    }
}

/// How a model's weights are held in memory for computing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// As stored on the GPU backends; on the CPU backend dense float32 when the dense
    /// copy takes at most a quarter of the machine's memory, else as stored.
    #[default]
    Auto,
    /// As stored: quantized weights stay quantized, half precision stays half.
    AsStored,
    /// Dequantized and cast to float32, whatever the backend.
    Float32,
}

impl Precision {
    /// The dtype every weight is converted to at load, or `None` to keep them as
    /// stored, for a model whose dense float32 copy takes `dense_f32_bytes`.
    pub fn dense_dtype(self, dense_f32_bytes: u64) -> Option<Dtype> {
        match self {
            Precision::AsStored => None,
            Precision::Float32 => Some(Dtype::Float32),
            Precision::Auto => {
                let fits = crate::system::total_memory_bytes()
                    .is_some_and(|total| dense_f32_bytes <= total / 4);
                (!DeviceKind::current().fast_half() && fits).then_some(Dtype::Float32)
            }
        }
    }
}

impl std::str::FromStr for Precision {
    type Err = crate::Error;

    /// `auto`, `as-stored` (or `as_stored`), `float32`.
    fn from_str(s: &str) -> crate::Result<Self> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "auto" => Ok(Precision::Auto),
            "as-stored" => Ok(Precision::AsStored),
            "float32" | "f32" => Ok(Precision::Float32),
            other => Err(crate::Error::InvalidArgument {
                name: "precision".into(),
                reason: format!("{other:?} is not auto, as-stored or float32"),
            }),
        }
    }
}

/// The BLAS library that serves MLX's float32 matrix products in this process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlasInfo {
    /// The shared library `cblas_sgemm` resolves to.
    pub library: PathBuf,
    /// What the library says it is, e.g. "OpenBLAS 0.3.21 ..." or "BLIS 0.9.0";
    /// "reference" for netlib's BLAS, which reports nothing.
    pub name: String,
    /// Threads it computes with, when it says.
    pub threads: Option<usize>,
}

/// What MLX runs on here, for `murmur doctor` and bug reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendReport {
    pub mlx_version: String,
    /// MLX's name for the default device, e.g. `Device(cpu, 0)`.
    pub device: String,
    pub kind: DeviceKind,
    /// `None` where no CBLAS is linked into the process (MLX's GPU-only builds).
    pub blas: Option<BlasInfo>,
    /// What Whisper computes in by default here.
    pub whisper_dtype: String,
    /// What [`Precision::Auto`] does with a language model here.
    pub llm_weights: String,
}

impl BackendReport {
    pub fn probe() -> Self {
        configure_blas();
        let kind = DeviceKind::current();
        let device = Device::try_default()
            .map(|d| d.to_string())
            .unwrap_or_else(|e| format!("unavailable ({e})"));
        BackendReport {
            mlx_version: mlx_version(),
            device,
            kind,
            blas: blas(),
            whisper_dtype: if kind.fast_half() {
                "float16"
            } else {
                "float32"
            }
            .into(),
            llm_weights: if kind.fast_half() {
                "as stored".into()
            } else {
                "dense float32 when it fits in a quarter of memory, else as stored".into()
            },
        }
    }
}

fn mlx_version() -> String {
    // SAFETY: mlx_version fills an mlx_string we own; its data is a NUL-terminated
    // string valid until the string is freed, and we copy it before freeing.
    unsafe {
        let mut s = mlx_sys::mlx_string_new();
        let ok = mlx_sys::mlx_version(&mut s) == 0;
        let data = mlx_sys::mlx_string_data(s);
        let v =
            (ok && !data.is_null()).then(|| CStr::from_ptr(data).to_string_lossy().into_owned());
        mlx_sys::mlx_string_free(s);
        v.unwrap_or_else(|| "unknown".into())
    }
}

/// A symbol of the process's global scope (libmlx.so's dependencies included).
fn symbol(name: &CStr) -> Option<*mut c_void> {
    symbol_in(libc::RTLD_DEFAULT, name)
}

/// A symbol of one loaded library (`handle` from `dlopen`) or its dependencies.
fn symbol_in(handle: *mut c_void, name: &CStr) -> Option<*mut c_void> {
    // SAFETY: dlsym only looks the name up.
    let p = unsafe { libc::dlsym(handle, name.as_ptr()) };
    (!p.is_null()).then_some(p)
}

/// Which BLAS `cblas_sgemm` comes from, as the dynamic linker resolved it.
pub fn blas() -> Option<BlasInfo> {
    let sgemm = symbol(c"cblas_sgemm")?;
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr writes into `info`; `dli_fname` points into the loader's tables.
    let library = if unsafe { libc::dladdr(sgemm, &mut info) } != 0 && !info.dli_fname.is_null() {
        let name = unsafe { CStr::from_ptr(info.dli_fname) }
            .to_string_lossy()
            .into_owned();
        std::fs::canonicalize(&name).unwrap_or_else(|_| PathBuf::from(name))
    } else {
        PathBuf::from("unknown")
    };
    // Ask the library that serves cblas_sgemm itself: another BLAS may be loaded beside
    // it (e.g. libmlx.so's own, when a reference BLAS is preloaded over it).
    let c_path = std::ffi::CString::new(library.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: RTLD_NOLOAD only returns a handle to a library already loaded.
    let handle = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD) };
    let (name, threads) = describe_blas(if handle.is_null() {
        libc::RTLD_DEFAULT
    } else {
        handle
    });
    if !handle.is_null() {
        // SAFETY: balances the dlopen above; the library stays loaded (others hold it).
        unsafe { libc::dlclose(handle) };
    }
    Some(BlasInfo {
        library,
        name,
        threads,
    })
}

fn describe_blas(lib: *mut c_void) -> (String, Option<usize>) {
    type GetStr = unsafe extern "C" fn() -> *const c_char;
    type GetInt = unsafe extern "C" fn() -> c_int;
    let text = |f: *mut c_void| {
        // SAFETY: both libraries document these getters as returning static strings.
        let s = unsafe { std::mem::transmute::<*mut c_void, GetStr>(f)() };
        (!s.is_null()).then(|| unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned())
    };
    let int = |f: *mut c_void| {
        // SAFETY: thread-count getters take no arguments and return an int.
        let n = unsafe { std::mem::transmute::<*mut c_void, GetInt>(f)() };
        usize::try_from(n).ok().filter(|&n| n > 0)
    };
    if let Some(f) = symbol_in(lib, c"openblas_get_config") {
        let threads = symbol_in(lib, c"openblas_get_num_threads").and_then(int);
        let name = text(f).unwrap_or_default();
        return (format!("OpenBLAS ({})", name.trim()), threads);
    }
    if let Some(f) = symbol_in(lib, c"bli_info_get_version_str") {
        let threads = symbol_in(lib, c"bli_thread_get_num_threads").and_then(int);
        return (format!("BLIS {}", text(f).unwrap_or_default()), threads);
    }
    if cfg!(target_vendor = "apple") {
        return ("Accelerate".into(), None);
    }
    ("reference (netlib)".into(), Some(1))
}

/// Give a BLIS library every core unless the user chose (`BLIS_NUM_THREADS`): BLIS
/// starts single-threaded, where OpenBLAS and Accelerate use all cores. Idempotent.
pub fn configure_blas() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let user_set = ["BLIS_NUM_THREADS", "OMP_NUM_THREADS"]
            .iter()
            .any(|v| std::env::var_os(v).is_some());
        if user_set {
            return;
        }
        if let Some(f) = symbol(c"bli_thread_set_num_threads") {
            type SetThreads = unsafe extern "C" fn(i64);
            let n = std::thread::available_parallelism().map_or(1, |n| n.get());
            // SAFETY: BLIS's `void bli_thread_set_num_threads(dim_t)`; dim_t is int64.
            unsafe { std::mem::transmute::<*mut c_void, SetThreads>(f)(n as i64) };
        }
    });
}
