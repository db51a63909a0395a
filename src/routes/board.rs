//! The built-in board at `/board/`: a read-only, live view of a tenant's projects, written
//! against the public API only (it is also the worked example of a dashboard: the summary,
//! conditional GETs, list cursors and the change feed). Its files, in `src/board/`, are embedded
//! at compile time and served here. They are not API operations: they stay out of the spec,
//! need no key (the page asks for one and sends it to the API itself), and carry a strict
//! Content-Security-Policy: nothing inline, nothing from elsewhere, never framed.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::{FromRequest, Handler, HttpResponse, Resource, Responder, guard, web};
use utoipa_actix_web::service_config::ServiceConfig;

use super::conditional::body_etag;
use crate::error::{ApiError, ApiResult};
use crate::extract::IfNoneMatch;

/// What the board's pages may do: load the board's own files and call their own origin (the
/// API and its event streams). No inline script or style, no plugin, no `<base>`, no form
/// submitted anywhere (the key prompt is read by the script and never leaves as a form).
pub const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'";

/// The files change only with the binary: a browser may keep them but asks each time, which
/// costs a 304 (the tag is the file's digest).
const REVALIDATE: &str = "no-cache";

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("../board/", $name)),
        }
    };
}

/// Every file of `src/board/` (a unit test keeps this list and the folder equal).
const ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("board.css", CSS),
    asset!("icon.svg", SVG),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("feed.js", JS),
    asset!("projects.js", JS),
    asset!("project.js", JS),
    asset!("summary.js", JS),
    asset!("filters.js", JS),
    asset!("columns.js", JS),
    asset!("cards.js", JS),
    asset!("detail.js", JS),
];

/// Each asset's `ETag`, computed once.
static TAGS: LazyLock<Vec<String>> =
    LazyLock::new(|| ASSETS.iter().map(|asset| body_etag(asset.body)).collect());

/// Registers `/board` (a redirect), `/board/` (the page) and `/board/{file}`; plain actix
/// services, outside the spec.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.map(|cfg| {
        cfg.service(
            web::scope("/board")
                .wrap(DefaultHeaders::new().add((header::CONTENT_SECURITY_POLICY, POLICY)))
                .service(readable("", to_board))
                .service(readable("/", index))
                .service(readable("/{file}", file))
                .default_service(web::to(unknown_file)),
        )
    });
}

/// A resource answering GET and HEAD with `handler`, and any other method with a 405.
fn readable<F, Args>(path: &str, handler: F) -> Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    web::resource(path)
        .route(
            web::route()
                .guard(guard::Any(guard::Get()).or(guard::Head()))
                .to(handler),
        )
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(ApiError::MethodNotAllowed {
                allow: "GET, HEAD".into(),
            })
        }))
}

/// `/board` → `/board/`, so that the page's relative world is the folder.
async fn to_board() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/board/"))
        .finish()
}

async fn index(if_none_match: IfNoneMatch) -> ApiResult<HttpResponse> {
    serve("index.html", &if_none_match)
}

async fn file(name: web::Path<String>, if_none_match: IfNoneMatch) -> ApiResult<HttpResponse> {
    serve(&name, &if_none_match)
}

async fn unknown_file() -> ApiResult<HttpResponse> {
    Err(ApiError::NotFound("board file"))
}

fn serve(name: &str, if_none_match: &IfNoneMatch) -> ApiResult<HttpResponse> {
    let index = ASSETS
        .iter()
        .position(|asset| asset.name == name)
        .ok_or(ApiError::NotFound("board file"))?;
    let (asset, etag) = (&ASSETS[index], &TAGS[index]);
    let unchanged = if_none_match.matches(etag);
    let mut response = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag.as_str()))
        .insert_header((header::CACHE_CONTROL, REVALIDATE));
    if unchanged {
        return Ok(response.finish());
    }
    Ok(response.content_type(asset.content_type).body(asset.body))
}

#[cfg(test)]
mod tests {
    use super::ASSETS;

    #[test]
    fn every_file_of_the_board_folder_is_served_and_nothing_else() {
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/src/board");
        let mut on_disk: Vec<String> = std::fs::read_dir(folder)
            .expect("src/board exists")
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        let mut served: Vec<String> = ASSETS.iter().map(|a| a.name.to_owned()).collect();
        on_disk.sort();
        served.sort();
        assert_eq!(on_disk, served);
    }

    #[test]
    fn every_board_file_the_page_or_a_module_names_is_served() {
        let named = |text: &str| -> Vec<String> {
            let pattern = regex::Regex::new(r#"(?:/board/|from '\./)([a-z]+\.[a-z]+)"#).unwrap();
            pattern
                .captures_iter(text)
                .map(|c| c[1].to_owned())
                .collect()
        };
        for asset in ASSETS
            .iter()
            .filter(|a| !a.content_type.starts_with("image"))
        {
            let text = std::str::from_utf8(asset.body).unwrap();
            for name in named(text) {
                assert!(
                    ASSETS.iter().any(|a| a.name == name),
                    "{} names {name}, which is not served",
                    asset.name
                );
            }
        }
    }
}
