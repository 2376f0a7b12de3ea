//! GraphQL over HTTP, following the GraphQL-over-HTTP spec: POST with a JSON body, GET
//! with query parameters (queries only: a mutation over GET is 405), responses as
//! `application/graphql-response+json` when the client accepts it (then a request that
//! fails to parse or validate is a 400 without a `data` entry) and `application/json`
//! otherwise. Parameters that are not a GraphQL request (no `query` string, variables that
//! are not a map) are a 400 either way. GraphiQL for a browser that GETs /graphql without
//! a query (the embedded page, see `web`), when GRAPHIQL is on.
//!
//! A refusal by a rate limit (code RATE_LIMITED) is a 429 with `Retry-After`.
//!
//! A request may name its document instead of sending it (APQ's
//! `extensions.persistedQuery`, the draft's `documentId`); [`prepare`] resolves it through
//! [`crate::documents`] and applies TRUSTED_DOCUMENTS before anything else is done.

use std::time::Instant;

use async_graphql::parser::types::{DocumentOperations, OperationType};
use axum::body::{Body, Bytes};
use axum::extract::{Extension, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use race_office::{ClientAddress, Viewer};
use schema::graphql::sharing::in_selection_order;
use schema::graphql::{document_guard, public_reads};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::auth::{bearer_token, resolve_viewer};
use super::errors::{Refusal, set_retry_after};
use super::response_cache::{self, Lookup};
use crate::app::AppState;
use crate::documents::{Asked, Refusal as DocumentRefusal, Resolved, Unregistered};
use crate::metrics;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// Which response media type the client asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Media {
    GraphqlResponseJson,
    Json,
}

impl Media {
    fn negotiate(headers: &HeaderMap) -> Self {
        let accept = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        let wants_graphql = accept.split(',').any(|part| {
            let mut params = part.split(';').map(str::trim);
            params.next() == Some(GRAPHQL_RESPONSE_JSON)
                && !params.any(|p| p.replace(' ', "") == "q=0")
        });
        if wants_graphql {
            Self::GraphqlResponseJson
        } else {
            Self::Json
        }
    }

    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        })
    }
}

/// An error in the HTTP request itself, before GraphQL could run.
fn transport_error(status: StatusCode, media: Media, code: &str, message: &str) -> Response {
    Refusal::new(status, code, message)
        .content_type(media.content_type())
        .into_response()
}

/// The parameters of a GraphQL request, checked for shape before anything else.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Params {
    /// Absent when the request names its document by hash instead.
    #[serde(default)]
    query: Option<String>,
    /// The GraphQL-over-HTTP draft's persisted document: `sha256:<hex>`.
    #[serde(default)]
    document_id: Option<String>,
    #[serde(default)]
    pub(super) operation_name: Option<String>,
    #[serde(default)]
    pub(super) variables: Option<Map<String, Value>>,
    /// Read for `persistedQuery` (APQ); anything else in it is ignored.
    #[serde(default)]
    pub(super) extensions: Option<Map<String, Value>>,
}

impl Params {
    pub(super) fn into_request(self, text: &str) -> async_graphql::Request {
        let mut request = async_graphql::Request::new(text);
        if let Some(name) = self.operation_name {
            request = request.operation_name(name);
        }
        if let Some(variables) = self.variables {
            request = request.variables(async_graphql::Variables::from_json(Value::Object(
                variables,
            )));
        }
        request
    }
}

/// A request whose document is known and may be run by whoever sent it.
struct Prepared {
    request: async_graphql::Request,
    /// Who asks, when TRUSTED_DOCUMENTS needed to know before the document could run.
    viewer: Option<Viewer>,
    /// A text sent with its APQ hash: registered once it has run without a request error.
    register: Option<Unregistered>,
}

