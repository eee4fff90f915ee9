//! One conversation on an opened model: its caches, the tokens in them, and (when it chats)
//! its transcript. Input is fed as text, token ids or chat messages; generation streams
//! step-wise through a [`Stream`] (one prefill chunk or one token per step), so the caller
//! decides when the GPU works next and can stop at any step.
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::engine::Shared;
use super::memory::{SessionMemory, SessionStats};
use super::stream::Stream;
use crate::generate::{Decoding, Event, GenerateOptions, Generator, GeneratorSnapshot, Outcome};
use crate::gpu::{Profile, SharedProfile};
use crate::model_files::{ChatMessage, ChatOptions};
use crate::{Error, Result};

/// How to open a session.
#[derive(Clone, Debug, Default)]
pub struct SessionOptions {
    /// The most tokens the conversation may hold (default: the engine's default context;
    /// never more than the model's limit).
    pub context: Option<usize>,
}

/// What to feed a session.
#[derive(Clone, Debug)]
pub enum Input {
    /// Text appended to the conversation as it is (no template).
    Text(String),
    /// Token ids appended to the conversation.
    Tokens(Vec<u32>),
    /// The whole conversation so far, rendered with the model's chat template. Whatever prefix
    /// of its tokens the caches already hold is not prefilled again; a conversation that does
    /// not extend the cached one starts over. [`Session::generate`] always adds the
    /// assistant's generation prompt.
    Chat {
        messages: Vec<ChatMessage>,
        options: ChatOptions,
    },
}

impl Input {
    /// A chat conversation with default template options.
    pub fn chat(messages: Vec<ChatMessage>) -> Input {
        Input::Chat {
            messages,
            options: ChatOptions::default(),
        }
    }
}

/// A conversation.
pub struct Session {
    pub(crate) shared: Arc<Shared>,
    pub(crate) generator: Generator,
    /// The conversation as chat messages, when it was fed as chat.
    pub(crate) messages: Vec<ChatMessage>,
    pub(crate) stats: Arc<SessionStats>,
    profile: Option<SharedProfile>,
    /// The generation in progress, if any.
    active: Option<Active>,
}

/// A generation in progress on a session.
struct Active {
    decoding: Decoding,
    /// Prompt tokens the caches already held.
    cached: usize,
    /// Add the reply to the chat transcript when it ends.
    chat: bool,
}

/// A session's state at one point: restore it into the session, or fork from it.
pub struct Snapshot {
    generator: GeneratorSnapshot,
    messages: Vec<ChatMessage>,
}

impl Snapshot {
    /// GPU bytes the snapshot holds (cache copies).
    pub fn bytes(&self) -> u64 {
        self.generator.bytes()
    }

    /// Tokens in the snapshot's conversation.
    pub fn tokens(&self) -> usize {
        self.generator.len()
    }
}

impl Session {
    pub(crate) fn new(shared: Arc<Shared>, opts: &SessionOptions) -> Result<Session> {
        let context = opts.context.unwrap_or(shared.info.default_context);
        if context == 0 {
            return Err(Error::Input(
                "a session's context must be at least 1 token".into(),
            ));
        }
        let generator = Generator::new(shared.model.clone(), context)?;
        Ok(Session::with_generator(shared, generator, Vec::new()))
    }

    fn with_generator(
        shared: Arc<Shared>,
        generator: Generator,
        messages: Vec<ChatMessage>,
    ) -> Session {
        let stats = Arc::new(SessionStats {
            id: shared.next_id.fetch_add(1, Ordering::Relaxed),
            ..Default::default()
        });
        if let Ok(mut list) = shared.sessions.lock() {
            list.push(Arc::downgrade(&stats));
        }
        let s = Session {
            shared,
            generator,
            messages,
            stats,
            profile: None,
            active: None,
        };
        s.update_stats();
        s
    }

    /// This session's id in [`crate::Engine::memory`].
    pub fn id(&self) -> u64 {
        self.stats.id
    }

    /// Tokens in the conversation (including a sampled token not yet fed).
    pub fn tokens(&self) -> Vec<u32> {
        self.generator.tokens()
    }

    /// The most tokens the conversation may hold.
    pub fn context(&self) -> usize {
        self.generator.max_context()
    }

    /// The transcript when the session was fed chat messages: the last conversation given,
    /// plus the assistant replies generated after it.
    pub fn messages(&self) -> &[ChatMessage] {
        &self.messages
    }

    /// The caches this session holds.
    pub fn memory(&self) -> SessionMemory {
        self.stats.report()
    }

    pub(crate) fn update_stats(&self) {
        self.stats
            .set(self.generator.len(), self.generator.cache_bytes());
    }

    /// Token ids to feed for `input` and how many of its tokens the caches already hold;
    /// resets the conversation when a chat does not extend it.
    pub(crate) fn input_ids(
        &mut self,
        input: &Input,
        generation: bool,
    ) -> Result<(Vec<u32>, usize)> {
        match input {
            Input::Text(t) => Ok((self.shared.tokenizer.encode(t)?, 0)),
            Input::Tokens(ids) => Ok((ids.clone(), 0)),
            Input::Chat { messages, options } => {
                let opts = ChatOptions {
                    add_generation_prompt: generation || options.add_generation_prompt,
                    ..options.clone()
                };
                let text = self.shared.template()?.render(messages, &opts)?;
                let ids = self.shared.tokenizer.encode(&text)?;
                let cached = self.generator.tokens();
                self.messages = messages.clone();
                if ids.len() > cached.len() && ids[..cached.len()] == cached[..] {
                    // A pending sampled token (the last reply's end) is in `cached`: the
                    // generator feeds it first, so it is not fed again here.
                    Ok((ids[cached.len()..].to_vec(), cached.len()))
                } else {
                    self.generator.reset()?;
                    Ok((ids, 0))
                }
            }
        }
    }

