//! Concurrent requests scored together: one thread owns the forward pass and gathers the images
//! that arrive while it waits into one batch, so that sixteen clients cost a few batched passes
//! rather than sixteen single-image ones.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use wscxr::{Detector, Radiograph, ScoredImage, Xray};

use crate::metrics::Metrics;

/// What a request gets back from the batcher: its scored image, or the scoring error's message.
pub(crate) type Scored = Result<ScoredImage, String>;

struct Job {
    radiograph: Arc<Radiograph>,
    reply: oneshot::Sender<Scored>,
}

/// The forward-pass thread and the queue in front of it.
pub(crate) struct Batcher {
    queue: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<()>>,
    metrics: Arc<Metrics>,
}

/// The queue was full: the caller answers 503.
pub(crate) struct Full;

impl Batcher {
    /// Starts the thread. `capacity` bounds the images waiting; `max_batch` the images of one
    /// pass; `wait` how long the first image of a pass waits for company.
    pub(crate) fn start(
        detector: Arc<Detector>,
        max_batch: usize,
        wait: Duration,
        capacity: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        let (queue, jobs) = sync_channel(capacity);
        let thread_metrics = metrics.clone();
        let thread = std::thread::Builder::new()
            .name("wscxr-batcher".into())
            .spawn(move || run(&detector, &jobs, max_batch, wait, &thread_metrics))
            .expect("the operating system starts a thread");
        Self {
            queue: Some(queue),
            thread: Some(thread),
            metrics,
        }
    }

    /// Queues one decoded image; its result arrives on the returned receiver.
    pub(crate) fn submit(
        &self,
        radiograph: Arc<Radiograph>,
    ) -> Result<oneshot::Receiver<Scored>, Full> {
        let (reply, answer) = oneshot::channel();
        let queue = self.queue.as_ref().ok_or(Full)?;
        // Counted before the send: the thread may take the job (and count it out) at once.
        self.metrics.queue_depth.inc();
        match queue.try_send(Job { radiograph, reply }) {
            Ok(()) => Ok(answer),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.metrics.queue_depth.dec();
                Err(Full)
            }
        }
    }
}

impl Drop for Batcher {
    /// Closes the queue, lets the thread finish what it holds, and waits for it.
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(
    detector: &Detector,
    jobs: &Receiver<Job>,
    max_batch: usize,
    wait: Duration,
    metrics: &Metrics,
) {
    // Ends when every sender is gone: the service is shutting down and the queue is empty.
    while let Ok(first) = jobs.recv() {
        let deadline = Instant::now() + wait;
        let mut batch = vec![first];
        while batch.len() < max_batch {
            let left = deadline.saturating_duration_since(Instant::now());
            match jobs.recv_timeout(left) {
                Ok(job) => batch.push(job),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        metrics.queue_depth.dec_by(batch.len() as i64);
        metrics.batch_sizes.observe(batch.len() as f64);
        let xrays: Vec<Xray> = batch.iter().map(|j| j.radiograph.clone().into()).collect();
        match detector.score(&xrays) {
            Ok(scored) => {
                for (job, image) in batch.into_iter().zip(scored) {
                    let _ = job.reply.send(Ok(image));
                }
            }
            // One image that fails (its scores not finite, say) must not fail the others:
            // each is scored alone to say which.
            Err(_) if batch.len() > 1 => {
                for job in batch {
                    let result = detector
                        .score([Xray::from(job.radiograph.clone())])
                        .map(|mut s| s.remove(0))
                        .map_err(|e| e.to_string());
                    let _ = job.reply.send(result);
                }
            }
            Err(e) => {
                for job in batch {
                    let _ = job.reply.send(Err(e.to_string()));
                }
            }
        }
        metrics.scored(xrays.len());
    }
}
