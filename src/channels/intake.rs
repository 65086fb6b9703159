//! The conversation's intake: what people write on any channel is handled by a bounded set of
//! workers at once, in order per chat (a chat's next message waits for its previous one), staff
//! before citizens (two workers take staff only, so a staff member never waits for a worker a
//! citizen holds), and with at most `capacity` citizens' messages taken in: a flood waits at the
//! door (the Telegram poller stops reading, webhooks wait) instead of filling memory.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::Addressee;
use crate::conversation::Incoming;
use crate::domain::ChannelKind;
use crate::store::Store;

/// One message's handling on a worker (the conversation's part: quick, in the database); what
/// it returns runs after it off the workers (sending the answers, which wait for the lane's
/// budget), and the chat's next message waits for both.
pub type Job = Pin<Box<dyn Future<Output = Option<Followup>> + Send + 'static>>;
/// What follows a handled message off the workers: sending its answers.
pub type Followup = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Workers that take anyone's messages, staff first.
pub const WORKERS: usize = 32;
/// Workers that take staff messages only.
pub const STAFF_WORKERS: usize = 2;
/// Citizens' messages taken in and not yet handled, at most.
pub const CAPACITY: usize = 5_000;

struct Queued {
    to: Addressee,
    job: Job,
    /// The room this message takes in the intake (none for staff).
    _room: Option<OwnedSemaphorePermit>,
}

#[derive(Default)]
struct Chat {
    /// One of its messages is being handled.
    busy: bool,
    waiting: VecDeque<Queued>,
}

#[derive(Default)]
struct State {
    chats: HashMap<String, Chat>,
    /// Chats with a message to handle and none being handled, by who their next one is from.
    ready_staff: VecDeque<String>,
    ready_citizens: VecDeque<String>,
}

impl State {
    /// Puts `key` in line when its next message may be handled.
    fn line_up(&mut self, key: String) -> Option<Addressee> {
        let chat = self.chats.get(&key)?;
        if chat.busy {
            return None;
        }
        let to = chat.waiting.front()?.to;
        match to {
            Addressee::Staff => self.ready_staff.push_back(key),
            Addressee::Citizen => self.ready_citizens.push_back(key),
        }
        Some(to)
    }

    /// The next message a worker may take: staff first.
    fn take(&mut self, staff_only: bool) -> Option<(String, Queued)> {
        let key = match self.ready_staff.pop_front() {
            Some(k) => k,
            None if staff_only => return None,
            None => self.ready_citizens.pop_front()?,
        };
        let chat = self.chats.get_mut(&key)?;
        let next = chat.waiting.pop_front()?;
        chat.busy = true;
        Some((key, next))
    }

    /// A worker is done with `key`'s message: the chat's next one may go.
    fn done(&mut self, key: String) -> Option<Addressee> {
        let chat = self.chats.get_mut(&key)?;
        chat.busy = false;
        if chat.waiting.is_empty() {
            self.chats.remove(&key);
            None
        } else {
            self.line_up(key)
        }
    }
}

struct Shared {
    state: Mutex<State>,
    /// A message is ready for any worker.
    work: Notify,
    /// A staff message is ready.
    staff_work: Notify,
    /// Everything taken in was handled.
    idle: Notify,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wake(&self, ready: Option<Addressee>) {
        match ready {
            Some(Addressee::Staff) => {
                self.staff_work.notify_one();
                self.work.notify_one();
            }
            Some(Addressee::Citizen) => self.work.notify_one(),
            None => {}
        }
    }