/// The document the parameters name (text, APQ hash or `documentId`), admitted under
/// TRUSTED_DOCUMENTS: the viewer is looked up only when the rule depends on it.
async fn prepare(
    state: &AppState,
    headers: &HeaderMap,
    params: Params,
    media: Media,
) -> Result<Prepared, Response> {
    let resolved = resolve(state, &params, media).map_err(|refused| *refused)?;
    let viewer = if state.documents.admits_anyone(&resolved) {
        None
    } else {
        let viewer = look_up_viewer(state, headers, media).await?;
        state
            .documents
            .admits(&resolved, &viewer)
            .map_err(|refusal| refused(&refusal, media))?;
        Some(viewer)
    };
    let register = resolved.unregistered();
    Ok(Prepared {
        request: params.into_request(&resolved.text),
        viewer,
        register,
    })
}

/// The document the parameters name: their text, an APQ hash or a `documentId`.
pub(super) fn resolve(
    state: &AppState,
    params: &Params,
    media: Media,
) -> Result<Resolved, Box<Response>> {
    state
        .documents
        .resolve(&Asked {
            query: params.query.as_deref(),
            document_id: params.document_id.as_deref(),
            persisted_query: params
                .extensions
                .as_ref()
                .and_then(|e| e.get("persistedQuery")),
        })
        .map_err(|refusal| Box::new(refused(&refusal, media)))
}

/// The document the parameters name, admitted for `viewer` under TRUSTED_DOCUMENTS: what
/// an event stream runs, on the same rule as POST and GET; and the text to register once it
/// has run, when it came with its APQ hash.
pub(super) fn admitted(
    state: &AppState,
    params: Params,
    viewer: &Viewer,
    media: Media,
) -> Result<(async_graphql::Request, Option<Unregistered>), Box<Response>> {
    let resolved = resolve(state, &params, media)?;
    if !state.documents.admits_anyone(&resolved) {
        state
            .documents
            .admits(&resolved, viewer)
            .map_err(|refusal| Box::new(refused(&refusal, media)))?;
    }
    Ok((params.into_request(&resolved.text), resolved.unregistered()))
}

/// A document not run, as a GraphQL error with its code. An unknown APQ hash is Apollo's
/// 200 (its clients then send the text); an unknown `documentId` is a request error like a
/// parse failure (400 for graphql-response+json clients, 200 for JSON ones), since the
/// draft asks only for a response of one error; the rest are 400.
fn refused(refusal: &DocumentRefusal, media: Media) -> Response {
    let status = match (refusal, media) {
        (DocumentRefusal::PersistedQueryNotFound, _)
        | (DocumentRefusal::UnknownDocument, Media::Json) => StatusCode::OK,
        _ => StatusCode::BAD_REQUEST,
    };
    transport_error(status, media, refusal.code(), &refusal.message())
}

/// Who asks, from the bearer token; a lookup that fails is our 500.
async fn look_up_viewer(
    state: &AppState,
    headers: &HeaderMap,
    media: Media,
) -> Result<Viewer, Response> {
    resolve_viewer(state, bearer_token(headers))
        .await
        .map_err(|error| {
            tracing::error!(%error, "could not look the bearer token up");
            transport_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                media,
                "INTERNAL",
                "internal error",
            )
        })
}

