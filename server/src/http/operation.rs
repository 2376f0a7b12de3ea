//! One operation started on a long-lived transport (a WebSocket or an SSE stream), the
//! same way whichever carries it: a subscription joins a shared execution
//! ([`crate::alerts::fanout`]); a query or a mutation runs once within the HTTP deadline.
//! Each transport then spells what the stream yields in its own protocol. A text sent with
//! its APQ hash is registered here for both, as over HTTP, once it has run.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::Data;
use async_graphql::parser::types::OperationType;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use race_office::Viewer;

use crate::alerts::fanout::{Out, Subscribe};
use crate::app::AppState;
use crate::documents::Unregistered;

/// What an operation's stream yields.
pub(crate) enum Event {
    Out(Out),
    /// A query or mutation: its one response.
    Single(async_graphql::Response),
    /// The stream ended by itself.
    End,
}

/// Where a subscription starts: `baseline` is the hub's last id when the client asked
/// ("from now"), `resume` a transport's own cursor (SSE's `Last-Event-ID`).
#[derive(Clone, Copy)]
pub(crate) struct Start {
    pub baseline: i64,
    pub resume: Option<i64>,
}

/// Starts `request` for `viewer` (whose session data is `data`); `register` is its text when
/// it came with its APQ hash and is new here. The transport chains [`Event::End`] after the
/// stream (after its abort handle, so that an operation the client stopped ends the same
/// way).
pub(crate) async fn start(
    state: &AppState,
    data: Arc<Data>,
    viewer: &Viewer,
    request: async_graphql::Request,
    start: Start,
    register: Option<Unregistered>,
) -> BoxStream<'static, Event> {
    let events = execute(state, data, viewer, request, start).await;
    let Some(text) = register else {
        return events;
    };
    // Kept once the first answer shows the text parsed and validated, as over HTTP: a
    // query's or mutation's one answer, a subscription's first result (until then its
    // hash alone is still not found, and the client sends the text again).
    let state = state.clone();
    let mut register = Some(text);
    events
        .inspect(move |event| {
            if let Some(text) = register.take()
                && ran(event)
            {
                state.documents.register(text);
            }
        })
        .boxed()
}

/// Whether an operation's first event shows that its document ran (not a request error).
fn ran(event: &Event) -> bool {
    match event {
        Event::Out(Out::Shared(_)) => true,
        Event::Out(Out::Own(response, _) | Out::Failed(response)) | Event::Single(response) => {
            !super::graphql::request_failed(response)
        }
        Event::End => false,
    }
}

async fn execute(
    state: &AppState,
    data: Arc<Data>,
    viewer: &Viewer,
    request: async_graphql::Request,
    start: Start,
) -> BoxStream<'static, Event> {
    match state.fanout.document(&request.query) {
        Some((text, document))
            if document.kind(request.operation_name.as_deref())
                == Some(OperationType::Subscription) =>
        {
            let subscribe = Subscribe {
                text,
                document,
                operation_name: request.operation_name.clone(),
                variables: request.variables.clone(),
                baseline: start.baseline,
                resume: start.resume,
            };
            state
                .fanout
                .subscribe(subscribe, data, viewer)
                .await
                .map(Event::Out)
                .boxed()
        }
        // Queries and mutations (or a document that does not parse, whose error execution
        // reports): executed as usual, once, within the same deadline as over HTTP. A
        // mutation cut off rolls its transaction back.
        parsed => {
            // Answered in selection order (async-graphql keeps the order fields finish).
            let order = parsed.map(|(_, document)| {
                (
                    document,
                    request.operation_name.clone(),
                    request.variables.clone(),
                )
            });
            let mut responses = state.schema.execute_stream_with_session_data(request, data);
            let deadline = state.request_timeout;
            futures_util::stream::once(async move {
                let response = match tokio::time::timeout(deadline, responses.next()).await {
                    Ok(Some(mut response)) => {
                        if let Some((document, name, variables)) = &order {
                            document.order(&mut response, name.as_deref(), variables);
                        }
                        response
                    }
                    Ok(None) => async_graphql::Response::default(),
                    Err(_) => timed_out(deadline),
                };
                Event::Single(response)
            })
            .boxed()
        }
    }
}

/// The answer to an operation that ran past its deadline, coded as over HTTP.
fn timed_out(deadline: Duration) -> async_graphql::Response {
    schema::error::coded_response(
        "TIMEOUT",
        format!(
            "the operation took longer than {} ms (HTTP_REQUEST_TIMEOUT_MS)",
            deadline.as_millis()
        ),
    )
}