    async fn work(self: Arc<Self>, staff_only: bool, shutdown: CancellationToken) {
        let signal = if staff_only {
            &self.staff_work
        } else {
            &self.work
        };
        loop {
            let notified = signal.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let taken = self.state().take(staff_only);
            let Some((key, next)) = taken else {
                if shutdown.is_cancelled() && self.state().chats.is_empty() {
                    return;
                }
                if shutdown.is_cancelled() {
                    // Draining what was taken in: looks again now and then until it is all done.
                    let again = tokio::time::sleep(std::time::Duration::from_millis(10));
                    tokio::select! {
                        _ = &mut notified => {}
                        _ = again => {}
                    }
                } else {
                    tokio::select! {
                        _ = &mut notified => {}
                        _ = shutdown.cancelled() => {}
                    }
                }
                continue;
            };
            let Queued { job, _room, .. } = next;
            // Its own task: a panic in one message's handling ends neither the worker nor
            // leaves the chat waiting for good.
            let followup = match tokio::spawn(job).await {
                Ok(followup) => followup,
                Err(e) => {
                    tracing::error!(error = %e, "handling a message ended abnormally");
                    None
                }
            };
            match followup {
                None => {
                    drop(_room);
                    self.finish(key);
                }
                Some(followup) => {
                    let shared = self.clone();
                    tokio::spawn(async move {
                        if let Err(e) = tokio::spawn(followup).await {
                            tracing::error!(error = %e, "answering a message ended abnormally");
                        }
                        // Keeps its room until answered: the answers waiting are bounded too.
                        drop(_room);
                        shared.finish(key);
                    });
                }
            }
        }
    }

    /// `key`'s message is done: its next one may be taken.
    fn finish(&self, key: String) {
        let (ready, empty) = {
            let mut state = self.state();
            let ready = state.done(key);
            (ready, state.chats.is_empty())
        };
        self.wake(ready);
        if empty {
            self.idle.notify_waiters();
        }
    }
}

/// Staff or citizen, by the sender's address: staff go first in the intake and the budget.
pub async fn addressee(store: &dyn Store, incoming: &Incoming) -> Addressee {
    match store.staff_role(incoming.channel, &incoming.sender).await {
        Ok(Some(_)) => Addressee::Staff,
        Ok(None) => Addressee::Citizen,
        Err(e) => {
            tracing::warn!(error = %e, "cannot look up whether a sender is staff; handled as a citizen");
            Addressee::Citizen
        }
    }
}

/// The staff addresses on `channel` (none when the store cannot say: then everyone is
/// handled as a citizen, which delays staff but loses nothing).
pub async fn staff_addresses(store: &dyn Store, channel: ChannelKind) -> HashSet<String> {
    match store.list_staff().await {
        Ok(staff) => staff
            .into_iter()
            .filter(|m| m.channel == channel)
            .map(|m| m.address)
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the staff; everyone is handled as a citizen for now");
            HashSet::new()
        }
    }
}

/// See the module's comment.
pub struct Intake {
    shared: Arc<Shared>,
    room: Arc<Semaphore>,
}

