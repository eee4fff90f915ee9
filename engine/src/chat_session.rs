//! Multi-turn chat on one conversation's caches. Each turn renders the whole conversation with
//! the model's chat template, and only the tokens past what the caches already hold are
//! prefilled; if the new rendering does not extend the cached tokens (the template rewrote
//! history, or the generated text re-tokenizes differently) the conversation is re-prefilled.
use std::ops::ControlFlow;

use crate::Result;
use crate::generate::{GenerateOptions, Generator, Outcome, TokenEvent};
use crate::model_files::{ChatMessage, ChatOptions, ChatTemplate, Tokenizer};

pub struct ChatSession<'m> {
    pub generator: Generator<'m>,
    tokenizer: &'m Tokenizer,
    template: ChatTemplate,
    pub messages: Vec<ChatMessage>,
    /// Tokens of the last turn that were already in the caches (for tests and the viewer).
    pub reused_tokens: usize,
}

impl<'m> ChatSession<'m> {
    pub fn new(
        generator: Generator<'m>,
        tokenizer: &'m Tokenizer,
        system: Option<&str>,
    ) -> Result<Self> {
        let template = ChatTemplate::from_tokenizer(tokenizer)?;
        let messages = system
            .map(|s| vec![ChatMessage::system(s)])
            .unwrap_or_default();
        Ok(ChatSession {
            generator,
            tokenizer,
            template,
            messages,
            reused_tokens: 0,
        })
    }

    /// Starts over, keeping the system prompt if there is one.
    pub fn clear(&mut self) -> Result<()> {
        self.messages.retain(|m| m.role == "system");
        self.messages.truncate(1);
        self.generator.reset()
    }

    /// The token ids of the conversation so far plus the assistant generation prompt.
    pub fn render_prompt(&self) -> Result<Vec<u32>> {
        let opts = ChatOptions {
            add_generation_prompt: true,
            ..Default::default()
        };
        let text = self.template.render(&self.messages, &opts)?;
        self.tokenizer.encode(&text)
    }

    /// Adds a user turn and streams the assistant's reply, which is added to the conversation.
    pub fn send(
        &mut self,
        user: &str,
        opts: &GenerateOptions,
        on_token: impl FnMut(TokenEvent) -> ControlFlow<()>,
    ) -> Result<Outcome> {
        self.messages.push(ChatMessage::user(user));
        let ids = self.render_prompt()?;
        let cached = self.generator.tokens();
        let new = if ids.len() > cached.len() && ids[..cached.len()] == cached[..] {
            self.reused_tokens = cached.len();
            // The pending sampled token (the reply's end-of-text) is part of `cached`: it is fed
            // first by the generator, so skip it here.
            ids[cached.len()..].to_vec()
        } else {
            self.reused_tokens = 0;
            self.generator.reset()?;
            ids
        };
        let out = self
            .generator
            .generate(&new, opts, Some(self.tokenizer), on_token);
        match out {
            Ok(out) => {
                self.messages.push(ChatMessage::assistant(&out.text));
                Ok(out)
            }
            Err(e) => {
                self.messages.pop();
                Err(e)
            }
        }
    }
}
