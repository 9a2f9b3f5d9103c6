//! Group commit: writes that would each take the one writer in turn are run several
//! to a statement.
//!
//! SQLite has one writer. Under load, Refresh requests queue for it, and each one
//! paid a round trip to the connection's thread and a commit of its own (the WAL
//! frames of the pages it touched, written again by the next one). Here a request
//! joins a queue, and whoever takes the turn runs everything waiting, up to `max`, as
//! one batch, and hands each request its own answer. A request that finds the writer
//! free runs alone at once: grouping costs nothing when there is no queue.
//!
//! A request whose caller has gone is dropped from the queue before its batch runs,
//! so nothing is written for it. The batch's own answers must be per request (the
//! caller of [`GroupCommit::submit`] decides what a batch does when its statement
//! fails; spending refresh tokens, it runs each alone so each gets its own error).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Mutex;

use tokio::sync::oneshot;

/// A queue of requests of type `Q`, answered with `A`, run in batches of `max` at
/// most.
pub(crate) struct GroupCommit<Q, A> {
    waiting: Mutex<VecDeque<(Q, oneshot::Sender<A>)>>,
    /// Held while a batch runs.
    turn: tokio::sync::Mutex<()>,
    max: usize,
}

impl<Q, A> std::fmt::Debug for GroupCommit<Q, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl<Q, A> GroupCommit<Q, A> {
    /// A queue whose batches hold at most `max` requests (at least one).
    pub(crate) fn new(max: usize) -> Self {
        Self {
            waiting: Mutex::new(VecDeque::new()),
            turn: tokio::sync::Mutex::new(()),
            max: max.max(1),
        }
    }

    /// Queues `request` and answers it: either another caller's batch ran it, or
    /// this caller takes the turn and runs what waits with `run`, which answers each
    /// request of the batch, in order. `None` only when the batch that held it was
    /// abandoned midway (its caller's future dropped; the runtime stopping).
    pub(crate) async fn submit<F, Fut>(&self, request: Q, run: F) -> Option<A>
    where
        F: Fn(Vec<Q>) -> Fut,
        Fut: Future<Output = Vec<A>>,
    {
        let (answer, mut answered) = oneshot::channel();
        self.lock().push_back((request, answer));
        loop {
            let turn = tokio::select! {
                biased;
                result = &mut answered => return result.ok(),
                turn = self.turn.lock() => turn,
            };
            // The batch before may have answered this request while the turn
            // passed.
            match answered.try_recv() {
                Ok(result) => return Some(result),
                Err(oneshot::error::TryRecvError::Closed) => return None,
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            let (requests, answers): (Vec<Q>, Vec<oneshot::Sender<A>>) = {
                let mut waiting = self.lock();
                let mut batch = Vec::with_capacity(waiting.len().min(self.max));
                while batch.len() < self.max {
                    let Some((request, answer)) = waiting.pop_front() else {
                        break;
                    };
                    // Whoever asked is gone: write nothing for it.
                    if !answer.is_closed() {
                        batch.push((request, answer));
                    }
                }
                batch.into_iter().unzip()
            };
            if !requests.is_empty() {
                for (result, answer) in run(requests).await.into_iter().zip(answers) {
                    let _ = answer.send(result);
                }
            }
            drop(turn);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(Q, oneshot::Sender<A>)>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_request_alone_runs_alone_and_gets_its_answer() {
        let group = GroupCommit::new(8);
        let answer = group
            .submit(21, |batch: Vec<i32>| async move {
                assert_eq!(batch, vec![21]);
                batch.iter().map(|n| n * 2).collect::<Vec<_>>()
            })
            .await;
        assert_eq!(answer, Some(42));
    }

    #[tokio::test]
    async fn requests_queued_behind_a_batch_run_together_each_answered_with_its_own() {
        let group = Arc::new(GroupCommit::new(4));
        let batches = Arc::new(Mutex::new(Vec::new()));
        let (release, hold) = tokio::sync::oneshot::channel::<()>();
        type Hold = Arc<tokio::sync::Mutex<Option<tokio::sync::oneshot::Receiver<()>>>>;
        let hold: Hold = Arc::new(tokio::sync::Mutex::new(Some(hold)));
        let run = |batches: Arc<Mutex<Vec<Vec<i32>>>>, hold: Hold| {
            move |batch: Vec<i32>| {
                let (batches, hold) = (batches.clone(), hold.clone());
                async move {
                    // The first batch waits until the others are queued.
                    if let Some(hold) = hold.lock().await.take() {
                        let _ = hold.await;
                    }
                    batches.lock().unwrap().push(batch.clone());
                    batch.iter().map(|n| n * 10).collect::<Vec<_>>()
                }
            }
        };
        let mut tasks = Vec::new();
        for n in 0..7 {
            let (group, run) = (group.clone(), run(batches.clone(), hold.clone()));
            tasks.push(tokio::spawn(async move { group.submit(n, run).await }));
            tokio::task::yield_now().await;
        }
        release.send(()).unwrap();
        for (n, task) in tasks.into_iter().enumerate() {
            assert_eq!(task.await.unwrap(), Some(n as i32 * 10));
        }
        let batches = batches.lock().unwrap().clone();
        assert_eq!(batches[0], vec![0], "the first request found no queue");
        assert_eq!(batches[1], vec![1, 2, 3, 4], "then at most four at a time");
        assert_eq!(batches[2], vec![5, 6]);
    }

    #[tokio::test]
    async fn a_request_whose_caller_left_is_not_run() {
        let group = Arc::new(GroupCommit::new(8));
        let ran = Arc::new(AtomicUsize::new(0));
        let turn = group.turn.lock().await;
        let queued = {
            let (group, ran) = (group.clone(), ran.clone());
            tokio::spawn(async move {
                group
                    .submit(1, |batch: Vec<i32>| {
                        ran.fetch_add(batch.len(), Ordering::SeqCst);
                        async move { batch }
                    })
                    .await
            })
        };
        while group.lock().is_empty() {
            tokio::task::yield_now().await;
        }
        queued.abort();
        let _ = queued.await;
        drop(turn);
        let counted = ran.clone();
        let answer = group
            .submit(2, move |batch: Vec<i32>| {
                counted.fetch_add(batch.len(), Ordering::SeqCst);
                async move { batch }
            })
            .await;
        assert_eq!(answer, Some(2));
        assert_eq!(ran.load(Ordering::SeqCst), 1, "only the live request ran");
    }
}
