//! Reads shared by the requests that ask at the same moment.
//!
//! When an instance dies, thousands of its runners reconnect to the others within a
//! second, and each asks the database the same kind of question: whose session is this
//! token, where does the notification log end. One query each is a round trip each, on a
//! database busy with the alert itself. A [`Gathered`] read takes every question asked
//! while no read of its own is under way into the next one, and answers each from it.
//!
//! What makes it safe to share: a read starts after every question it answers was asked,
//! so its answer is as late as a read of their own would have been (a session revoked
//! before the question is not found; a notice committed before it is within the log's
//! end). Nothing waits to fill a round: a lone question is read at once, and those that
//! come while it runs go in the next.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use sea_orm::DbErr;
use tokio::sync::watch;

/// One read: the answers for these keys (a key left out has none).
pub type Read<K, V> =
    Box<dyn Fn(Vec<K>) -> BoxFuture<'static, Result<HashMap<K, V>, DbErr>> + Send + Sync>;

/// What a round's read came to.
type Answer<K, V> = Option<Result<Arc<HashMap<K, V>>, Arc<DbErr>>>;

/// The questions of the round not yet read, and where its answer will be.
struct Round<K, V> {
    keys: Vec<K>,
    answer: watch::Receiver<Answer<K, V>>,
}

/// Reads keyed questions in rounds, one round at a time.
pub struct Gathered<K, V> {
    read: Read<K, V>,
    next: Mutex<Option<Round<K, V>>>,
    /// One read at a time: questions asked during a read wait for the next one together.
    reading: Arc<tokio::sync::Mutex<()>>,
    /// Reads made (each shared by every question asked before it began).
    reads: AtomicU64,
}

impl<K, V> Gathered<K, V>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub fn new(read: Read<K, V>) -> Arc<Self> {
        Arc::new(Self {
            read,
            next: Mutex::new(None),
            reading: Arc::new(tokio::sync::Mutex::new(())),
            reads: AtomicU64::new(0),
        })
    }

    /// The answer for `key`, from a read that began after this call did.
    pub async fn get(self: &Arc<Self>, key: K) -> Result<Option<V>, Arc<DbErr>> {
        let mut answer = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            match next.as_mut() {
                Some(round) => {
                    round.keys.push(key.clone());
                    round.answer.clone()
                }
                None => {
                    let (tell, answer) = watch::channel(None);
                    *next = Some(Round {
                        keys: vec![key.clone()],
                        answer: answer.clone(),
                    });
                    // The read runs on its own task: a question whose asker goes away (its
                    // socket closed) must not leave the others waiting for nothing.
                    tokio::spawn(self.clone().read_round(tell));
                    answer
                }
            }
        };
        let done = answer.wait_for(Option::is_some).await.ok();
        match done.as_deref() {
            Some(Some(Ok(answers))) => Ok(answers.get(&key).cloned()),
            Some(Some(Err(error))) => Err(error.clone()),
            // The reading task ended without an answer: the runtime is shutting down.
            _ => Err(Arc::new(DbErr::Custom("shutting down: not read".into()))),
        }
    }

    async fn read_round(self: Arc<Self>, tell: watch::Sender<Answer<K, V>>) {
        let _one_at_a_time = self.reading.lock().await;
        // From here on a new question waits for the next read: this one may already be
        // under way when it is asked.
        let Some(round) = self.next.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        let mut keys = round.keys;
        dedup(&mut keys);
        self.reads.fetch_add(1, Ordering::Relaxed);
        let answer = (self.read)(keys).await.map(Arc::new).map_err(Arc::new);
        tell.send_replace(Some(answer));
    }

    /// Reads made so far.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }
}

/// Drops repeated keys, first kept (a runner with two tabs asks twice).
fn dedup<K: Eq + Hash + Clone>(keys: &mut Vec<K>) {
    let mut seen = std::collections::HashSet::with_capacity(keys.len());
    keys.retain(|key| seen.insert(key.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read that answers each key with how many reads had begun when it began, once
    /// the gate opens.
    fn counting(begun: Arc<AtomicU64>, gate: watch::Receiver<bool>) -> Read<u32, u64> {
        Box::new(move |keys| {
            let at_start = begun.fetch_add(1, Ordering::SeqCst) + 1;
            let mut gate = gate.clone();
            Box::pin(async move {
                let _ = gate.wait_for(|open| *open).await;
                Ok(keys
                    .into_iter()
                    .filter(|k| *k != 0)
                    .map(|k| (k, at_start))
                    .collect())
            })
        })
    }

    #[tokio::test]
    async fn questions_asked_together_share_a_read() {
        let begun = Arc::new(AtomicU64::new(0));
        let (_open, gate) = watch::channel(true);
        let gathered = Gathered::new(counting(begun, gate));
        let asks: Vec<_> = (1..=200u32)
            .map(|key| {
                let gathered = gathered.clone();
                tokio::spawn(async move { gathered.get(key % 50 + 1).await })
            })
            .collect();
        for ask in asks {
            assert!(ask.await.expect("joined").expect("read").is_some());
        }
        // 200 questions (50 keys): the first read, and one for those asked while it ran.
        assert!(
            gathered.reads() <= 2,
            "{} reads for 200 questions",
            gathered.reads()
        );
    }

    #[tokio::test]
    async fn a_key_the_read_did_not_answer_has_no_answer() {
        let (_open, gate) = watch::channel(true);
        let gathered = Gathered::new(counting(Arc::default(), gate));
        assert_eq!(gathered.get(0).await.expect("read"), None);
        assert_eq!(gathered.get(3).await.expect("read"), Some(2));
    }

    #[tokio::test]
    async fn a_read_under_way_when_a_question_comes_is_not_its_answer() {
        let begun = Arc::new(AtomicU64::new(0));
        let (open, gate) = watch::channel(false);
        let gathered = Gathered::new(counting(begun.clone(), gate));
        let ask = |key: u32| {
            let gathered = gathered.clone();
            tokio::spawn(async move { gathered.get(key).await.expect("read") })
        };
        let early = ask(1);
        while begun.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // The first read is under way: these came after it began, one with its key.
        let late: Vec<_> = (1..=10).map(ask).collect();
        tokio::task::yield_now().await;
        open.send_replace(true);
        assert_eq!(early.await.expect("joined"), Some(1));
        for late in late {
            assert_eq!(
                late.await.expect("joined"),
                Some(2),
                "answered by a read begun before it"
            );
        }
        assert_eq!(gathered.reads(), 2);
    }

    #[tokio::test]
    async fn a_failed_read_fails_every_question_in_it_and_the_next_round_reads_again() {
        let reads = Arc::new(AtomicU64::new(0));
        let gathered: Arc<Gathered<u32, u32>> = Gathered::new(Box::new({
            let reads = reads.clone();
            move |keys| {
                let first = reads.fetch_add(1, Ordering::SeqCst) == 0;
                Box::pin(async move {
                    if first {
                        Err(DbErr::Custom("the database is away".into()))
                    } else {
                        Ok(keys.into_iter().map(|k| (k, k)).collect())
                    }
                })
            }
        }));
        assert!(gathered.get(4).await.is_err());
        assert_eq!(gathered.get(4).await.expect("read"), Some(4));
    }
}
