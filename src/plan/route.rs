//! The route axis: what stands between a client and the broker.
//!
//! A cell is (tag, column, route). `direct` is the broker's plain WebSocket listener (every
//! run before routes existed); `tls` its own `wss` listener with a certificate made per run;
//! `nginx`, `haproxy`, `caddy` and `apache` a reverse proxy from Debian's package in front of
//! the plain listener, each also with TLS terminated by the proxy (`nginx-tls`, …).
//!
//! A route's cells are named by their column under the route, `nginx/paho-java-1.2.5`
//! ([`column_key`]); on `direct` the column keeps its plain name, so a direct-only run reads
//! as it did before routes. The TCP column has no WebSocket hop to route through: it runs on
//! `direct` only ([`Route::carries`]).
//!
//! Plan-level names only: `engine::proxy::ProxyKind` starts the containers and maps from
//! [`ProxyName`] by name, so the plan does not import the engine.

use std::fmt;

use crate::plan::{Column, Transport};

/// A reverse proxy the matrix can put in front of the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProxyName {
    /// nginx (`proxy_pass` with the Upgrade/Connection headers of its WebSocket guide).
    Nginx,
    /// HAProxy (an `http` frontend and backend; WebSocket is tunnelled after the upgrade).
    Haproxy,
    /// Caddy (`reverse_proxy`, which passes upgrades through).
    Caddy,
    /// Apache httpd with mod_proxy_wstunnel.
    Apache,
}

impl ProxyName {
    /// Every proxy, in the order routes list them.
    pub const ALL: [ProxyName; 4] = [ProxyName::Nginx, ProxyName::Haproxy, ProxyName::Caddy, ProxyName::Apache];

    /// The proxy's name, as routes and `engine::proxy::ProxyKind` spell it.
    pub fn name(self) -> &'static str {
        match self {
            ProxyName::Nginx => "nginx",
            ProxyName::Haproxy => "haproxy",
            ProxyName::Caddy => "caddy",
            ProxyName::Apache => "apache",
        }
    }

    /// Looks a proxy up by name.
    pub fn from_name(name: &str) -> Option<ProxyName> {
        ProxyName::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// One route from client to broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Route {
    /// The broker's plain listeners (WebSocket and TCP).
    Direct,
    /// The broker's own TLS WebSocket listener (`wss`).
    Tls,
    /// A reverse proxy in front of the broker's plain WebSocket listener; with `tls` the
    /// proxy terminates TLS (`wss` to the proxy, `ws` from it to the broker).
    Proxy {
        /// Which proxy.
        proxy: ProxyName,
        /// Whether the client speaks TLS to the proxy.
        tls: bool,
    },
}

/// The name of the route every run has when it names none.
pub const DIRECT: &str = "direct";

impl Route {
    /// Every route, in the order reports group them.
    pub fn all() -> Vec<Route> {
        let mut all = vec![Route::Direct, Route::Tls];
        for proxy in ProxyName::ALL {
            all.push(Route::Proxy { proxy, tls: false });
            all.push(Route::Proxy { proxy, tls: true });
        }
        all
    }

    /// The route's name: `direct`, `tls`, `nginx`, `nginx-tls`, …
    pub fn name(self) -> String {
        match self {
            Route::Direct => DIRECT.to_string(),
            Route::Tls => "tls".to_string(),
            Route::Proxy { proxy, tls: false } => proxy.name().to_string(),
            Route::Proxy { proxy, tls: true } => format!("{}-tls", proxy.name()),
        }
    }

    /// Looks a route up by name.
    pub fn from_name(name: &str) -> Option<Route> {
        Route::all().into_iter().find(|r| r.name() == name)
    }

    /// Whether the client speaks TLS on this route (`wss://`).
    pub fn is_tls(self) -> bool {
        matches!(self, Route::Tls | Route::Proxy { tls: true, .. })
    }

    /// The proxy in front of the broker, if any.
    pub fn proxy(self) -> Option<ProxyName> {
        match self {
            Route::Proxy { proxy, .. } => Some(proxy),
            Route::Direct | Route::Tls => None,
        }
    }

