//! The engine's settings: where models and Murmur's own files live, when an idle model
//! is unloaded, which models a call that names none uses.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::Precision;
use crate::hub::HubConfig;
use crate::whisper::ComputeDtype;

/// The Python sidecars' default model unload timeout.
pub const DEFAULT_IDLE_UNLOAD: Duration = Duration::from_secs(5 * 60);

/// Called on the loading thread before a model's files are read (with its id): lets a
/// test hold a load open to observe the `Loading` state, or an app log load starts.
pub type LoadHook = Arc<dyn Fn(&str) + Send + Sync>;

/// Engine settings.
#[derive(Clone)]
pub struct EngineConfig {
    /// Hub endpoint, token, cache folder, offline mode, retries.
    pub hub: HubConfig,
    /// Murmur's own settings folder; the user's added models live in `models.json` here.
    pub config_dir: PathBuf,
    /// Unload the loaded model after this long unused (`None`: never).
    pub idle_unload: Option<Duration>,
    /// The text model `refine(None, ..)` uses when none is loaded (default: the
    /// recommendation for this machine's RAM).
    pub default_model: Option<String>,
    /// The speech model `transcribe(None, ..)` uses when none is loaded (default: the
    /// recommendation for this machine's RAM).
    pub default_audio_model: Option<String>,
    /// Physical memory to base the recommendation on (default: this machine's).
    pub ram_bytes: Option<u64>,
    /// How loaded models compute (default: what suits the backend).
    pub precision: ModelPrecision,
    pub load_hook: Option<LoadHook>,
}

/// How the engine loads models: language-model weights as [`Precision`] says, Whisper in
/// `speech_dtype` (`None`: float16 on the GPU backends, float32 on the CPU one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelPrecision {
    pub text: Precision,
    pub speech_dtype: Option<ComputeDtype>,
}

impl std::fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineConfig")
            .field("hub", &self.hub)
            .field("config_dir", &self.config_dir)
            .field("idle_unload", &self.idle_unload)
            .field("default_model", &self.default_model)
            .field("default_audio_model", &self.default_audio_model)
            .field("ram_bytes", &self.ram_bytes)
            .field("precision", &self.precision)
            .field("load_hook", &self.load_hook.as_ref().map(|_| "<hook>"))
            .finish()
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self::from_env()
    }
}

impl EngineConfig {
    /// Hugging Face settings from the environment ([`HubConfig::from_env`]), Murmur's
    /// folder from `$MURMUR_CONFIG_DIR` (else the platform's config folder), the idle
    /// timeout from `$MURMUR_IDLE_UNLOAD_SECS` (0: never; default 5 minutes) and the
    /// default models from `$MURMUR_DEFAULT_MODEL` and `$MURMUR_DEFAULT_AUDIO_MODEL`.
    pub fn from_env() -> Self {
        use crate::hub::var;
        let idle_unload = match var("MURMUR_IDLE_UNLOAD_SECS").and_then(|s| s.parse::<f64>().ok()) {
            Some(s) if s <= 0.0 => None,
            Some(s) => Some(Duration::from_secs_f64(s)),
            None => Some(DEFAULT_IDLE_UNLOAD),
        };
        Self {
            hub: HubConfig::from_env(),
            config_dir: var("MURMUR_CONFIG_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(default_config_dir),
            idle_unload,
            default_model: var("MURMUR_DEFAULT_MODEL"),
            default_audio_model: var("MURMUR_DEFAULT_AUDIO_MODEL"),
            ram_bytes: None,
            precision: ModelPrecision::default(),
            load_hook: None,
        }
    }

    /// Where the user's added models are saved.
    pub fn user_models_path(&self) -> PathBuf {
        self.config_dir.join("models.json")
    }
}

fn default_config_dir() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    if cfg!(target_vendor = "apple") {
        return home.join("Library/Application Support/Murmur");
    }
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".config"))
        .join("murmur")
}
