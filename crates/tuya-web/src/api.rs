//! The HTTP side: the page's static files, the JSON API and the event stream, with a bearer
//! token on every `/api` request when one is set.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use subtle::ConstantTimeEq as _;
use tokio::sync::{broadcast::error::RecvError, oneshot};

use crate::check::{self, BodyError};
use crate::hub::{Command, CommandError, Hub};

/// The largest command body read (a few DPs; a page never sends more).
const MAX_BODY: usize = 64 * 1024;
/// Event streams open at once (each holds a connection and a buffer of changes).
pub const MAX_STREAMS: usize = 64;

/// How the server runs.
#[derive(Clone)]
pub struct WebConfig {
    /// The bearer token every `/api` request must carry; `None`: none (loopback only).
    pub token: Option<String>,
    /// How long a command may wait for the device's acknowledgement.
    pub command_timeout: Duration,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("token", &self.token.as_ref().map(|_| "****"))
            .field("command_timeout", &self.command_timeout)
            .finish()
    }
}

#[derive(Clone)]
struct App {
    hub: Hub,
    cfg: WebConfig,
    streams: std::sync::Arc<tokio::sync::Semaphore>,
}

/// An error answer: `{"error": …}` with its status.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// The router: `/`, `/app.js`, `/style.css`, `/api/devices`, `/api/devices/{id}`,
/// `POST /api/devices/{id}/dps`, `/api/events`.
pub fn router(hub: Hub, cfg: WebConfig) -> Router {
    Router::new()
        .route("/", get(|| async { asset("index.html") }))
        .route("/app.js", get(|| async { asset("app.js") }))
        .route("/style.css", get(|| async { asset("style.css") }))
        .route("/api/devices", get(list))
        .route("/api/devices/{id}", get(one))
        .route("/api/devices/{id}/dps", post(set))
        .route("/api/events", get(events))
        .fallback(|| async { ApiError(StatusCode::NOT_FOUND, "no such page".into()) })
        .with_state(App {
            hub,
            cfg,
            streams: std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_STREAMS)),
        })
}

/// Serves the router on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    hub: Hub,
    cfg: WebConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(hub, cfg).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

fn asset(name: &str) -> Response {
    let (body, ty) = crate::assets::get(name);
    (
        [
            (header::CONTENT_TYPE, ty),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The token of a request: `Authorization: Bearer …`, or `?token=` (an `EventSource` cannot
/// set headers).
fn authorize(app: &App, headers: &HeaderMap, query: Option<&str>) -> ApiResult<()> {
    let Some(want) = &app.cfg.token else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .or(query)
        .unwrap_or("");
    if bool::from(given.as_bytes().ct_eq(want.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "a token is needed: send `Authorization: Bearer <token>` (the bridge's --http-token)"
                .into(),
        ))
    }
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

fn node(app: &App, id: &str) -> ApiResult<usize> {
    app.hub.find(id).ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            format!("no device {id:?} (give an id or a name from /api/devices)"),
        )
    })
}

async fn list(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> ApiResult<Json<Value>> {
    authorize(&app, &headers, q.token.as_deref())?;
    Ok(Json(app.hub.devices_json()))
}

async fn one(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    authorize(&app, &headers, q.token.as_deref())?;
    let n = node(&app, &id)?;
    app.hub
        .device_json(n)
        .map(Json)
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no device {id:?}")))
}

async fn set(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    authorize(&app, &headers, None)?;
    let n = node(&app, &id)?;
    if body.len() > MAX_BODY {
        return Err(ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {MAX_BODY} bytes"),
        ));
    }
    let Some((name, online, mapping)) = app.hub.mapping(n) else {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("no device {id:?}")));
    };
    let dps = check::dps_of(&body, &mapping).map_err(|e| match e {
        BodyError::Malformed(m) => ApiError(StatusCode::BAD_REQUEST, m),
        BodyError::WrongValue(m) => ApiError(StatusCode::UNPROCESSABLE_ENTITY, m),
    })?;
    if !online {
        return Err(ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{name} is offline"),
        ));
    }
    let (reply, done) = oneshot::channel();
    let fail = |e: CommandError| {
        let status = match e {
            CommandError::Offline(_) => StatusCode::SERVICE_UNAVAILABLE,
            CommandError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            CommandError::Failed(_) => StatusCode::BAD_GATEWAY,
        };
        ApiError(status, e.to_string())
    };
    app.hub
        .submit(Command {
            node: n,
            dps,
            reply,
        })
        .await
        .map_err(fail)?;
    // The holder bounds the device's part; this bounds a holder that never answers.
    let waited = tokio::time::timeout(app.cfg.command_timeout + Duration::from_secs(5), done).await;
    match waited {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => return Err(fail(e)),
        Ok(Err(_)) => return Err(fail(CommandError::Failed("the command was dropped".into()))),
        Err(_) => {
            return Err(fail(CommandError::Timeout(format!(
                "{name} did not acknowledge in time"
            ))))
        }
    }
    app.hub
        .device_json(n)
        .map(Json)
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no device {id:?}")))
}

async fn events(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> ApiResult<Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>>> {
    authorize(&app, &headers, q.token.as_deref())?;
    let permit = app.streams.clone().try_acquire_owned().map_err(|_| {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{MAX_STREAMS} event streams are open already: close a page"),
        )
    })?;
    let rx = app.hub.subscribe();
    // The permit lives as long as the stream.
    let state = (rx, permit, app.hub.clone());
    let stream = futures_util::stream::unfold(state, |(mut rx, permit, hub)| async move {
        let got = tokio::select! {
            // Changes queued before the close are still delivered, then the stream ends.
            biased;
            r = rx.recv() => r,
            () = hub.closed() => return None,
        };
        let ev = match got {
            Ok(text) => Event::default().data(&*text),
            // A reader too slow to keep up reloads the list rather than show a wrong state.
            Err(RecvError::Lagged(_)) => Event::default().data(r#"{"type":"lagged"}"#),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(ev), (rx, permit, hub)))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