/// The operation's name and type, from the parsed document (parsed once: execution reuses
/// it). `None` when the document does not parse or does not say which operation.
pub(super) fn operation(
    request: &mut async_graphql::Request,
) -> Option<(Option<String>, OperationType)> {
    let name = request.operation_name.clone();
    let document = request.parsed_query().ok()?;
    match (&document.operations, name) {
        (DocumentOperations::Single(op), name) => Some((name, op.node.ty)),
        (DocumentOperations::Multiple(ops), Some(name)) => {
            let ty = ops.get(name.as_str())?.node.ty;
            Some((Some(name), ty))
        }
        // The parser keeps a named operation in `Multiple` even when it is the only one:
        // a lone `mutation SignOut { … }` without operationName is still that mutation.
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops
            .iter()
            .next()
            .map(|(name, op)| (Some(name.to_string()), op.node.ty)),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

fn kind_name(kind: Option<OperationType>) -> &'static str {
    match kind {
        Some(OperationType::Query) => "query",
        Some(OperationType::Mutation) => "mutation",
        Some(OperationType::Subscription) => "subscription",
        None => "unknown",
    }
}

async fn execute(
    state: AppState,
    headers: HeaderMap,
    client: Option<ClientAddress>,
    prepared: Prepared,
    media: Media,
) -> Response {
    let started = Instant::now();
    let Prepared {
        mut request,
        viewer: known,
        register,
    } = prepared;
    if let Some(refused) = guard(&state, &request.query, media) {
        return refused;
    }
    let operation = operation(&mut request);
    let (name, kind) = match &operation {
        Some((name, kind)) => (name.as_deref(), Some(*kind)),
        None => (None, None),
    };
    let span = tracing::Span::current();
    span.record("operation", tracing::field::display(name.unwrap_or("-")));
    span.record("kind", tracing::field::display(kind_name(kind)));
    let viewer = match known {
        Some(viewer) => viewer,
        None => match look_up_viewer(&state, &headers, media).await {
            Ok(viewer) => viewer,
            Err(refused) => return refused,
        },
    };
    // A public read asked without a credential is answered from memory when it can be.
    let shared = if state.response_cache.enabled()
        && kind == Some(OperationType::Query)
        && matches!(viewer, race_office::Viewer::Anonymous)
    {
        let name = request.operation_name.clone();
        let public = matches!(request.parsed_query(),
            Ok(document) if public_reads::is_public_read(document, name.as_deref()));
        public.then(|| response_cache::Key::of(&request))
    } else {
        None
    };
    let valid_until = public_reads::ValidUntil::default();
    let mut generation = None;
    if let Some(key) = &shared {
        match state.response_cache.lookup(key, state.clock.now()).await {
            Lookup::Hit(body, etag) => {
                // The answer ran without error once: its text may be registered as well.
                if let Some(text) = register {
                    state.documents.register(text);
                }
                metrics::graphql_request(name, "query", "OK", started.elapsed());
                return public_answer(&headers, media, body, &etag);
            }
            Lookup::Miss(current) => generation = Some(current),
            Lookup::Unknown => {}
        }
    }
    let mut request =
        request
            .data(viewer)
            .data(valid_until.clone())
            .data(race_office::PreferredLanguage(
                race_office::domain::Language::negotiate(
                    headers
                        .get(axum::http::header::ACCEPT_LANGUAGE)
                        .and_then(|v| v.to_str().ok()),
                ),
            ));
    if let Some(client) = client {
        request = request.data(client);
    }
    // async-graphql answers in the order fields finish; the answer goes out in the order
    // they were selected.
    let selection = request.parsed_query().ok().cloned();
    let (name_asked, variables) = (request.operation_name.clone(), request.variables.clone());
    let mut response = state.schema.execute(request).await;
    if let Some(document) = &selection {
        in_selection_order(&mut response, document, name_asked.as_deref(), &variables);
    }
    let first_code = response
        .errors
        .first()
        .and_then(|e| e.extensions.as_ref())
        .and_then(|ext| match ext.get("code") {
            Some(async_graphql::Value::String(code)) => Some(code.clone()),
            _ => None,
        });
    metrics::graphql_request(
        name,
        kind_name(kind),
        first_code.as_deref().unwrap_or("OK"),
        started.elapsed(),
    );
    let request_failed = request_failed(&response);
    // Parsed, guarded and validated: only now may an APQ text be kept.
    if let Some(text) = register
        && !request_failed
    {
        state.documents.register(text);
    }
    let retry_after = rate_limited(&response);
    let status = if retry_after.is_some() {
        crate::metrics::rate_limited("auth");
        StatusCode::TOO_MANY_REQUESTS
    } else if media == Media::GraphqlResponseJson && request_failed {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut body = match serde_json::to_value(&response) {
        Ok(body) => body,
        Err(_) => {
            return transport_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                media,
                "INTERNAL",
                "internal error",
            );
        }
    };
    if media == Media::GraphqlResponseJson
        && request_failed
        && let Some(fields) = body.as_object_mut()
    {
        // The spec: a request error has no `data` entry at all.
        fields.shift_remove("data");
    }
    let body = Bytes::from(body.to_string());
    if body.len() > state.response_max_bytes {
        // Measured once written: the document's budget has already bounded what it cost.
        return transport_error(
            StatusCode::OK,
            media,
            "RESPONSE_TOO_LARGE",
            &schema::error::response_too_large(state.response_max_bytes).errors[0].message,
        );
    }
    if let (Some(key), Some(generation)) = (shared, generation)
        && status == StatusCode::OK
        && response.errors.is_empty()
    {
        let etag = state
            .response_cache
            .store(key, generation, body.clone(), valid_until.get());
        return public_answer(&headers, media, body, &etag);
    }
    let mut http = (status, body).into_response();
    http.headers_mut()
        .insert(header::CONTENT_TYPE, media.content_type());
    // Nothing here may be kept by a shared cache: it may be someone's own.
    http.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(seconds) = retry_after {
        set_retry_after(http.headers_mut(), seconds);
    }
    http
}

/// Whether `response` is a request error: the document never reached execution (it did not
/// parse or validate), so it has no data and only errors without a path.
pub(super) fn request_failed(response: &async_graphql::Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

/// A public read's answer, the same for every anonymous client: a CDN may keep it and must
/// ask again each time (the gateway answers 304 from memory while it still holds).
fn public_answer(headers: &HeaderMap, media: Media, body: Bytes, etag: &HeaderValue) -> Response {
    let mut http = if response_cache::not_modified(headers, etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut http = (StatusCode::OK, body).into_response();
        http.headers_mut()
            .insert(header::CONTENT_TYPE, media.content_type());
        http
    };
    let fields = http.headers_mut();
    fields.insert(header::ETAG, etag.clone());
    fields.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=0, must-revalidate"),
    );
    fields.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Authorization"),
    );
    http
}