    /// Appends `input` to the conversation without generating. Returns the tokens fed.
    pub fn feed(&mut self, input: &Input) -> Result<usize> {
        self.cancel();
        let (ids, _) = self.input_ids(input, false)?;
        let r = self.generator.prefill(&ids);
        self.update_stats();
        r.map(|()| ids.len())
    }

    /// Starts generating after `input` (which may be empty text to continue) and returns a
    /// stream that runs one step per item; dropping it stops the generation (what was
    /// generated stays in the conversation).
    pub fn generate(&mut self, input: &Input, opts: &GenerateOptions) -> Result<Stream<'_>> {
        self.start(input, opts)?;
        Ok(Stream::new(self))
    }

    /// Starts generating after `input` without borrowing the session: drive it with
    /// [`step`](Self::step) (a scheduler holding many sessions does). A generation still in
    /// progress is cancelled first.
    pub fn start(&mut self, input: &Input, opts: &GenerateOptions) -> Result<()> {
        self.cancel();
        let (ids, cached) = self.input_ids(input, true)?;
        let decoding = self.generator.begin(&ids, opts)?;
        let chat = matches!(input, Input::Chat { .. });
        self.active = Some(Active {
            decoding,
            cached,
            chat,
        });
        Ok(())
    }

    /// Whether a generation is in progress.
    pub fn is_generating(&self) -> bool {
        self.active.is_some()
    }

    /// Runs one step of the generation in progress: one prefill chunk or one decode step.
    /// `None` when no generation is in progress; after [`Event::Done`] or an error the
    /// generation is over.
    pub fn step(&mut self) -> Option<Result<Event>> {
        let active = self.active.as_mut()?;
        let tokenizer = &self.shared.tokenizer;
        let event = self
            .generator
            .advance(&mut active.decoding, Some(tokenizer));
        match event {
            Ok(Some(Event::Done(outcome))) => Some(self.ended(Ok(outcome)).map(Event::Done)),
            Ok(Some(e)) => {
                self.update_stats();
                Some(Ok(e))
            }
            Ok(None) => {
                self.active = None;
                None
            }
            Err(e) => {
                self.active = None;
                self.update_stats();
                Some(Err(e))
            }
        }
    }

    /// The generation in progress has streamed its last token and only its `Done` is left
    /// (no GPU work).
    pub fn is_stopping(&self) -> bool {
        self.active
            .as_ref()
            .is_some_and(|a| a.decoding.is_stopping())
    }

    /// Stops the generation in progress, if any, and returns what it produced.
    pub fn cancel(&mut self) -> Option<Result<Outcome>> {
        let mut active = self.active.take()?;
        let outcome = self.generator.cancel(&mut active.decoding);
        self.active = Some(active);
        Some(self.ended(outcome))
    }

    /// Closes the generation in progress with `outcome`: statistics, cached tokens, transcript.
    fn ended(&mut self, outcome: Result<Outcome>) -> Result<Outcome> {
        let active = self.active.take();
        self.update_stats();
        let mut outcome = outcome?;
        if let Some(a) = active {
            outcome.cached_tokens = a.cached;
            if a.chat {
                self.messages.push(ChatMessage::assistant(&outcome.text));
            }
        }
        Ok(outcome)
    }

    /// Logits (already divided by `logits_scaling`) at every position of `ids`, fed after the
    /// conversation; one row per id.
    pub fn logits(&mut self, ids: &[u32]) -> Result<Vec<Vec<f32>>> {
        self.cancel();
        let r = self.generator.logits_all(ids);
        self.update_stats();
        r
    }

    /// Empties the conversation.
    pub fn reset(&mut self) -> Result<()> {
        self.active = None;
        self.messages.clear();
        let r = self.generator.reset();
        self.update_stats();
        r
    }

    /// A copy of the conversation's caches and tokens, on the GPU.
    pub fn snapshot(&mut self) -> Result<Snapshot> {
        self.cancel();
        Ok(Snapshot {
            generator: self.generator.snapshot()?,
            messages: self.messages.clone(),
        })
    }

    /// Makes the conversation what `snap` holds; the snapshot stays usable.
    pub fn restore(&mut self, snap: &Snapshot) -> Result<()> {
        self.active = None;
        self.generator.restore(&snap.generator)?;
        self.messages = snap.messages.clone();
        self.update_stats();
        Ok(())
    }

    /// A new session that continues from this one's current point (no prefill).
    pub fn fork(&mut self) -> Result<Session> {
        self.cancel();
        let generator = self.generator.fork()?;
        let s = Session::with_generator(self.shared.clone(), generator, self.messages.clone());
        Ok(s)
    }

    /// Times every following submission per kernel family (slower: each waits for the GPU).
    pub fn set_profiling(&mut self, on: bool) {
        self.profile = on.then(SharedProfile::default);
        self.generator.set_profile(self.profile.clone());
    }

    /// What was timed since profiling was switched on (and starts a new profile).
    pub fn take_profile(&mut self) -> Option<Profile> {
        let p = self.profile.as_ref()?;
        let mut p = p.lock().unwrap_or_else(|e| e.into_inner());
        Some(std::mem::take(&mut *p))
    }

    /// Closes the session, freeing its caches (as dropping it does).
    pub fn close(self) {}
}
