//! The engine's settings: where models and Murmur's own files live, when an idle model
//! is unloaded, which models a call that names none uses.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::Precision;
use crate::error::{Error, Result};
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
    /// Physical memory to base the recommendations and the limits on (default: this
    /// machine's; `$MURMUR_RAM_BYTES` sets it, see [`EngineConfig::from_env`]).
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
    /// The longest idle timeout taken (a year; 0 stands for "never").
    pub const MAX_IDLE_UNLOAD: Duration = Duration::from_secs(365 * 24 * 3600);

    /// The least memory `$MURMUR_RAM_BYTES` takes (1 GiB): a smaller number is a slip
    /// (gigabytes meant, bytes given), not a machine Murmur runs on.
    pub const MIN_RAM_BYTES: u64 = 1 << 30;

    /// Hugging Face settings from the environment ([`HubConfig::from_env`]), Murmur's
    /// folder from `$MURMUR_CONFIG_DIR` (else the platform's config folder), the idle
    /// timeout from `$MURMUR_IDLE_UNLOAD_SECS` (0: never; default 5 minutes), the
    /// default models from `$MURMUR_DEFAULT_MODEL` and `$MURMUR_DEFAULT_AUDIO_MODEL`, and
    /// the memory the engine plans for from `$MURMUR_RAM_BYTES` (bytes, at least
    /// [`Self::MIN_RAM_BYTES`]; default: this machine's): it picks the recommended models
    /// and the memory tier's [`crate::system::Limits`] (longest dictation, refine token
    /// ceiling), so a machine can be told to plan as a smaller one would.
    ///
    /// Lenient, for faces that cannot report an error here: a value that
    /// [`EngineConfig::try_from_env`] refuses is left out (the default applies). Never
    /// panics, whatever the environment holds.
    pub fn from_env() -> Self {
        let config = Self::defaults_from_env();
        Self {
            idle_unload: idle_unload_env().unwrap_or(Some(DEFAULT_IDLE_UNLOAD)),
            config_dir: config_dir_env().unwrap_or_else(|_| default_config_dir()),
            ram_bytes: ram_bytes_env().unwrap_or(None),
            ..config
        }
    }

    /// [`EngineConfig::from_env`], refusing what it would leave out: every variable it
    /// reads is checked, and the first bad one is an [`Error::InvalidArgument`] that
    /// names the variable and what it accepts. For a daemon, which should fail at start
    /// rather than run on settings the user did not mean.
    pub fn try_from_env() -> Result<Self> {
        check_hub_env()?;
        let config = Self::defaults_from_env();
        Ok(Self {
            idle_unload: idle_unload_env()?,
            config_dir: config_dir_env()?,
            ram_bytes: ram_bytes_env()?,
            ..config
        })
    }

    /// The idle timeout `secs` (read from `name`) asks for: `None` for 0 (never),
    /// refused when it is not a number from 0 to [`Self::MAX_IDLE_UNLOAD`] (NaN, infinity and
    /// values `Duration` cannot hold would panic in `Duration::from_secs_f64`).
    pub fn idle_unload_from_secs(name: &str, secs: f64) -> Result<Option<Duration>> {
        if !(0.0..=Self::MAX_IDLE_UNLOAD.as_secs_f64()).contains(&secs) {
            return Err(Error::InvalidArgument {
                name: name.into(),
                reason: format!(
                    "{} is out of range: give a number of seconds from 0 (never unload) to {} (a year)",
                    // 1e300 as such, not as 301 digits.
                    if secs.abs() < 1e15 {
                        format!("{secs}")
                    } else {
                        format!("{secs:e}")
                    },
                    Self::MAX_IDLE_UNLOAD.as_secs()
                ),
            });
        }
        Ok((secs > 0.0).then(|| Duration::from_secs_f64(secs)))
    }

    /// Everything but the fields [`EngineConfig::try_from_env`] checks itself.
    fn defaults_from_env() -> Self {
        use crate::hub::var;
        Self {
            hub: HubConfig::from_env(),
            config_dir: default_config_dir(),
            idle_unload: Some(DEFAULT_IDLE_UNLOAD),
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

fn invalid(name: &str, reason: impl Into<String>) -> Error {
    Error::InvalidArgument {
        name: name.into(),
        reason: reason.into(),
    }
}

/// `$MURMUR_IDLE_UNLOAD_SECS`: unset is the default, 0 is never.
fn idle_unload_env() -> Result<Option<Duration>> {
    const NAME: &str = "MURMUR_IDLE_UNLOAD_SECS";
    let Some(v) = crate::hub::var(NAME) else {
        return Ok(Some(DEFAULT_IDLE_UNLOAD));
    };
    let secs = v.parse::<f64>().map_err(|_| {
        invalid(
            NAME,
            format!(
                "{v:?} is not a number: give seconds from 0 (never unload) to {} (a year)",
                EngineConfig::MAX_IDLE_UNLOAD.as_secs()
            ),
        )
    })?;
    EngineConfig::idle_unload_from_secs(NAME, secs)
}

/// `$MURMUR_RAM_BYTES`: unset is this machine's memory; else a whole number of bytes from
/// [`EngineConfig::MIN_RAM_BYTES`] up.
fn ram_bytes_env() -> Result<Option<u64>> {
    const NAME: &str = "MURMUR_RAM_BYTES";
    let Some(v) = crate::hub::var(NAME) else {
        return Ok(None);
    };
    match v.trim().parse::<u64>() {
        Ok(n) if n >= EngineConfig::MIN_RAM_BYTES => Ok(Some(n)),
        _ => Err(invalid(
            NAME,
            format!(
                "{v:?} is not a number of bytes of at least {} (1 GiB): give bytes, e.g. \
                 8589934592 for 8 GiB",
                EngineConfig::MIN_RAM_BYTES
            ),
        )),
    }
}

/// `$MURMUR_CONFIG_DIR`: an absolute path that is a folder or not there yet.
fn config_dir_env() -> Result<PathBuf> {
    match crate::hub::var("MURMUR_CONFIG_DIR") {
        Some(v) => folder_var("MURMUR_CONFIG_DIR", &v),
        None => Ok(default_config_dir()),
    }
}

/// A variable naming a folder: absolute (a relative one would depend on where the
/// process started), and a folder if it exists.
fn folder_var(name: &str, v: &str) -> Result<PathBuf> {
    let path = PathBuf::from(v);
    if !path.is_absolute() {
        return Err(invalid(
            name,
            format!("{v:?} is not an absolute path: give the full path of a folder"),
        ));
    }
    if path.exists() && !path.is_dir() {
        return Err(invalid(
            name,
            format!("{v:?} exists and is not a folder: give a folder (it is created if missing)"),
        ));
    }
    Ok(path)
}

/// The variables [`HubConfig::from_env`] reads, checked here so that a daemon refuses
/// them at start (`HubConfig` itself stays lenient, as huggingface_hub is).
fn check_hub_env() -> Result<()> {
    use crate::hub::var;
    if let Some(v) = var("HF_HUB_OFFLINE") {
        let known = ["1", "ON", "YES", "TRUE", "0", "OFF", "NO", "FALSE"];
        if !known.iter().any(|k| v.eq_ignore_ascii_case(k)) {
            return Err(invalid(
                "HF_HUB_OFFLINE",
                format!(
                    "{v:?} is not a yes/no value: give 1, on, yes or true (offline) or 0, off, no or false"
                ),
            ));
        }
    }
    if let Some(v) = var("HF_ENDPOINT") {
        let rest = v
            .strip_prefix("https://")
            .or_else(|| v.strip_prefix("http://"));
        if rest.is_none_or(|r| r.trim_matches('/').is_empty() || r.contains(char::is_whitespace)) {
            return Err(invalid(
                "HF_ENDPOINT",
                format!("{v:?} is not a URL: give one like https://huggingface.co"),
            ));
        }
    }
    for name in ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"] {
        if var(name).is_some_and(|t| !t.bytes().all(|b| b.is_ascii_graphic())) {
            // The token's value is never repeated in an error.
            return Err(invalid(
                name,
                "the token holds spaces or control characters: give the token alone",
            ));
        }
    }
    for name in [
        "HF_HOME",
        "HF_HUB_CACHE",
        "HUGGINGFACE_HUB_CACHE",
        "XDG_CACHE_HOME",
    ] {
        if let Some(v) = var(name) {
            folder_var(name, &v)?;
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_unload_is_refused_out_of_range_never_panics() {
        let f = |s| EngineConfig::idle_unload_from_secs("X", s);
        assert_eq!(f(0.0).unwrap(), None);
        assert_eq!(f(1.5).unwrap(), Some(Duration::from_millis(1500)));
        let max = EngineConfig::MAX_IDLE_UNLOAD;
        assert_eq!(f(max.as_secs_f64()).unwrap(), Some(max));
        for bad in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e300,
            -5.0,
            -0.5,
        ] {
            let e = f(bad).unwrap_err();
            assert!(
                matches!(&e, Error::InvalidArgument { name, reason } if name == "X" && reason.contains("from 0")),
                "{bad}: {e}"
            );
        }
    }
}
