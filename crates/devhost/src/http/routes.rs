//! Spin's HTTP route syntax and precedence. Routes are exact paths, may have
//! `:name` segments, and may end in `/...` (a trailing wildcard). Matching
//! uses `routefinder`, the same matcher Spin's router is built on, so the most
//! specific route wins exactly as it does under `spin up`: exact segments
//! beat `:name` segments, which beat wildcards, and longer prefixes beat
//! shorter ones.

use anyhow::{anyhow, Result};

#[derive(Debug, Clone)]
struct Target {
    component: String,
    /// The route as written in the manifest.
    raw_route: String,
}

pub struct Router {
    router: routefinder::Router<Target>,
}

/// What a request path matched, and the values Spin passes in its headers.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteMatch {
    pub component: String,
    /// `spin-raw-component-route` (and `spin-matched-route`; the base is `/`).
    pub raw_route: String,
    /// `spin-component-route`: the route without its `/...`.
    pub component_route: String,
    /// `spin-path-info`: what the trailing wildcard matched.
    pub path_info: String,
    /// `spin-path-match-<name>` for each `:name` segment.
    pub captures: Vec<(String, String)>,
}

/// A route with a leading `/` and without one trailing `/`.
fn sanitize(route: &str) -> String {
    let absolute = if route.starts_with('/') {
        route.to_owned()
    } else {
        format!("/{route}")
    };
    absolute
        .strip_suffix('/')
        .map(str::to_owned)
        .unwrap_or(absolute)
}

impl Router {
    /// Builds the router from `(route, component)` pairs. A route given twice
    /// is served by its last component, as in Spin (with a warning).
    pub fn build<'a>(routes: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Router> {
        let mut router = routefinder::Router::new();
        let routes: Vec<(&str, &str)> = routes.into_iter().collect();
        for (index, (route, component)) in routes.iter().enumerate() {
            let sanitized = sanitize(route);
            if routes[index + 1..]
                .iter()
                .any(|(r, _)| sanitize(r) == sanitized)
            {
                eprintln!("devhost: route {route:?} of {component:?} is defined again later; the later one wins");
                continue;
            }
            let spec = match sanitized.strip_suffix("/...") {
                Some(prefix) => format!("{prefix}/*"),
                None => sanitized.clone(),
            };
            router
                .add(
                    spec.as_str(),
                    Target {
                        component: component.to_string(),
                        raw_route: route.to_string(),
                    },
                )
                .map_err(|e| anyhow!("invalid route {route:?} of component {component:?}: {e}"))?;
        }
        Ok(Router { router })
    }

    pub fn route(&self, path: &str) -> Option<RouteMatch> {
        let best = self.router.best_match(path)?;
        let target = best.handler();
        let captures = best.captures();
        // Spin keeps trailing slashes in the path info; routefinder drops them.
        let path_info = match captures.wildcard() {
            None => String::new(),
            Some(w) => match (w.is_empty(), path.ends_with('/')) {
                (true, false) => String::new(),
                (true, true) => "/".into(),
                (false, false) => format!("/{w}"),
                (false, true) => format!("/{w}/"),
            },
        };
        Some(RouteMatch {
            component: target.component.clone(),
            raw_route: target.raw_route.clone(),
            component_route: target
                .raw_route
                .strip_suffix("/...")
                .unwrap_or(&target.raw_route)
                .to_owned(),
            path_info,
            captures: captures
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        Router::build([
            ("/...", "fallback"),
            ("/api/v4/...", "admin"),
            ("/api/v4/version", "version"),
            ("/api/v4/virtual_registries/packages/maven/:id/...", "maven"),
            (
                "/api/v4/virtual_registries/packages/maven/registries/...",
                "admin-maven",
            ),
            ("/api/v4/projects/:id/packages/go/...", "go"),
        ])
        .unwrap()
    }

    #[test]
    fn most_specific_route_wins() {
        let r = router();
        assert_eq!(r.route("/api/v4/version").unwrap().component, "version");
        assert_eq!(r.route("/api/v4/groups").unwrap().component, "admin");
        assert_eq!(r.route("/other").unwrap().component, "fallback");
        assert_eq!(r.route("/").unwrap().component, "fallback");
        let maven = r
            .route("/api/v4/virtual_registries/packages/maven/7/org/x/1.0/x.jar")
            .unwrap();
        assert_eq!(maven.component, "maven");
        assert_eq!(maven.captures, [("id".to_owned(), "7".to_owned())]);
        assert_eq!(maven.path_info, "/org/x/1.0/x.jar");
        assert_eq!(
            maven.component_route,
            "/api/v4/virtual_registries/packages/maven/:id"
        );
        // An exact segment beats a `:name` segment at the same place.
        assert_eq!(
            r.route("/api/v4/virtual_registries/packages/maven/registries/7")
                .unwrap()
                .component,
            "admin-maven"
        );
        assert_eq!(
            r.route("/api/v4/projects/3/packages/go/example.com/m/@v/list")
                .unwrap()
                .component,
            "go"
        );
    }

    #[test]
    fn wildcard_path_info_keeps_slashes() {
        let r = Router::build([("/a/...", "a")]).unwrap();
        assert_eq!(r.route("/a").unwrap().path_info, "");
        assert_eq!(r.route("/a/").unwrap().path_info, "/");
        assert_eq!(r.route("/a/b/c/").unwrap().path_info, "/b/c/");
        assert!(r.route("/b").is_none());
        let exact = Router::build([("/exact", "e")]).unwrap();
        assert!(exact.route("/exact/more").is_none());
        assert_eq!(exact.route("/exact").unwrap().raw_route, "/exact");
    }
}