    /// Whether a column runs on this route: the TCP column only on `direct`, since only a
    /// WebSocket session passes through a TLS WebSocket listener or an HTTP proxy.
    pub fn carries(self, column: &Column) -> bool {
        self == Route::Direct || column.transport() == Transport::Ws
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// What a column is called under a route in cell ids, results and reports: the plain column
/// name on `direct`, `route/column` elsewhere (`nginx/paho-java-1.2.5`).
pub fn column_key(route: &str, column: &str) -> String {
    if route == DIRECT {
        column.to_string()
    } else {
        format!("{route}/{column}")
    }
}

/// The route part and the column part of a column key (`("nginx", "rfc6455")`, or
/// `("direct", "rfc6455")` for a plain name). Column names never hold `/`.
pub fn split_key(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or((DIRECT, key))
}

/// The known routes' names, for error messages.
pub fn known_names() -> String {
    Route::all().iter().map(|r| r.name()).collect::<Vec<_>>().join(", ")
}

/// Parses a list of route names (`direct,tls,nginx`): each known, none twice, at least one.
pub fn parse_routes<S: AsRef<str>>(names: &[S]) -> Result<Vec<Route>, String> {
    let mut routes = Vec::new();
    for n in names {
        let n = n.as_ref().trim();
        let route = Route::from_name(n).ok_or_else(|| format!("unknown route {n:?}; known routes: {}", known_names()))?;
        if routes.contains(&route) {
            return Err(format!("route {n:?} is listed twice"));
        }
        routes.push(route);
    }
    if routes.is_empty() {
        return Err(format!("no route given; write one or more of {}", known_names()));
    }
    Ok(routes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Profile;

    #[test]
    fn every_route_reads_back_from_its_name() {
        let names: Vec<String> = Route::all().iter().map(|r| r.name()).collect();
        assert_eq!(
            names,
            ["direct", "tls", "nginx", "nginx-tls", "haproxy", "haproxy-tls", "caddy", "caddy-tls", "apache", "apache-tls"]
        );
        for r in Route::all() {
            assert_eq!(Route::from_name(&r.name()), Some(r));
        }
    }

    #[test]
    fn an_unknown_route_is_named_with_the_known_ones() {
        let e = parse_routes(&["direct", "nginxx"]).expect_err("unknown");
        assert!(e.contains("\"nginxx\"") && e.contains("haproxy-tls"), "{e}");
        assert!(parse_routes(&["tls", "tls"]).expect_err("twice").contains("twice"));
        assert!(parse_routes::<&str>(&[]).is_err());
    }

    #[test]
    fn tcp_runs_on_direct_only() {
        let tcp = Column::Builtin(Profile::Tcp);
        let ws = Column::Builtin(Profile::Rfc6455);
        assert!(Route::Direct.carries(&tcp));
        assert!(!Route::Tls.carries(&tcp));
        assert!(!Route::Proxy { proxy: ProxyName::Nginx, tls: false }.carries(&tcp));
        assert!(Route::Proxy { proxy: ProxyName::Haproxy, tls: true }.carries(&ws));
    }

    #[test]
    fn a_column_keeps_its_name_on_direct_and_takes_the_route_elsewhere() {
        assert_eq!(column_key("direct", "rfc6455"), "rfc6455");
        assert_eq!(column_key("nginx-tls", "paho-java@1.2.5"), "nginx-tls/paho-java@1.2.5");
        assert_eq!(split_key("nginx-tls/paho-java@1.2.5"), ("nginx-tls", "paho-java@1.2.5"));
        assert_eq!(split_key("rfc6455"), ("direct", "rfc6455"));
    }

    #[test]
    fn tls_routes_are_the_tls_listener_and_the_tls_terminating_proxies() {
        let tls: Vec<String> = Route::all().into_iter().filter(|r| r.is_tls()).map(|r| r.name()).collect();
        assert_eq!(tls, ["tls", "nginx-tls", "haproxy-tls", "caddy-tls", "apache-tls"]);
    }
}
