//! [`Engine::chat`]: a conversation answered by the engine's text model.

use super::Engine;
use super::slots::Model;
use crate::cancel::CancelToken;
use crate::catalog::Capability;
use crate::chat::{ChatOptions, ChatResult};
use crate::error::Result;

impl Engine {
    /// Answer `opts.messages` with a text model (`None`: [`Engine::default_for`]), loading
    /// it first if needed; the result names the model. The answer streams to `on_text`
    /// (called on a blocking thread) as it is generated; `cancel` stops generation within
    /// one token (the result then has `FinishReason::Cancelled`), or ends a call still
    /// loading its model or queued behind another with [`crate::Error::Cancelled`]. The
    /// token budget defaults to this engine's memory tier's ceiling.
    pub async fn chat(
        &self,
        model: Option<&str>,
        opts: &ChatOptions,
        mut on_text: impl FnMut(&str) + Send + 'static,
        cancel: &CancelToken,
    ) -> Result<ChatResult> {
        // Bad settings fail before a model is chosen, downloaded or loaded for them.
        opts.validate()?;
        let m = self.choose(model, Capability::Text)?;
        let mut opts = opts.clone();
        opts.ram_tier.get_or_insert(self.inner.ram_tier());
        let mut result = self
            .run(
                &m,
                Capability::Text,
                cancel,
                move |model, cancel| match model {
                    Model::Chat(chat) => crate::chat::chat(chat, &opts, cancel, &mut on_text),
                    Model::Whisper(_) => unreachable!("the text slot holds chat models"),
                },
            )
            .await?;
        result.model = m.id;
        Ok(result)
    }
}
