//! The worker thread: it opens models and generates, so the window never waits on the GPU.
//! Commands go in over one channel, events come back over another; after each event the worker
//! wakes the UI (a repaint request). Stop is an atomic flag the generation loop polls.
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use granite_engine::ChatMessage;

use crate::backend::{Backend, GenStats, ModelInfo, Opener, Probe, Settings};

pub enum Command {
    Open(PathBuf),
    Generate {
        messages: Vec<ChatMessage>,
        settings: Settings,
    },
    NewChat,
    Quit,
}

pub enum Event {
    Loading(PathBuf),
    Loaded {
        info: Box<ModelInfo>,
        probe: Arc<dyn Probe>,
    },
    LoadFailed(String),
    /// Newly decoded text of the reply in progress, and when the worker had it.
    Token(String, Instant),
    Done(GenStats),
    /// Generation or New chat failed; the message is for the status line.
    Failed(String),
    ChatCleared,
}

/// Wakes the UI after an event; set once the window's context is known.
#[derive(Clone, Default)]
pub struct Waker(Arc<Mutex<Option<egui::Context>>>);

impl Waker {
    pub fn set(&self, ctx: &egui::Context) {
        if let Ok(mut w) = self.0.lock()
            && w.is_none()
        {
            *w = Some(ctx.clone());
        }
    }
    fn wake(&self) {
        if let Ok(w) = self.0.lock()
            && let Some(ctx) = w.as_ref()
        {
            ctx.request_repaint();
        }
    }
}

struct Events {
    tx: Sender<Event>,
    waker: Waker,
}

impl Events {
    fn send(&self, e: Event) {
        let _ = self.tx.send(e);
        self.waker.wake();
    }
}

pub struct Worker {
    commands: Sender<Command>,
    events: Receiver<Event>,
    stop: Arc<AtomicBool>,
    waker: Waker,
    alive: bool,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Disconnects when the thread has returned (its sender is dropped).
    finished: Receiver<()>,
}

enum Exit {
    Open(PathBuf),
    Quit,
    Idle,
}

impl Worker {
    /// Starts the thread; it opens `initial` right away when given.
    pub fn spawn(opener: Opener, initial: Option<PathBuf>) -> Self {
        let (commands, rx) = channel();
        let (tx, events) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let waker = Waker::default();
        let ev = Events {
            tx,
            waker: waker.clone(),
        };
        let flag = stop.clone();
        let (done_tx, finished) = channel::<()>();
        let thread = std::thread::Builder::new()
            .name("granite-viewer worker".into())
            .spawn(move || {
                let _done = done_tx;
                run(opener, initial, rx, ev, flag)
            })
            .expect("spawning the worker thread");
        Self {
            commands,
            events,
            stop,
            waker,
            alive: true,
            thread: Some(thread),
            finished,
        }
    }

    pub fn waker(&self) -> &Waker {
        &self.waker
    }

    pub fn send(&self, c: Command) {
        if matches!(c, Command::Generate { .. }) {
            // Cleared here, not on the worker, so a Stop pressed before the worker picks the
            // command up is not lost.
            self.stop.store(false, Ordering::Relaxed);
        }
        let _ = self.commands.send(c);
    }

    /// Asks the reply in progress to end after the current token.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Every event that arrived since the last call. A worker that died (a panic in the
    /// backend) is reported once, as a failure.
    pub fn drain(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        loop {
            match self.events.try_recv() {
                Ok(e) => out.push(e),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    if self.alive {
                        self.alive = false;
                        out.push(Event::Failed(
                            "the worker thread stopped unexpectedly (see the terminal)".into(),
                        ));
                    }
                    break;
                }
            }
        }
        out
    }
}

impl Drop for Worker {
    /// Stops the reply in progress and waits (a bounded time) for the thread to release the
    /// model and its GPU device, so that they are not torn down while the process exits.
    fn drop(&mut self) {
        self.stop();
        let _ = self.commands.send(Command::Quit);
        let ended = matches!(
            self.finished
                .recv_timeout(std::time::Duration::from_secs(10)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
        );
        if ended && let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(
    opener: Opener,
    mut next: Option<PathBuf>,
    rx: Receiver<Command>,
    ev: Events,
    stop: Arc<AtomicBool>,
) {
    loop {
        let dir = match next.take() {
            Some(d) => d,
            None => match rx.recv() {
                Ok(Command::Open(d)) => d,
                Ok(Command::Quit) | Err(_) => return,
                Ok(Command::Generate { .. }) => {
                    ev.send(Event::Failed("no model is loaded".into()));
                    continue;
                }
                Ok(Command::NewChat) => {
                    ev.send(Event::ChatCleared);
                    continue;
                }
            },
        };
        ev.send(Event::Loading(dir.clone()));
        let mut exit = None;
        let opened = opener(&dir, &mut |b: &mut dyn Backend| {
            ev.send(Event::Loaded {
                info: Box::new(b.model_info()),
                probe: b.probe(),
            });
            exit = Some(serve(b, &rx, &ev, &stop));
        });
        if let Err(e) = opened {
            ev.send(Event::LoadFailed(e));
        }
        match exit.unwrap_or(Exit::Idle) {
            Exit::Open(d) => next = Some(d),
            Exit::Quit => return,
            Exit::Idle => {}
        }
    }
}

fn serve(b: &mut dyn Backend, rx: &Receiver<Command>, ev: &Events, stop: &AtomicBool) -> Exit {
    loop {
        match rx.recv() {
            Err(_) | Ok(Command::Quit) => return Exit::Quit,
            Ok(Command::Open(d)) => return Exit::Open(d),
            Ok(Command::NewChat) => ev.send(match b.new_chat() {
                Ok(()) => Event::ChatCleared,
                Err(e) => Event::Failed(e),
            }),
            Ok(Command::Generate { messages, settings }) => {
                let r = b.generate(&messages, &settings, stop, &mut |t| {
                    ev.send(Event::Token(t.to_string(), Instant::now()))
                });
                ev.send(match r {
                    Ok(s) => Event::Done(s),
                    Err(e) => Event::Failed(e),
                });
            }
        }
    }
}
