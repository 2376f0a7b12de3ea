//! The browser's side, embedded in the binary so that one file still serves everything:
//! the runner page at `/` (and at `/events/{slug}`, the link in every push, and at
//! `/confirm-sign-up`, the link in the sign-up mail), its ES modules and styles under
//! `/assets/` (with the committed SDL, for GraphiQL), its service worker at `/sw.js`
//! (scope `/`), the web app manifest, and the GraphiQL page that `GET /graphql` shows a
//! browser.
//!
//! Every answer carries its exact MIME type and `X-Content-Type-Options: nosniff`; pages
//! carry a Content-Security-Policy with no inline script, whose `connect-src` allows this
//! origin and its WebSocket twin. Vendored files live under versioned paths and are cached
//! for a year; everything else (the service worker above all) is revalidated by ETag on
//! every use, so a new build is picked up at once.

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// How long a browser may keep a file without asking again.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cache {
    /// Ask every time (answered 304 when unchanged): our own files, which change with the
    /// binary under the same name.
    Revalidate,
    /// A year: vendored files, whose paths carry their version.
    Immutable,
    /// Never stored: a page at an address that carries a token.
    NoStore,
}

/// What a response is, beyond its bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// An HTML page of ours: gets the page policy.
    Page,
    /// The page at a link whose query carries a token: the page policy, and no `Referer`
    /// at all (the page's own requests would carry the token before its script takes it
    /// out of the address bar).
    TokenPage,
    /// The GraphiQL page: its policy also allows the fonts its stylesheet embeds.
    GraphiqlPage,
    /// The service worker: a policy of its own (it may only call this origin).
    ServiceWorker,
    /// Anything a page loads.
    Asset,
}

struct File {
    path: &'static str,
    mime: &'static str,
    body: &'static [u8],
    cache: Cache,
    kind: Kind,
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

macro_rules! file {
    ($path:literal, $source:literal, $mime:expr, $cache:ident, $kind:ident) => {
        File {
            path: $path,
            mime: $mime,
            body: include_bytes!(concat!("../../web/", $source)),
            cache: Cache::$cache,
            kind: Kind::$kind,
        }
    };
}

const INDEX: File = file!("/", "index.html", HTML, Revalidate, Page);
/// The page again, at the path of the link in the sign-up mail (`PUBLIC_URL` +
/// `/confirm-sign-up?token=…`, see `race_office::services::sign_up`).
const CONFIRM_SIGN_UP: File = File {
    path: "/confirm-sign-up",
    cache: Cache::NoStore,
    kind: Kind::TokenPage,
    ..INDEX
};
/// The page again, at the path of the link in the password-reset mail (`PUBLIC_URL` +
/// `/reset-password?token=…`, see `race_office::services::accounts`).
const RESET_PASSWORD: File = File {
    path: "/reset-password",
    ..CONFIRM_SIGN_UP
};
const GRAPHIQL: File = file!("/graphql", "graphiql.html", HTML, Revalidate, GraphiqlPage);

/// Every file served at its own path.
const FILES: &[File] = &[
    INDEX,
    CONFIRM_SIGN_UP,
    RESET_PASSWORD,
    file!("/sw.js", "sw.js", JS, Revalidate, ServiceWorker),
    file!(
        "/manifest.webmanifest",
        "manifest.webmanifest",
        "application/manifest+json",
        Revalidate,
        Asset
    ),
    file!("/assets/app.js", "app.js", JS, Revalidate, Asset),
    file!("/assets/api.js", "api.js", JS, Revalidate, Asset),
    file!("/assets/live.js", "live.js", JS, Revalidate, Asset),
    file!("/assets/push.js", "push.js", JS, Revalidate, Asset),
    file!("/assets/races.js", "races.js", JS, Revalidate, Asset),
    file!("/assets/account.js", "account.js", JS, Revalidate, Asset),
    file!("/assets/dom.js", "dom.js", JS, Revalidate, Asset),
    file!("/assets/i18n.js", "i18n.js", JS, Revalidate, Asset),
    file!("/assets/graphiql.js", "graphiql.js", JS, Revalidate, Asset),
    file!("/assets/styles.css", "styles.css", CSS, Revalidate, Asset),
    file!(
        "/assets/graphiql.css",
        "graphiql.css",
        CSS,
        Revalidate,
        Asset
    ),
    File {
        path: SDL_PATH,
        mime: TEXT,
        body: include_bytes!("../../../schema/schema.graphql"),
        cache: Cache::Revalidate,
        kind: Kind::Asset,
    },
    file!(
        "/assets/icon.svg",
        "icon.svg",
        "image/svg+xml",
        Revalidate,
        Asset
    ),
    file!(
        "/assets/vendor/graphql-ws-6.4.2/client.js",
        "vendor/graphql-ws-6.4.2/client.js",
        JS,
        Immutable,
        Asset
    ),
    file!(
        "/assets/vendor/graphql-ws-6.4.2/common-CGW11Fyb.js",
        "vendor/graphql-ws-6.4.2/common-CGW11Fyb.js",
        JS,
        Immutable,
        Asset
    ),
    file!(
        "/assets/vendor/graphql-ws-6.4.2/LICENSE.md",
        "vendor/graphql-ws-6.4.2/LICENSE.md",
        TEXT,
        Immutable,
        Asset
    ),
    file!(
        "/assets/vendor/graphiql-4.1.2/graphiql.min.js",
        "vendor/graphiql-4.1.2/graphiql.min.js",
        JS,
        Immutable,
        Asset
    ),
    file!(
        "/assets/vendor/graphiql-4.1.2/graphiql.min.css",
        "vendor/graphiql-4.1.2/graphiql.min.css",
        CSS,
        Immutable,
        Asset
    ),
    file!(
        "/assets/vendor/graphiql-4.1.2/LICENSE",
        "vendor/graphiql-4.1.2/LICENSE",
        TEXT,
        Immutable,
        Asset
    ),
    file!(
        "/assets/vendor/react-18.3.1/react.production.min.js",
        "vendor/react-18.3.1/react.production.min.js",
        JS,
        Immutable,
        Asset
    ),
    file!(
        "/assets/vendor/react-18.3.1/LICENSE",
        "vendor/react-18.3.1/LICENSE",
        TEXT,
        Immutable,
        Asset
    ),
    file!(
        "/assets/vendor/react-dom-18.3.1/react-dom.production.min.js",
        "vendor/react-dom-18.3.1/react-dom.production.min.js",
        JS,
        Immutable,
        Asset
    ),
    file!(
        "/assets/vendor/react-dom-18.3.1/LICENSE",
        "vendor/react-dom-18.3.1/LICENSE",
        TEXT,
        Immutable,
        Asset
    ),
];

/// The SDL that GraphiQL loads: the schema, as introspection would tell it.
const SDL_PATH: &str = "/assets/schema.graphql";

/// The routes of every embedded file, plus the page again at `/events/{slug}`. With
/// introspection off, the SDL is not served either: it tells the same.
pub fn routes<S: Clone + Send + Sync + 'static>(introspection: bool) -> Router<S> {
    let mut router = Router::new();
    for file in FILES.iter().filter(|f| introspection || f.path != SDL_PATH) {
        router = router.route(
            file.path,
            get(move |headers: HeaderMap| serve(file, headers)),
        );
    }
    router.route(
        "/events/{slug}",
        get(|headers: HeaderMap| serve(&INDEX, headers)),
    )
}

