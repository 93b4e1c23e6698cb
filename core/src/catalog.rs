//! The models Murmur knows: the Python sidecars' table of 4-bit mlx-community chat models, the
//! mlx-community Whisper models, and models the user added by repository id or local
//! folder (kept in a small JSON file so they survive restarts).
//!
//! An entry says where a model comes from (repository + pinned revision, or a folder),
//! which of the repository's files it needs (so a download never pulls every quantization
//! a repo happens to hold), what it can do (text refinement or transcription), and the
//! figures a UI shows before anything is downloaded (download size, RAM needed, which Macs
//! it suits). Sizes are the Hub's figures rounded; the exact ones come from the Hub when a
//! download starts.

use std::path::{Path, PathBuf};

pub use crate::files::glob_match;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::system::RamTier;

/// What a model can be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Capability {
    /// A chat model: refinement of text.
    Text,
    /// A speech-to-text model (Whisper).
    Audio,
}

/// Where a model's files come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ModelSource {
    /// A Hugging Face repository at a revision (a branch, tag or commit hash). A commit
    /// hash pins the exact files; a branch follows the repository.
    Hub { repo: String, revision: String },
    /// A folder or model file on disk the user pointed at; Murmur never downloads or
    /// deletes it.
    Local { path: PathBuf },
}

/// One model the engine can download, load and use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogModel {
    /// Canonical id, e.g. `qwen3-1.7b`.
    pub id: String,
    /// Human-readable name, e.g. `Qwen3 1.7B`.
    pub name: String,
    /// Other names that resolve to this model (the repository id always does too).
    #[serde(default)]
    pub aliases: Vec<String>,
    pub source: ModelSource,
    pub capabilities: Vec<Capability>,
    /// `config.json`'s `model_type` (`qwen3`, `gemma3_text`, `whisper`...), or empty when
    /// unknown (a user repository before its first download).
    #[serde(default)]
    pub architecture: String,
    /// Approximate download size in bytes (`None`: unknown until the Hub is asked).
    #[serde(default)]
    pub download_bytes: Option<u64>,
    /// Approximate memory the loaded model uses while working, in bytes.
    #[serde(default)]
    pub ram_bytes: Option<u64>,
    /// The RAM tier this model is the automatic recommendation for.
    #[serde(default)]
    pub recommended_tier: Option<RamTier>,
    /// One line for a model picker.
    #[serde(default)]
    pub description: String,
    /// Glob patterns (`*` and `?`, matched against the whole path in the repository, as
    /// huggingface_hub's `allow_patterns` do) of the files to download.
    pub files: Vec<String>,
    /// Patterns each of which must match at least one downloaded file for the model to
    /// count as complete (optional files like `generation_config.json` are left out).
    pub required: Vec<String>,
    /// `false` for models the user added.
    #[serde(default)]
    pub builtin: bool,
    /// A model file or folder named by its path in a call, known for this run only
    /// (never saved with the user's models).
    #[serde(default)]
    pub transient: bool,
}

impl CatalogModel {
    /// What the model is for, as the engine slots it: speech when it can only
    /// transcribe, else text.
    pub fn kind(&self) -> Capability {
        if self.has(Capability::Audio) && !self.has(Capability::Text) {
            Capability::Audio
        } else {
            Capability::Text
        }
    }

    /// A model the user named rather than a built-in one: no catalog figures, and the
    /// files of its capability unless `files` says which.
    fn user(
        id: String,
        name: String,
        source: ModelSource,
        capability: Capability,
        files: Option<Vec<String>>,
        transient: bool,
    ) -> Self {
        let (files, required) = match files {
            Some(files) => (files.clone(), files),
            None => default_files(capability),
        };
        let architecture = match &source {
            ModelSource::Local { path } => {
                let dir = if path.is_file() {
                    path.parent().unwrap_or(path)
                } else {
                    path
                };
                read_model_type(dir).unwrap_or_default()
            }
            ModelSource::Hub { .. } => String::new(),
        };
        let capabilities = capabilities_of(capability, &architecture);
        CatalogModel {
            id,
            name,
            aliases: Vec::new(),
            source,
            capabilities,
            architecture,
            download_bytes: None,
            ram_bytes: None,
            recommended_tier: None,
            description: String::new(),
            files,
            required,
            builtin: false,
            transient,
        }
    }