/// The document guard, before anything parses the text: a refused document is a request
/// error like a parse failure (400 for graphql-response+json clients, 200 for JSON ones).
fn guard(state: &AppState, query: &str, media: Media) -> Option<Response> {
    let refusal = document_guard::check(query, &state.limits).err()?;
    let status = match media {
        Media::GraphqlResponseJson => StatusCode::BAD_REQUEST,
        Media::Json => StatusCode::OK,
    };
    let response = async_graphql::Response::from_errors(vec![refusal.to_server_error()]);
    let body = match serde_json::to_value(&response) {
        Ok(mut body) => {
            if media == Media::GraphqlResponseJson
                && let Some(fields) = body.as_object_mut()
            {
                fields.shift_remove("data");
            }
            body.to_string()
        }
        Err(_) => {
            return Some(transport_error(
                status,
                media,
                "QUERY_TOO_LARGE",
                "query too large",
            ));
        }
    };
    let mut http = (status, body).into_response();
    http.headers_mut()
        .insert(header::CONTENT_TYPE, media.content_type());
    Some(http)
}

/// The wait of a RATE_LIMITED error, in seconds, if the response has one.
fn rate_limited(response: &async_graphql::Response) -> Option<u64> {
    response.errors.iter().find_map(|error| {
        let extensions = error.extensions.as_ref()?;
        match (extensions.get("code"), extensions.get("retryAfter")) {
            (Some(async_graphql::Value::String(code)), Some(async_graphql::Value::Number(n)))
                if code == "RATE_LIMITED" =>
            {
                n.as_u64()
            }
            _ => None,
        }
    })
}

pub async fn post(
    State(state): State<AppState>,
    client: Option<Extension<ClientAddress>>,
    mut headers: HeaderMap,
    body: Body,
) -> Response {
    // A condition on a POST would be 412, never 304 (RFC 9110): conditions are for GETs.
    headers.remove(header::IF_NONE_MATCH);
    let media = Media::negotiate(&headers);
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence != JSON {
        return transport_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            media,
            "UNSUPPORTED_MEDIA_TYPE",
            "send the request as application/json",
        );
    }
    let bytes = match axum::body::to_bytes(body, state.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(error) => return body_error(&error, media),
    };
    let params: Params = match serde_json::from_slice(&bytes) {
        Ok(params) => params,
        Err(error) => {
            let message = format!("the body is not a GraphQL request: {error}");
            return transport_error(StatusCode::BAD_REQUEST, media, "BAD_REQUEST", &message);
        }
    };
    let prepared = match prepare(&state, &headers, params, media).await {
        Ok(prepared) => prepared,
        Err(refused) => return refused,
    };
    execute(
        state,
        headers,
        client.map(|Extension(c)| c),
        prepared,
        media,
    )
    .await
}