/// The GraphiQL page, for `GET /graphql` from a browser.
pub fn graphiql(headers: &HeaderMap) -> Response {
    respond(&GRAPHIQL, headers)
}

async fn serve(file: &'static File, headers: HeaderMap) -> Response {
    respond(file, &headers)
}

fn respond(file: &File, request: &HeaderMap) -> Response {
    let etag = (file.cache == Cache::Revalidate).then(|| etag(file.body));
    let unchanged = etag.as_ref().is_some_and(|tag| {
        request
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|candidate| candidate.trim() == tag || candidate.trim() == "*")
    });
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        file.body.into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(file.mime));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(match file.cache {
            Cache::Revalidate => "no-cache",
            Cache::Immutable => "public, max-age=31536000, immutable",
            Cache::NoStore => "no-store",
        }),
    );
    if let Some(tag) = etag.and_then(|tag| HeaderValue::from_str(&tag).ok()) {
        headers.insert(header::ETAG, tag);
    }
    let policy = match file.kind {
        Kind::Page | Kind::TokenPage => Some(page_policy(request, false)),
        Kind::GraphiqlPage => Some(page_policy(request, true)),
        Kind::ServiceWorker => {
            Some("default-src 'none'; connect-src 'self'; img-src 'self'".to_owned())
        }
        Kind::Asset => None,
    };
    if let Some(policy) = policy.and_then(|p| HeaderValue::from_str(&p).ok()) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    match file.kind {
        Kind::Page | Kind::GraphiqlPage => {
            headers.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            );
        }
        Kind::TokenPage => {
            headers.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
        }
        Kind::ServiceWorker | Kind::Asset => {}
    }
    response
}