    /// Whether the model can do `capability`.
    pub fn has(&self, capability: Capability) -> bool {
        self.capabilities.contains(&capability)
    }

    /// The repository id, for Hub models.
    pub fn repo(&self) -> Option<&str> {
        match &self.source {
            ModelSource::Hub { repo, .. } => Some(repo),
            ModelSource::Local { .. } => None,
        }
    }

    /// Whether `name` (an id, alias or repository id, any case) names this model.
    pub fn matches(&self, name: &str) -> bool {
        let eq = |s: &str| s.eq_ignore_ascii_case(name);
        eq(&self.id)
            || self.aliases.iter().any(|a| eq(a))
            || self
                .repo()
                .is_some_and(|r| eq(r) || r.rsplit('/').next().is_some_and(eq))
    }

    /// Whether `path` (relative to the repository root) is one of this model's files.
    pub fn wants_file(&self, path: &str) -> bool {
        self.files.iter().any(|p| glob_match(p, path))
    }
}

/// Whether models of `model_type` take audio as well as text.
pub fn listens(model_type: &str) -> bool {
    model_type == "qwen2_5_omni"
}

/// What a model of `kind` and `model_type` can do: a text model that listens also
/// transcribes (Qwen2.5-Omni).
pub fn capabilities_of(kind: Capability, model_type: &str) -> Vec<Capability> {
    match kind {
        Capability::Text if listens(model_type) => vec![Capability::Text, Capability::Audio],
        kind => vec![kind],
    }
}

/// Files of an mlx-community chat model: weights (single or sharded), config, tokenizer
/// and chat template. Everything `ChatModel::load` reads, nothing else.
pub const TEXT_FILES: &[&str] = &[
    "config.json",
    "*.safetensors",
    "model.safetensors.index.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "generation_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "chat_template.json",
];
/// What a chat model cannot load without.
pub const TEXT_REQUIRED: &[&str] = &[
    "config.json",
    "*.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
];
/// Files of a Whisper model: mlx-community's `weights.npz` (older conversions) or
/// `weights.safetensors`, or CTranslate2's `model.bin` + `vocabulary.*` (Systran /
/// faster-whisper repositories), its config, and any tokenizer the repository carries.
pub const AUDIO_FILES: &[&str] = &[
    "config.json",
    "weights.npz",
    "*.safetensors",
    "model.bin",
    "vocabulary.*",
    "*.tiktoken",
    "tokenizer.json",
    "preprocessor_config.json",
];
/// What a Whisper model cannot load without (weights in either layout).
pub const AUDIO_REQUIRED: &[&str] = &["config.json", "weights.*|model.bin"];

const MB: u64 = 1_000_000;
const GB: u64 = 1_000_000_000;

struct Builtin {
    id: &'static str,
    name: &'static str,
    aliases: &'static [&'static str],
    repo: &'static str,
    /// What it does; the first decides which files it needs.
    capabilities: &'static [Capability],
    architecture: &'static str,
    download: u64,
    ram: u64,
    tier: Option<RamTier>,
    description: &'static str,
}

