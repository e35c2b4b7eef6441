//! Real concurrency for races: tasks released together by a barrier once every one is ready.

use std::{future::Future, sync::Arc};

use futures_util::future::join_all;
use tokio::sync::Barrier;

/// Runs `attempt(0)` to `attempt(n - 1)` as tasks released together; their outcomes in order.
pub async fn at_once<F, Fut>(n: usize, attempt: F) -> Vec<Fut::Output>
where
    F: Fn(usize) -> Fut,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let tasks = (0..n).map(|i| {
        let barrier = barrier.clone();
        let attempt = attempt(i);
        tokio::spawn(async move {
            barrier.wait().await;
            attempt.await
        })
    });
    join_all(tasks)
        .await
        .into_iter()
        .map(|outcome| outcome.expect("task"))
        .collect()
}

/// Runs `a` and `b` as two tasks released together; both outcomes.
pub async fn both_at_once<A, B>(a: A, b: B) -> (A::Output, B::Output)
where
    A: Future + Send + 'static,
    A::Output: Send + 'static,
    B: Future + Send + 'static,
    B::Output: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(2));
    let released = barrier.clone();
    let a = tokio::spawn(async move {
        released.wait().await;
        a.await
    });
    let b = tokio::spawn(async move {
        barrier.wait().await;
        b.await
    });
    (a.await.expect("task"), b.await.expect("task"))
}