impl Intake {
    /// Starts `workers` workers for anyone and `staff_workers` for staff only; they stop with
    /// `shutdown` once everything taken in is handled.
    pub fn start(
        workers: usize,
        staff_workers: usize,
        capacity: usize,
        shutdown: CancellationToken,
    ) -> Arc<Intake> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            work: Notify::new(),
            staff_work: Notify::new(),
            idle: Notify::new(),
        });
        for i in 0..workers.max(1) + staff_workers {
            tokio::spawn(shared.clone().work(i >= workers.max(1), shutdown.clone()));
        }
        Arc::new(Intake {
            shared,
            room: Arc::new(Semaphore::new(capacity.max(1))),
        })
    }

    /// The intake as `run` starts it.
    pub fn start_default(shutdown: CancellationToken) -> Arc<Intake> {
        Intake::start(WORKERS, STAFF_WORKERS, CAPACITY, shutdown)
    }

    /// Takes in one message of `chat` (any key naming one conversation, e.g. channel and chat
    /// id), from `from`; waits while the intake is full of citizens' messages (staff never
    /// wait for room). The message is handled after the chat's earlier ones.
    pub async fn submit(&self, chat: String, from: Addressee, job: Job) {
        let room = match from {
            Addressee::Staff => None,
            // The semaphore is never closed.
            Addressee::Citizen => self.room.clone().acquire_owned().await.ok(),
        };
        let ready = {
            let mut state = self.shared.state();
            let entry = state.chats.entry(chat.clone()).or_default();
            let first = entry.waiting.is_empty() && !entry.busy;
            entry.waiting.push_back(Queued {
                to: from,
                job,
                _room: room,
            });
            if first { state.line_up(chat) } else { None }
        };
        self.shared.wake(ready);
    }

    /// Messages taken in and not yet handled (or being handled).
    pub fn pending(&self) -> usize {
        let state = self.shared.state();
        state
            .chats
            .values()
            .map(|c| c.waiting.len() + usize::from(c.busy))
            .sum()
    }

    /// Waits until every message taken in so far is handled.
    pub async fn drained(&self) {
        loop {
            let idle = self.shared.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.shared.state().chats.is_empty() {
                return;
            }
            idle.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::mpsc;

    use super::*;

    fn job(log: mpsc::UnboundedSender<(String, u32)>, chat: &str, n: u32, ms: u64) -> Job {
        let chat = chat.to_string();
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(ms / 2)).await;
            // Half of it on the worker, half after it.
            let followup: Followup = Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(ms - ms / 2)).await;
                let _ = log.send((chat, n));
            });
            Some(followup)
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn chats_are_handled_at_once_each_in_its_order() {
        let shutdown = CancellationToken::new();
        let intake = Intake::start(8, 1, 100, shutdown.clone());
        let (tx, mut rx) = mpsc::unbounded_channel();
        let started = std::time::Instant::now();
        for n in 0..5u32 {
            for chat in ["a", "b", "c", "d"] {
                // Later messages quicker than earlier ones: only the order per chat holds them.
                intake
                    .submit(
                        chat.into(),
                        Addressee::Citizen,
                        job(tx.clone(), chat, n, 50 - 10 * u64::from(n)),
                    )
                    .await;
            }
        }
        intake.drained().await;
        drop(tx);
        let mut seen: HashMap<String, Vec<u32>> = HashMap::new();
        while let Some((chat, n)) = rx.recv().await {
            seen.entry(chat).or_default().push(n);
        }
        for chat in ["a", "b", "c", "d"] {
            assert_eq!(seen[chat], vec![0, 1, 2, 3, 4], "chat {chat}");
        }
        // One after another, 20 messages would take 600 ms; four chats at once take 150.
        assert!(started.elapsed() < Duration::from_millis(500));
        assert_eq!(intake.pending(), 0);
        shutdown.cancel();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn staff_overtake_waiting_citizens_and_a_full_intake_makes_citizens_wait() {
        let shutdown = CancellationToken::new();
        let intake = Intake::start(1, 1, 3, shutdown.clone());
        let (tx, mut rx) = mpsc::unbounded_channel();
        // One worker for anyone, busy; three citizens fill the intake.
        for (i, chat) in ["c1", "c2", "c3"].iter().enumerate() {
            intake
                .submit(
                    (*chat).into(),
                    Addressee::Citizen,
                    job(tx.clone(), chat, i as u32, 100),
                )
                .await;
        }
        let fourth = {
            let intake = Arc::new(intake);
            let (i2, t2) = (intake.clone(), tx.clone());
            let waiting = tokio::spawn(async move {
                i2.submit("c4".into(), Addressee::Citizen, job(t2, "c4", 3, 0))
                    .await
            });
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert!(!waiting.is_finished(), "no room for a fourth citizen");
            intake
                .submit(
                    "staff".into(),
                    Addressee::Staff,
                    job(tx.clone(), "staff", 9, 0),
                )
                .await;
            let first = rx.recv().await.map(|(c, _)| c);
            assert_eq!(first.as_deref(), Some("staff"), "staff first");
            waiting
        };
        let _ = fourth.await;
        drop(tx);
        let mut rest = Vec::new();
        while let Some((chat, _)) = rx.recv().await {
            rest.push(chat);
        }
        // The fourth came in only when the first was done and left its room.
        assert_eq!(rest.first().map(String::as_str), Some("c1"));
        rest.sort();
        assert_eq!(rest, ["c1", "c2", "c3", "c4"]);
        shutdown.cancel();
    }
}