/// The Python sidecars' model table (download and RAM figures from it) plus Whisper. Revisions are
/// `main`: pin a commit hash here to freeze a model's files.
const BUILTINS: &[Builtin] = &[
    Builtin {
        id: "qwen3-0.6b",
        name: "Qwen3 0.6B",
        aliases: &["qwen3-0.6b-4bit"],
        repo: "mlx-community/Qwen3-0.6B-4bit",
        capabilities: &[Capability::Text],
        architecture: "qwen3",
        download: 400 * MB,
        ram: GB,
        tier: None,
        description: "Ultra-fast, simple corrections",
    },
    Builtin {
        id: "qwen3-1.7b",
        name: "Qwen3 1.7B",
        aliases: &["qwen3-1.7b-4bit", "qwen3"],
        repo: "mlx-community/Qwen3-1.7B-4bit",
        capabilities: &[Capability::Text],
        architecture: "qwen3",
        download: GB,
        ram: 2500 * MB,
        tier: Some(RamTier::Small),
        description: "Best for 8 GB Macs",
    },
    Builtin {
        id: "qwen3-4b",
        name: "Qwen3 4B Instruct 2507",
        aliases: &["qwen3-4b-instruct-2507", "qwen3-4b-2507", "qwen3-4b-4bit"],
        repo: "mlx-community/Qwen3-4B-Instruct-2507-4bit",
        capabilities: &[Capability::Text],
        architecture: "qwen3",
        download: 2260 * MB,
        ram: 4500 * MB,
        tier: Some(RamTier::Medium),
        description: "Best for 16 GB Macs",
    },
    Builtin {
        id: "qwen3-8b",
        name: "Qwen3 8B",
        aliases: &["qwen3-8b-4bit"],
        repo: "mlx-community/Qwen3-8B-4bit",
        capabilities: &[Capability::Text],
        architecture: "qwen3",
        download: 4700 * MB,
        ram: 7500 * MB,
        tier: Some(RamTier::Large),
        description: "Best for Macs with 24 GB or more",
    },
    Builtin {
        id: "gemma3-1b",
        name: "Gemma 3 1B",
        aliases: &["gemma-3-1b", "gemma3-1b-qat"],
        repo: "mlx-community/gemma-3-1b-it-qat-4bit",
        capabilities: &[Capability::Text],
        architecture: "gemma3_text",
        download: 800 * MB,
        ram: GB,
        tier: None,
        description: "Multi-language support",
    },
    Builtin {
        id: "gemma3-4b",
        name: "Gemma 3 4B",
        aliases: &["gemma-3-4b"],
        // The text-only conversion: the multimodal repos carry a vision tower that a
        // text refiner would load for nothing.
        repo: "mlx-community/gemma-3-text-4b-it-4bit",
        capabilities: &[Capability::Text],
        architecture: "gemma3_text",
        download: 2300 * MB,
        ram: 3 * GB,
        tier: None,
        description: "Strong multi-language",
    },
    Builtin {
        id: "smollm3-3b",
        name: "SmolLM3 3B",
        aliases: &["smollm3", "smollm3-3b-4bit"],
        repo: "mlx-community/SmolLM3-3B-4bit",
        capabilities: &[Capability::Text],
        architecture: "smollm3",
        download: 1800 * MB,
        ram: 2 * GB,
        tier: None,
        description: "Hugging Face's alternative",
    },
    // Audio-language models: they transcribe (with the language) and refine, loaded
    // once. The conversions mlx-lm-omni's README lists; Qwen's own checkpoints load too.
    Builtin {
        id: "qwen2.5-omni-3b",
        name: "Qwen2.5-Omni 3B (8-bit)",
        aliases: &["qwen2.5-omni-3b-8bit", "qwen-omni-3b"],
        repo: "giangndm/qwen2.5-omni-3b-mlx-8bit",
        capabilities: &[Capability::Text, Capability::Audio],
        architecture: "qwen2_5_omni",
        download: 4200 * MB,
        ram: 5 * GB,
        tier: Some(RamTier::Medium),
        description: "Listens and writes: transcript with language, then clean-up (16 GB Macs)",
    },
    Builtin {
        id: "qwen2.5-omni-7b",
        name: "Qwen2.5-Omni 7B (4-bit)",
        aliases: &["qwen2.5-omni-7b-4bit", "qwen-omni-7b"],
        repo: "giangndm/qwen2.5-omni-7b-mlx-4bit",
        capabilities: &[Capability::Text, Capability::Audio],
        architecture: "qwen2_5_omni",
        download: 5500 * MB,
        ram: 8 * GB,
        tier: Some(RamTier::Large),
        description: "Best audio-language model (Macs with 24 GB or more)",
    },
    Builtin {
        id: "whisper-tiny",
        name: "Whisper tiny",
        aliases: &["tiny"],
        repo: "mlx-community/whisper-tiny-mlx",
        capabilities: &[Capability::Audio],
        architecture: "whisper",
        download: 75 * MB,
        ram: 300 * MB,
        tier: None,
        description: "Fastest transcription, lowest accuracy",
    },
    Builtin {
        id: "whisper-base",
        name: "Whisper base",
        aliases: &["base"],
        repo: "mlx-community/whisper-base-mlx",
        capabilities: &[Capability::Audio],
        architecture: "whisper",
        download: 145 * MB,
        ram: 500 * MB,
        tier: None,
        description: "Fast transcription",
    },
    Builtin {
        id: "whisper-small",
        name: "Whisper small",
        aliases: &["small"],
        repo: "mlx-community/whisper-small-mlx",
        capabilities: &[Capability::Audio],
        architecture: "whisper",
        download: 480 * MB,
        ram: GB,
        tier: None,
        description: "Balanced transcription",
    },
    Builtin {
        id: "whisper-large-v3-turbo",
        name: "Whisper large-v3 turbo",
        aliases: &["large-v3-turbo", "turbo", "whisper-turbo"],
        repo: "mlx-community/whisper-large-v3-turbo",
        capabilities: &[Capability::Audio],
        architecture: "whisper",
        download: 1600 * MB,
        ram: 2500 * MB,
        tier: None,
        description: "Most accurate transcription",
    },
];

