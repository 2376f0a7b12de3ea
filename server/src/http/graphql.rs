//! GraphQL over HTTP, following the GraphQL-over-HTTP spec: POST with a JSON body, GET
//! with query parameters (queries only: a mutation over GET is 405), responses as
//! `application/graphql-response+json` when the client accepts it (then a request that
//! fails to parse or validate is a 400) and `application/json` otherwise. GraphiQL for
//! a browser that GETs /graphql without a query.

use async_graphql::http::GraphiQLSource;
use async_graphql::parser::types::{DocumentOperations, OperationType};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use schema::Viewer;
use schema::graphql::document_guard;
use schema::services::{accounts, partner_keys};
use serde_json::json;

use crate::startup::AppState;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// Which response media type the client asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Media {
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
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, media.content_type());
    response
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Who is asking. An unknown or expired token is treated as no token: guarded fields
/// then answer UNAUTHENTICATED. A partner key is told from a session token by its
/// `pk_` prefix, so either costs one lookup; an expired or revoked key is no key.
pub async fn resolve_viewer(state: &AppState, token: Option<&str>) -> Result<Viewer, String> {
    let Some(token) = token else {
        return Ok(Viewer::Anonymous);
    };
    if token.starts_with(partner_keys::KEY_PREFIX) {
        return match partner_keys::authenticate(&state.db, state.clock.now(), token).await {
            Ok(Some(grant)) => Ok(Viewer::PartnerKey(grant)),
            Ok(None) => Ok(Viewer::Anonymous),
            Err(error) => Err(error.message()),
        };
    }
    match accounts::authenticate(&state.db, state.clock.now(), token).await {
        Ok(Some((account, token_hash))) => Ok(Viewer::Account {
            account,
            token_hash,
        }),
        Ok(None) => Ok(Viewer::Anonymous),
        Err(error) => Err(error.message()),
    }
}

async fn execute(
    state: AppState,
    headers: HeaderMap,
    request: async_graphql::Request,
    media: Media,
) -> Response {
    let viewer = match resolve_viewer(&state, bearer_token(&headers)).await {
        Ok(viewer) => viewer,
        Err(_) => {
            return transport_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                media,
                "INTERNAL",
                "internal error",
            );
        }
    };
    state.metrics.graphql_requests.inc();
    let response = state.schema.execute(request.data(viewer)).await;
    // A request that never reached execution (parse or validation failure) has no data
    // and only errors without a path.
    let request_failed = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let status = if media == Media::GraphqlResponseJson && request_failed {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    graphql_response(status, media, &response)
}

fn graphql_response(
    status: StatusCode,
    media: Media,
    response: &async_graphql::Response,
) -> Response {
    match serde_json::to_vec(response) {
        Ok(body) => {
            let mut http = (status, body).into_response();
            http.headers_mut()
                .insert(header::CONTENT_TYPE, media.content_type());
            http
        }
        Err(_) => transport_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            media,
            "INTERNAL",
            "internal error",
        ),
    }
}

pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
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
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            let message = format!("the body is not a GraphQL request: {error}");
            return transport_error(StatusCode::BAD_REQUEST, media, "BAD_REQUEST", &message);
        }
    };
    execute(state, headers, request, media).await
}

/// The operation a GET would run, if the document parses and names one. Call it only on a
/// document the guard accepted.
fn operation_type(request: &async_graphql::Request) -> Option<OperationType> {
    let document = async_graphql::parser::parse_query(&request.query).ok()?;
    match (&document.operations, request.operation_name.as_deref()) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let media = Media::negotiate(&headers);
    let query = query.unwrap_or_default();
    if query.is_empty() {
        let browser = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"));
        if browser {
            let page = GraphiQLSource::build()
                .endpoint("/graphql")
                .subscription_endpoint("/graphql/ws")
                .title("Race-day gateway")
                .finish();
            return Html(page).into_response();
        }
    }
    let request = match async_graphql::http::parse_query_string(&query) {
        Ok(request) => request,
        Err(error) => {
            let message = format!("the query string is not a GraphQL request: {error}");
            return transport_error(StatusCode::BAD_REQUEST, media, "BAD_REQUEST", &message);
        }
    };
    // Measured before `operation_type` parses it. Refused, it is a request error like a
    // parse failure: 400 for graphql-response+json clients, 200 for JSON ones.
    if let Err(refusal) = document_guard::check(&request.query, &state.limits) {
        let status = match media {
            Media::GraphqlResponseJson => StatusCode::BAD_REQUEST,
            Media::Json => StatusCode::OK,
        };
        let response = async_graphql::Response::from_errors(vec![refusal.to_server_error()]);
        return graphql_response(status, media, &response);
    }
    if matches!(
        operation_type(&request),
        Some(OperationType::Mutation | OperationType::Subscription)
    ) {
        let mut response = transport_error(
            StatusCode::METHOD_NOT_ALLOWED,
            media,
            "METHOD_NOT_ALLOWED",
            "mutations are sent with POST",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    execute(state, headers, request, media).await
}
