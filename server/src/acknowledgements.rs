//! Pages' acknowledgements written together: every page open acknowledges an alert in the
//! same second, 18,000 requests each wanting a statement and a commit while the alert's
//! pushes are still going out. Each request hands its acknowledgement to one writer and
//! waits for the answer; the writer takes everything waiting (at most `BATCH`), writes it
//! in one statement (`reach::acknowledge_pages`) and answers each. Nothing waits to fill a
//! batch: a lone acknowledgement is written at once, and those that arrive while a
//! statement runs go in the next. Every answer still comes after its commit.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use race_office::services::reach;
use race_office::{ApiError, ApiResult, PageAcknowledgements};
use sea_orm::DatabaseConnection;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Acknowledgements written per statement at most.
const BATCH: usize = 500;
/// Acknowledgements waiting for the writer at most; beyond, a request waits to hand its
/// own over (the queue is the backpressure, not memory).
const WAITING: usize = 4 * BATCH;

struct Ask {
    account_id: i64,
    up_to: i64,
    now: DateTime<Utc>,
    answer: oneshot::Sender<ApiResult<u64>>,
}

/// The requests' side: hands an acknowledgement over and waits for its answer.
pub struct Batched {
    asks: mpsc::Sender<Ask>,
}

/// The writer's side: what the requests handed over.
pub struct Waiting(mpsc::Receiver<Ask>);

impl Batched {
    pub fn new() -> (Arc<Self>, Waiting) {
        let (asks, waiting) = mpsc::channel(WAITING);
        (Arc::new(Self { asks }), Waiting(waiting))
    }
}

#[async_trait::async_trait]
impl PageAcknowledgements for Batched {
    async fn acknowledge(&self, account_id: i64, up_to: i64, now: DateTime<Utc>) -> ApiResult<u64> {
        let (answer, answered) = oneshot::channel();
        let ask = Ask {
            account_id,
            up_to,
            now,
            answer,
        };
        self.asks.send(ask).await.map_err(|_| {
            ApiError::Internal(anyhow::anyhow!("the acknowledgement writer has stopped"))
        })?;
        answered.await.map_err(|_| {
            ApiError::Internal(anyhow::anyhow!(
                "the acknowledgement writer dropped an acknowledgement unanswered"
            ))
        })?
    }
}

/// Writes what is waiting, batch after batch, until shutdown (then what is left).
pub async fn write(db: DatabaseConnection, waiting: Waiting, shutdown: CancellationToken) {
    let Waiting(mut waiting) = waiting;
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let first = tokio::select! {
            ask = waiting.recv() => ask,
            () = shutdown.cancelled() => {
                waiting.close();
                waiting.recv().await
            }
        };
        let Some(first) = first else { return };
        batch.push(first);
        while batch.len() < BATCH
            && let Ok(ask) = waiting.try_recv()
        {
            batch.push(ask);
        }
        crate::metrics::acknowledgements_written(batch.len());
        write_batch(&db, &mut batch).await;
    }
}

/// One statement and one commit for the batch (at the latest of their "now"s), then each
/// its answer.
async fn write_batch(db: &DatabaseConnection, batch: &mut Vec<Ask>) {
    let asks: Vec<(i64, i64)> = batch.iter().map(|a| (a.account_id, a.up_to)).collect();
    let now = batch.iter().map(|a| a.now).max().unwrap_or_else(Utc::now);
    let answers: Vec<ApiResult<u64>> = match reach::acknowledge_pages(db, &asks, now).await {
        Ok(counts) => counts
            .into_iter()
            .map(|count| count.ok_or(ApiError::NotFound("notification")))
            .collect(),
        Err(error) => {
            let cause = error.detail();
            tracing::error!(%cause, asks = asks.len(), "could not write a batch of acknowledgements");
            asks.iter()
                .map(|_| {
                    Err(ApiError::Internal(anyhow::anyhow!(
                        "writing a batch of acknowledgements: {cause}"
                    )))
                })
                .collect()
        }
    };
    for (ask, answer) in batch.drain(..).zip(answers) {
        // A request that gave up meanwhile (its client left) is answered to nobody.
        let _ = ask.answer.send(answer);
    }
}