impl Builtin {
    fn to_model(&self) -> CatalogModel {
        let (files, required) = match self.capabilities[0] {
            Capability::Text => (TEXT_FILES, TEXT_REQUIRED),
            Capability::Audio => (AUDIO_FILES, AUDIO_REQUIRED),
        };
        CatalogModel {
            id: self.id.into(),
            name: self.name.into(),
            aliases: self.aliases.iter().map(|a| a.to_string()).collect(),
            source: ModelSource::Hub {
                repo: self.repo.into(),
                revision: "main".into(),
            },
            capabilities: self.capabilities.to_vec(),
            architecture: self.architecture.into(),
            download_bytes: Some(self.download),
            ram_bytes: Some(self.ram),
            recommended_tier: self.tier,
            description: self.description.into(),
            files: strings(files),
            required: strings(required),
            builtin: true,
            transient: false,
        }
    }
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

/// How a user adds a model: a repository id (`org/name`, optionally `org/name@revision`)
/// or a local folder.
#[derive(Debug, Clone, Default)]
pub struct AddModel {
    /// `org/name`, `org/name@revision`, or a path to a model folder.
    pub source: String,
    /// The id to use; default: the repository's or folder's name, lower-cased.
    pub id: Option<String>,
    /// What it is for; default: audio when the name mentions whisper, else text.
    pub capability: Option<Capability>,
    /// Which files to download; default: those of its capability (e.g. pass
    /// `["model.Q4_K_M.gguf"]` to take one quantization out of a GGUF repository).
    pub files: Option<Vec<String>>,
}

/// Built-in models plus the user's, persisted in `user_models_path`.
#[derive(Debug, Clone)]
pub struct Catalog {
    models: Vec<CatalogModel>,
    user_path: Option<PathBuf>,
}

#[derive(Serialize, Deserialize, Default)]
struct UserFile {
    #[serde(default)]
    models: Vec<CatalogModel>,
}

impl Catalog {
    /// Only the built-in models.
    pub fn builtin() -> Self {
        Self {
            models: BUILTINS.iter().map(Builtin::to_model).collect(),
            user_path: None,
        }
    }