/// A body that could not be read: too large (the limit layer), too slow (the body timeout
/// layer), or cut off.
pub(super) fn body_error(error: &axum::Error, media: Media) -> Response {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if cause.is::<http_body_util::LengthLimitError>() {
            return transport_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                media,
                "PAYLOAD_TOO_LARGE",
                "the request body is larger than MAX_BODY_BYTES",
            );
        }
        if cause.is::<tower_http::timeout::TimeoutError>() {
            return transport_error(
                StatusCode::REQUEST_TIMEOUT,
                media,
                "REQUEST_TIMEOUT",
                "the request body was not received within HTTP_BODY_TIMEOUT_MS",
            );
        }
        source = cause.source();
    }
    transport_error(
        StatusCode::BAD_REQUEST,
        media,
        "BAD_REQUEST",
        "the request body could not be read",
    )
}

pub async fn get(
    State(state): State<AppState>,
    client: Option<Extension<ClientAddress>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let media = Media::negotiate(&headers);
    let query = query.unwrap_or_default();
    if query.is_empty() && state.graphiql {
        let browser = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"));
        if browser {
            return super::web::graphiql(&headers);
        }
    }
    let params = match serde_urlencoded_params(&query) {
        Ok(params) => params,
        Err(why) => {
            return transport_error(
                StatusCode::BAD_REQUEST,
                media,
                "BAD_REQUEST",
                &why.to_string(),
            );
        }
    };
    let mut prepared = match prepare(&state, &headers, params, media).await {
        Ok(prepared) => prepared,
        Err(refused) => return refused,
    };
    if let Some(refused) = guard(&state, &prepared.request.query, media) {
        return refused;
    }
    if matches!(
        operation(&mut prepared.request),
        Some((_, OperationType::Mutation | OperationType::Subscription))
    ) {
        return mutation_over_get(media);
    }
    execute(
        state,
        headers,
        client.map(|Extension(c)| c),
        prepared,
        media,
    )
    .await
}

/// A mutation or subscription sent over GET, on every transport that takes GET: 405.
pub(super) fn mutation_over_get(media: Media) -> Response {
    let mut response = transport_error(
        StatusCode::METHOD_NOT_ALLOWED,
        media,
        "METHOD_NOT_ALLOWED",
        "mutations are sent with POST",
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

/// Why a GET's query string is no GraphQL request.
#[derive(Debug, thiserror::Error)]
pub(super) enum BadQueryString {
    #[error("the query string is not a GraphQL request: {0}")]
    Unreadable(async_graphql::ParseRequestError),
    #[error("the query string's `extensions` is not a JSON map: {0}")]
    Extensions(serde_json::Error),
}

/// The query string's parameters: `query` or `documentId`, `operationName`, and
/// `variables` and `extensions` as JSON maps.
pub(super) fn serde_urlencoded_params(query: &str) -> Result<Params, BadQueryString> {
    let request =
        async_graphql::http::parse_query_string(query).map_err(BadQueryString::Unreadable)?;
    let (mut document_id, mut extensions) = (None, None);
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "documentId" => document_id = Some(value.into_owned()),
            "extensions" => {
                extensions =
                    Some(serde_json::from_str(&value).map_err(BadQueryString::Extensions)?);
            }
            _ => {}
        }
    }
    Ok(Params {
        query: Some(request.query).filter(|q| !q.is_empty()),
        document_id,
        operation_name: request.operation_name,
        variables: match request.variables.into_value().into_json() {
            Ok(Value::Object(map)) => Some(map),
            _ => None,
        },
        extensions,
    })
}