/// The policy of a page: scripts, styles and images from this origin only, no inline
/// script or style, no plugins, no framing, forms never submitted by the browser (the
/// scripts send them), and connections to this origin over HTTP and WebSocket. GraphiQL
/// also loads the fonts its stylesheet embeds as `data:` URLs.
fn page_policy(request: &HeaderMap, graphiql: bool) -> String {
    let connect = match websocket_origins(request) {
        Some(origins) => format!("'self' {origins}"),
        None => "'self'".to_owned(),
    };
    let font = if graphiql { "'self' data:" } else { "'self'" };
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         font-src {font}; connect-src {connect}; manifest-src 'self'; worker-src 'self'; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// `ws://host wss://host` for the host the browser asked for (CSP's `'self'` does not
/// cover WebSocket URLs in every browser), or `None` for a Host header that is not a
/// plain host and port: it is echoed into a header, so nothing else gets through.
fn websocket_origins(request: &HeaderMap) -> Option<String> {
    let host = request.get(header::HOST)?.to_str().ok()?;
    let plain = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    plain.then(|| format!("ws://{host} wss://{host}"))
}

/// A strong validator for the body: FNV-1a (64 bits) with the length, stable across
/// instances of the same build, so a load balancer may alternate between them.
fn etag(body: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in body {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{:x}-{hash:016x}\"", body.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn every_embedded_path_is_served_once() {
        let mut paths: Vec<&str> = FILES.iter().map(|f| f.path).collect();
        paths.sort_unstable();
        let before = paths.len();
        paths.dedup();
        assert_eq!(paths.len(), before);
        assert!(FILES.iter().all(|f| !f.body.is_empty()));
    }

    #[test]
    fn the_page_policy_allows_its_own_websocket_and_no_inline_script() {
        let policy = page_policy(&headers(&[(header::HOST, "127.0.0.1:8080")]), false);
        assert!(policy.contains("script-src 'self';"), "{policy}");
        assert!(!policy.contains("unsafe"), "{policy}");
        assert!(
            policy.contains("connect-src 'self' ws://127.0.0.1:8080 wss://127.0.0.1:8080;"),
            "{policy}"
        );
    }

    #[test]
    fn a_host_header_that_is_not_a_plain_host_is_not_echoed() {
        for host in ["evil.test; script-src *", "a b", "", "x\"y"] {
            let mut map = HeaderMap::new();
            if let Ok(value) = HeaderValue::from_str(host) {
                map.insert(header::HOST, value);
            }
            assert_eq!(websocket_origins(&map), None, "{host}");
            assert!(page_policy(&map, false).contains("connect-src 'self';"));
        }
    }

    #[test]
    fn an_unchanged_file_is_answered_not_modified() {
        let first = respond(&INDEX, &HeaderMap::new());
        assert_eq!(first.status(), StatusCode::OK);
        let tag = first.headers()[header::ETAG].to_str().unwrap().to_owned();
        let again = respond(&INDEX, &headers(&[(header::IF_NONE_MATCH, &tag)]));
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        let other = respond(&INDEX, &headers(&[(header::IF_NONE_MATCH, "\"0-0\"")]));
        assert_eq!(other.status(), StatusCode::OK);
    }

    #[test]
    fn the_sign_up_link_gets_the_page_with_no_referrer_and_no_cache() {
        let response = respond(
            &CONFIRM_SIGN_UP,
            &headers(&[(header::HOST, "127.0.0.1:8080")]),
        );
        assert_eq!(response.status(), StatusCode::OK);
        let header = |name| response.headers()[name].to_str().unwrap();
        assert_eq!(header(header::CONTENT_TYPE), HTML);
        assert_eq!(header(header::REFERRER_POLICY), "no-referrer");
        assert_eq!(header(header::CACHE_CONTROL), "no-store");
        assert!(response.headers().get(header::ETAG).is_none());
        assert_eq!(
            header(header::CONTENT_SECURITY_POLICY),
            page_policy(&headers(&[(header::HOST, "127.0.0.1:8080")]), false)
        );
        assert_eq!(CONFIRM_SIGN_UP.body, INDEX.body);
    }

    #[test]
    fn vendored_files_are_cached_and_our_own_are_revalidated() {
        for file in FILES {
            let response = respond(file, &HeaderMap::new());
            let cache = response.headers()[header::CACHE_CONTROL].to_str().unwrap();
            let vendored = file.path.starts_with("/assets/vendor/");
            assert_eq!(cache.contains("immutable"), vendored, "{}", file.path);
            if !vendored && file.cache != Cache::NoStore {
                assert_eq!(cache, "no-cache", "{}", file.path);
            }
            assert_eq!(
                response.headers()[header::X_CONTENT_TYPE_OPTIONS],
                "nosniff"
            );
        }
    }
}