    /// Built-in models plus those saved in `user_models` (a missing file is an empty
    /// list); `add` and `remove` write it back.
    pub fn load(user_models: &Path) -> Result<Self> {
        let mut catalog = Self::builtin();
        catalog.user_path = Some(user_models.to_path_buf());
        match std::fs::read(user_models) {
            Ok(bytes) => {
                let file: UserFile =
                    serde_json::from_slice(&bytes).map_err(|e| Error::InvalidArgument {
                        name: user_models.display().to_string(),
                        reason: format!("not a Murmur models file: {e}"),
                    })?;
                for mut m in file.models {
                    m.builtin = false;
                    // A saved entry never shadows a built-in id.
                    if catalog.get(&m.id).is_none() {
                        catalog.models.push(m);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(user_models, e)),
        }
        Ok(catalog)
    }

    /// Every model, built-in first.
    pub fn models(&self) -> &[CatalogModel] {
        &self.models
    }

    /// The model `name` names: an id, an alias or a repository id, in any case. Exact ids
    /// win over aliases.
    pub fn get(&self, name: &str) -> Option<&CatalogModel> {
        let name = name.trim();
        self.models
            .iter()
            .find(|m| m.id.eq_ignore_ascii_case(name))
            .or_else(|| self.models.iter().find(|m| m.matches(name)))
    }

    /// Like [`Catalog::get`], with a typed error.
    pub fn resolve(&self, name: &str) -> Result<&CatalogModel> {
        self.get(name).ok_or_else(|| Error::UnknownModel {
            id: name.to_string(),
        })
    }

    /// The text model recommended for a machine of this tier (≤ 8 GB → Qwen3 1.7B,
    /// 9–16 GB → Qwen3 4B, more → Qwen3 8B).
    pub fn recommended(&self, tier: RamTier) -> &CatalogModel {
        self.models
            .iter()
            .find(|m| m.builtin && m.recommended_tier == Some(tier))
            .expect("every RAM tier has a built-in recommendation")
    }

    /// The built-in speech model for a RAM tier: Whisper base where memory is tight,
    /// large-v3 turbo (the most accurate) elsewhere.
    pub fn recommended_audio(&self, tier: RamTier) -> &CatalogModel {
        let id = match tier {
            RamTier::Small => "whisper-base",
            _ => "whisper-large-v3-turbo",
        };
        self.models
            .iter()
            .find(|m| m.builtin && m.id == id)
            .expect("the built-in catalog has both Whisper models")
    }

    /// Add a user model and save the list. Adding the same source again replaces it.
    pub fn add(&mut self, add: &AddModel) -> Result<CatalogModel> {
        let source = add.source.trim();
        let local = Path::new(source);
        let (source_kind, default_id) = if local.exists() {
            let path = absolute(local)?;
            // A folder goes by its name, a model file by its name without extension.
            let name = match path.is_file() {
                true => path.file_stem(),
                false => path.file_name(),
            };
            let name = name
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            (ModelSource::Local { path }, name)
        } else if looks_like_repo(source) {
            let (repo, revision) = match source.split_once('@') {
                Some((r, rev)) if !rev.is_empty() => (r, rev),
                _ => (source.trim_end_matches('@'), "main"),
            };
            crate::hub::names::check_revision(revision)?;
            let name = repo.rsplit('/').next().unwrap_or(repo).to_string();
            (
                ModelSource::Hub {
                    repo: repo.into(),
                    revision: revision.into(),
                },
                name,
            )
        } else {
            return Err(Error::InvalidArgument {
                name: "source".into(),
                reason: format!(
                    "{source:?} is neither a model folder nor a repository id like org/name"
                ),
            });
        };
        let id = add.id.clone().unwrap_or_else(|| default_id.to_lowercase());
        if id.is_empty() || id.contains(char::is_whitespace) {
            return Err(Error::InvalidArgument {
                name: "id".into(),
                reason: format!("{id:?} is not a usable model id"),
            });
        }
        if self.models.iter().any(|m| m.builtin && m.matches(&id)) {
            return Err(Error::InvalidArgument {
                name: "id".into(),
                reason: format!("{id:?} is a built-in model's name"),
            });
        }
        let capability = match (add.capability, &source_kind) {
            // A file or folder says what it holds, and must hold a model: otherwise it
            // would be listed as downloaded and fail only when used.
            (given, ModelSource::Local { path }) => {
                let found = local_capability(path)?;
                if let Some(given) = given.filter(|&c| c != found) {
                    return Err(Error::InvalidArgument {
                        name: "capability".into(),
                        reason: format!(
                            "{} holds a {found:?} model, not the {given:?} one asked for",
                            path.display(),
                        ),
                    });
                }
                found
            }
            (Some(c), _) => c,
            // A repository not downloaded yet cannot: its name decides until the download
            // completes (the engine then reads its files).
            (None, ModelSource::Hub { .. }) if source.to_lowercase().contains("whisper") => {
                Capability::Audio
            }
            (None, ModelSource::Hub { .. }) => Capability::Text,
        };
        let model = CatalogModel::user(
            id.clone(),
            default_id,
            source_kind,
            capability,
            add.files.clone(),
            false,
        );
        self.models
            .retain(|m| m.builtin || (m.id != id && m.source != model.source));
        self.models.push(model.clone());
        self.save()?;
        Ok(model)
    }

    /// The model at `path` (a model file or folder on disk): the known one with that
    /// source, else a new entry for this run only ([`CatalogModel::transient`]; its id is
    /// the absolute path). What it is for comes from its own files, never its name.
    pub fn local(&mut self, path: &Path) -> Result<CatalogModel> {
        let path = absolute(path)?;
        if let Some(m) = self
            .models
            .iter()
            .find(|m| matches!(&m.source, ModelSource::Local { path: p } if *p == path))
        {
            return Ok(m.clone());
        }
        let capability = local_capability(&path)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let model = CatalogModel::user(
            path.display().to_string(),
            name,
            ModelSource::Local { path },
            capability,
            None,
            true,
        );
        self.models.push(model.clone());
        Ok(model)
    }

    /// Remove a user model from the list (its files are left alone). Built-in models
    /// cannot be removed.
    pub fn remove(&mut self, name: &str) -> Result<CatalogModel> {
        let model = self.resolve(name)?.clone();
        if model.builtin {
            return Err(Error::InvalidArgument {
                name: "model".into(),
                reason: format!("{} is built in and cannot be removed", model.id),
            });
        }
        self.models.retain(|m| m.id != model.id);
        self.save()?;
        Ok(model)
    }

    /// Record facts learnt about a user model (architecture, size) and save them.
    pub fn update(&mut self, id: &str, f: impl FnOnce(&mut CatalogModel)) -> Result<()> {
        if let Some(m) = self.models.iter_mut().find(|m| m.id == id && !m.builtin) {
            f(m);
            self.save()?;
        }
        Ok(())
    }

    fn save(&self) -> Result<()> {
        let Some(path) = &self.user_path else {
            return Ok(());
        };
        let file = UserFile {
            models: self
                .models
                .iter()
                .filter(|m| !m.builtin && !m.transient)
                .cloned()
                .collect(),
        };
        let json = serde_json::to_vec_pretty(&file).expect("catalog entries serialize");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        // Write then rename: a crash mid-write never leaves a truncated list.
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, json).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    }
}

/// `path` made absolute, symbolic links kept: a file in a Hugging Face snapshot links to
/// a blob named by its hash, and the link's name is what says what the file is.
fn absolute(path: &Path) -> Result<PathBuf> {
    let path = std::path::absolute(path).map_err(|e| Error::io(path, e))?;
    std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?;
    Ok(path)
}

/// [`detect_capability`], or an error that says what was expected.
fn local_capability(path: &Path) -> Result<Capability> {
    detect_capability(path).ok_or_else(|| Error::InvalidArgument {
        name: "model".into(),
        reason: format!(
            "{} is neither a model file (.gguf, model.bin) nor a folder holding one",
            path.display()
        ),
    })
}

/// The files a model of `capability` downloads, and those it cannot do without.
fn default_files(capability: Capability) -> (Vec<String>, Vec<String>) {
    match capability {
        Capability::Text => (strings(TEXT_FILES), strings(TEXT_REQUIRED)),
        Capability::Audio => (strings(AUDIO_FILES), strings(AUDIO_REQUIRED)),
    }
}

fn looks_like_repo(s: &str) -> bool {
    let repo = s.split('@').next().unwrap_or(s);
    let mut parts = repo.split('/');
    let ok = |p: Option<&str>| {
        p.is_some_and(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                && !p.starts_with('.')
        })
    };
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

/// What the model at `path` (a file or a folder) is for, from its files: a `.gguf` file
/// is a chat model; CTranslate2's `model.bin` and a `config.json` with Whisper's
/// dimensions (`n_mels`, or `model_type` "whisper") are speech models; another
/// `config.json` with a `model_type`, or a folder with one `.gguf`, is a chat model.
/// `None` when nothing there is a model.
pub fn detect_capability(path: &Path) -> Option<Capability> {
    if path.is_file() {
        let name = path.file_name()?.to_string_lossy().to_lowercase();
        return if name.ends_with(".gguf") {
            Some(Capability::Text)
        } else if name == "model.bin" {
            Some(Capability::Audio)
        } else {
            path.parent().and_then(detect_capability)
        };
    }
    let config = crate::files::read_json(&path.join("config.json")).ok();
    if let Some(c) = &config {
        let model_type = c.get("model_type").and_then(|v| v.as_str()).unwrap_or("");
        if c.get("n_mels").is_some() || model_type.contains("whisper") {
            return Some(Capability::Audio);
        }
    }
    if path.join("model.bin").is_file() {
        return Some(Capability::Audio);
    }
    let has_gguf = std::fs::read_dir(path).ok()?.flatten().any(|e| {
        e.path()
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("gguf"))
    });
    if has_gguf || config.is_some_and(|c| c.get("model_type").is_some()) {
        return Some(Capability::Text);
    }
    None
}

/// `model_type` from a folder's `config.json`, if it has one.
pub(crate) fn read_model_type(dir: &Path) -> Option<String> {
    let bytes = std::fs::read(dir.join("config.json")).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("model_type")?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_aliases_and_repos_resolve_to_one_model() {
        let c = Catalog::builtin();
        for name in [
            "qwen3-1.7b",
            "QWEN3-1.7B",
            "qwen3-1.7b-4bit",
            "mlx-community/Qwen3-1.7B-4bit",
            "Qwen3-1.7B-4bit",
        ] {
            assert_eq!(c.resolve(name).unwrap().id, "qwen3-1.7b", "{name}");
        }
        assert_eq!(
            c.resolve("turbo").unwrap().repo(),
            Some("mlx-community/whisper-large-v3-turbo")
        );
        assert!(matches!(c.resolve("nope"), Err(Error::UnknownModel { .. })));
    }

    #[test]
    fn a_text_model_that_listens_also_transcribes() {
        assert_eq!(
            capabilities_of(Capability::Text, "qwen2_5_omni"),
            [Capability::Text, Capability::Audio]
        );
        assert_eq!(
            capabilities_of(Capability::Text, "qwen2"),
            [Capability::Text]
        );
        assert_eq!(
            capabilities_of(Capability::Audio, "whisper"),
            [Capability::Audio]
        );
    }

    #[test]
    fn every_seed_model_and_whisper_is_listed_with_figures() {
        let c = Catalog::builtin();
        let ids: Vec<&str> = c.models().iter().map(|m| m.id.as_str()).collect();
        for id in [
            "qwen3-0.6b",
            "qwen3-1.7b",
            "qwen3-4b",
            "qwen3-8b",
            "gemma3-1b",
            "gemma3-4b",
            "smollm3-3b",
            "whisper-tiny",
            "whisper-base",
            "whisper-small",
            "whisper-large-v3-turbo",
            "qwen2.5-omni-3b",
            "qwen2.5-omni-7b",
        ] {
            assert!(ids.contains(&id), "{id} missing");
        }
        for m in c.models() {
            assert!(
                m.download_bytes.is_some() && m.ram_bytes.is_some(),
                "{}",
                m.id
            );
            assert!(!m.architecture.is_empty() && !m.files.is_empty() && !m.required.is_empty());
            // Speech models, and the audio-language models that also refine (slotted as
            // text models, with a RAM tier).
            let omni = m.id.starts_with("qwen2.5-omni");
            assert_eq!(
                m.has(Capability::Audio),
                m.id.starts_with("whisper") || omni,
                "{}",
                m.id
            );
            if omni {
                assert!(m.has(Capability::Text) && m.kind() == Capability::Text);
                assert!(listens(&m.architecture) && m.recommended_tier.is_some());
            }
        }
    }

    #[test]
    fn recommendation_follows_ram() {
        let c = Catalog::builtin();
        let gib = |n: u64| RamTier::from_bytes(n << 30);
        assert_eq!(c.recommended(gib(8)).id, "qwen3-1.7b");
        assert_eq!(c.recommended(gib(16)).id, "qwen3-4b");
        assert_eq!(c.recommended(gib(12)).id, "qwen3-4b");
        assert_eq!(c.recommended(gib(32)).id, "qwen3-8b");
    }

    #[test]
    fn file_patterns_pick_only_what_a_model_needs() {
        let qwen = Catalog::builtin().resolve("qwen3-4b").unwrap().clone();
        for f in [
            "config.json",
            "model.safetensors",
            "model-00001-of-00002.safetensors",
            "tokenizer.json",
        ] {
            assert!(qwen.wants_file(f), "{f}");
        }
        for f in [
            "README.md",
            ".gitattributes",
            "model.gguf",
            "pytorch_model.bin",
        ] {
            assert!(!qwen.wants_file(f), "{f}");
        }
        let whisper = Catalog::builtin().resolve("whisper-tiny").unwrap().clone();
        assert!(whisper.wants_file("weights.npz") && whisper.wants_file("multilingual.tiktoken"));
        assert!(glob_match("*.safetensors", "sub/dir/x.safetensors"));
        assert!(glob_match("weights.*", "weights.npz") && !glob_match("weights.*", "weights"));
        assert!(glob_match("a?c", "abc") && !glob_match("a?c", "ac"));
        assert!(glob_match("weights.*|model.bin", "model.bin"));
        assert!(!glob_match("weights.*|model.bin", "model.safetensors"));
    }

    #[test]
    fn user_models_persist_and_never_shadow_builtins() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("conf/models.json");
        let mut c = Catalog::load(&file).unwrap();
        let m = c
            .add(&AddModel {
                source: "someone/My-Model-4bit@v2".into(),
                ..AddModel::default()
            })
            .unwrap();
        assert_eq!(m.id, "my-model-4bit");
        assert_eq!(
            m.source,
            ModelSource::Hub {
                repo: "someone/My-Model-4bit".into(),
                revision: "v2".into()
            }
        );
        let folder = dir.path().join("whisper-local");
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join("config.json"), r#"{"model_type":"whisper"}"#).unwrap();
        let local = c
            .add(&AddModel {
                source: folder.display().to_string(),
                id: Some("mine".into()),
                ..AddModel::default()
            })
            .unwrap();
        assert_eq!(local.capabilities, vec![Capability::Audio]);
        assert_eq!(local.architecture, "whisper");

        // A revision that would climb out of the cache, and a folder with no model in
        // it (even when its kind is given), are refused rather than listed.
        let err = c.add(&AddModel {
            source: "someone/model@../../..".into(),
            ..AddModel::default()
        });
        assert!(matches!(err, Err(Error::InvalidArgument { ref name, .. }) if name == "revision"));
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        std::fs::write(empty.join("notes.txt"), "no model here").unwrap();
        for capability in [None, Some(Capability::Text)] {
            let err = c.add(&AddModel {
                source: empty.display().to_string(),
                capability,
                ..AddModel::default()
            });
            assert!(matches!(err, Err(Error::InvalidArgument { .. })), "{err:?}");
        }
        let err = c.add(&AddModel {
            source: folder.display().to_string(),
            capability: Some(Capability::Text),
            ..AddModel::default()
        });
        assert!(
            matches!(err, Err(Error::InvalidArgument { ref name, .. }) if name == "capability")
        );

        let again = Catalog::load(&file).unwrap();
        assert_eq!(again.resolve("my-model-4bit").unwrap(), &m);
        assert_eq!(again.resolve("mine").unwrap().source, local.source);
        let mut again = again;
        assert!(
            again
                .add(&AddModel {
                    source: "a/b".into(),
                    id: Some("qwen3".into()),
                    ..Default::default()
                })
                .is_err()
        );
        assert!(again.remove("qwen3-1.7b").is_err());
        again.remove("mine").unwrap();
        assert!(Catalog::load(&file).unwrap().get("mine").is_none());
        assert!(
            c.add(&AddModel {
                source: "not a repo".into(),
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn a_model_file_is_added_and_its_kind_comes_from_its_contents() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Catalog::load(&dir.path().join("conf/models.json")).unwrap();
        // A folder named like a speech model that holds a chat model is a chat model.
        let folder = dir.path().join("Whisper-Notes");
        std::fs::create_dir(&folder).unwrap();
        let gguf = folder.join("Tiny-Chat.Q4_0.gguf");
        std::fs::write(&gguf, b"GGUF").unwrap();
        let file = c
            .add(&AddModel {
                source: gguf.display().to_string(),
                ..AddModel::default()
            })
            .unwrap();
        assert_eq!(file.id, "tiny-chat.q4_0");
        assert_eq!(file.capabilities, vec![Capability::Text]);
        assert_eq!(file.source, ModelSource::Local { path: gguf.clone() });
        assert_eq!(
            c.add(&AddModel {
                source: folder.display().to_string(),
                id: Some("notes".into()),
                ..AddModel::default()
            })
            .unwrap()
            .capabilities,
            vec![Capability::Text]
        );
        // A path to something that holds no model is refused, not guessed.
        let empty = dir.path().join("whisper-empty");
        std::fs::create_dir(&empty).unwrap();
        let err = c
            .add(&AddModel {
                source: empty.display().to_string(),
                ..AddModel::default()
            })
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidArgument { reason, .. } if reason.contains("neither a model file")),
            "{err:?}"
        );
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "hello").unwrap();
        assert!(c.local(&text).is_err());
    }
}
