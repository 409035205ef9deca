//! devhost runs components as Spin does: routes, grants, outbound
//! allow-list, variables, the Redis trigger and atomic leases, checked with
//! the probe components against a real redis-server.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use vreg_tests::{closed_port, DevHost, Json, RedisServer};

const PROBE: &str = "tests/fixtures/probe.toml";
const PROBE_REDIS: &str = "tests/fixtures/probe-redis.toml";

fn probe(extra: &[(&str, &str)]) -> DevHost {
    start(PROBE, extra)
}

fn start(manifest: &str, extra: &[(&str, &str)]) -> DevHost {
    let mut env = vec![("SPIN_VARIABLE_TOKEN", "t0ken")];
    env.extend_from_slice(extra);
    DevHost::start(manifest, &env)
}

fn route_headers(host: &DevHost, path: &str) -> Json {
    let reply = host.get(path);
    assert_eq!(reply.status, 200, "{path}: {}", reply.text());
    reply.json()
}

#[test]
fn routes_follow_spin_precedence_and_set_spin_headers() {
    let host = probe(&[]);
    let exact = route_headers(&host, "/probe/route/exact");
    assert_eq!(exact["spin-raw-component-route"], "/probe/route/exact");
    assert_eq!(exact["spin-path-info"], "");
    assert_eq!(exact["spin-base-path"], "/");
    assert!(exact["spin-full-url"]
        .as_str()
        .unwrap()
        .ends_with("/probe/route/exact"));
    assert!(exact["spin-client-addr"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));

    // `:name` then an exact segment beats `:name` then a wildcard.
    let fixed = route_headers(&host, "/probe/route/abc/fixed");
    assert_eq!(
        fixed["spin-raw-component-route"],
        "/probe/route/:name/fixed"
    );
    assert_eq!(fixed["spin-path-match-name"], "abc");

    let wild = route_headers(&host, "/probe/route/abc/x/y?q=1");
    assert_eq!(wild["spin-raw-component-route"], "/probe/route/:name/...");
    assert_eq!(wild["spin-component-route"], "/probe/route/:name");
    assert_eq!(wild["spin-path-info"], "/x/y");
    assert!(wild["spin-full-url"]
        .as_str()
        .unwrap()
        .ends_with("/probe/route/abc/x/y?q=1"));

    // The longer wildcard prefix beats the shorter one.
    assert_eq!(
        route_headers(&host, "/probe/route")["spin-raw-component-route"],
        "/probe/..."
    );
    assert_eq!(
        route_headers(&host, "/elsewhere/route")["spin-raw-component-route"],
        "/..."
    );
    assert_eq!(
        route_headers(&host, "/elsewhere/route")["spin-path-info"],
        "/elsewhere/route"
    );
    // Another component on its own route.
    let log = host.log();
    assert!(log.contains("probe-bare: /bare/..."), "{log}");
}

#[test]
fn stores_and_databases_must_be_granted_in_the_manifest() {
    let host = probe(&[]);
    assert_eq!(host.get("/probe/kv/default").text(), "ok");
    let other = host.get("/probe/kv/other");
    assert_eq!(
        (other.status, other.text().as_str()),
        (403, "Error::AccessDenied")
    );
    let bare = host.get("/bare/kv/default");
    assert_eq!(
        (bare.status, bare.text().as_str()),
        (403, "Error::AccessDenied")
    );
    assert_eq!(
        host.get("/probe/sqlite/default").text(),
        "[Value::Integer(42)]"
    );
    let bare_db = host.get("/bare/sqlite/default");
    assert_eq!(
        (bare_db.status, bare_db.text().as_str()),
        (403, "Error::AccessDenied")
    );
    // Granted stores keep what is written.
    assert_eq!(
        host.request("PUT", "/probe/kv/default/k", &[], b"v1")
            .text(),
        "stored"
    );
    assert_eq!(host.get("/probe/kv/default/k").text(), "v1");
}

/// A one-shot HTTP server on 127.0.0.1 answering `body` to `count` requests.
fn upstream(body: &'static str, count: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(count) {
            let Ok(mut stream) = stream else { continue };
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn outbound_http_goes_only_to_allowed_hosts() {
    let port = upstream("hello-from-upstream", 1);
    let port_text = port.to_string();
    let host = probe(&[("SPIN_VARIABLE_UPSTREAM_PORT", &port_text)]);
    let allowed = host.get(&format!("/probe/outbound?url=http://127.0.0.1:{port}/x"));
    assert_eq!(allowed.text(), "200 hello-from-upstream");
    let other_port = closed_port();
    let denied = host.get(&format!(
        "/probe/outbound?url=http://127.0.0.1:{other_port}/x"
    ));
    assert_eq!(denied.status, 502);
    assert!(
        denied.text().contains("HttpRequestDenied"),
        "{}",
        denied.text()
    );
    let other_host = host.get(&format!("/probe/outbound?url=http://localhost:{port}/x"));
    assert!(
        other_host.text().contains("HttpRequestDenied"),
        "{}",
        other_host.text()
    );
    assert!(
        host.log_shows("denied: not in allowed_outbound_hosts"),
        "{}",
        host.log()
    );
}

#[test]
fn variables_come_from_the_environment_before_defaults() {
    let defaults = probe(&[]);
    assert_eq!(defaults.get("/probe/var/greeting").text(), "hello");
    assert_eq!(defaults.get("/probe/var/composite").text(), "hello, world");
    assert_eq!(defaults.get("/probe/var/token").text(), "t0ken");
    let undefined = defaults.get("/probe/var/nope");
    assert_eq!(undefined.status, 404);
    assert!(undefined.text().contains("Undefined"));
    assert!(defaults
        .get("/probe/var/NOT-VALID")
        .text()
        .contains("InvalidName"));

    let overridden = probe(&[("SPIN_VARIABLE_GREETING", "bonjour")]);
    assert_eq!(overridden.get("/probe/var/greeting").text(), "bonjour");
    assert_eq!(
        overridden.get("/probe/var/composite").text(),
        "bonjour, world"
    );
}

#[test]
fn a_required_variable_without_a_value_stops_startup() {
    let log = match DevHost::try_start(PROBE, &[]) {
        Ok(_) => panic!("devhost started without its required variable"),
        Err(log) => log,
    };
    assert!(log.contains("required variable(s) not set: token"), "{log}");
    assert!(log.contains("SPIN_VARIABLE_TOKEN"), "{log}");
}

fn wait_for(host: &DevHost, path: &str, expected: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = host.get(path).text();
        if text == expected || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn redis_messages_reach_the_trigger_component() {
    let redis = RedisServer::start();
    let url = redis.url();
    let host = start(PROBE_REDIS, &[("SPIN_VARIABLE_REDIS_URL", &url)]);
    // The trigger subscribes asynchronously; publish until a subscriber hears it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while redis.command(&["PUBLISH", "probe-channel", "first"]).trim() == ":0" {
        assert!(
            Instant::now() < deadline,
            "the trigger never subscribed:\n{}",
            host.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        wait_for(&host, "/probe/kv/default/redis:last", "first"),
        "first"
    );
    redis.command(&["PUBLISH", "probe-channel", "second message"]);
    redis.command(&["PUBLISH", "other-channel", "not for us"]);
    assert_eq!(
        wait_for(&host, "/probe/kv/default/redis:last", "second message"),
        "second message"
    );
    assert_eq!(wait_for(&host, "/probe/kv/default/redis:count", "2"), "2");
    let log = host.log();
    assert!(
        host.log_shows("[probe-redis] received 5 bytes"),
        "component output is prefixed:\n{log}"
    );
    assert!(
        host.log_shows("REDIS probe-channel probe-redis ok"),
        "{log}"
    );
    assert!(
        host.log_shows("GET /probe/kv/default/redis:last probe 200"),
        "requests are logged:\n{log}"
    );
}

fn wait_for_exit(host: &mut DevHost) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    while host.is_running() {
        assert!(Instant::now() < deadline, "still running:\n{}", host.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    host.log()
}

/// As `spin up` does: a Redis trigger that cannot connect ends the app,
/// HTTP included (so vreg keeps its worker in an app of its own).
#[test]
fn an_app_whose_redis_trigger_cannot_connect_ends() {
    let closed = format!("redis://127.0.0.1:{}", closed_port());
    let mut host = start(PROBE_REDIS, &[("SPIN_VARIABLE_REDIS_URL", &closed)]);
    let log = wait_for_exit(&mut host);
    assert!(
        host.log_shows("A trigger exited unexpectedly. Terminating."),
        "{log}"
    );
    assert!(host.log_shows("Redis trigger on"), "{log}");
}

#[test]
fn an_app_whose_redis_goes_away_ends() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    let mut host = start(PROBE_REDIS, &[("SPIN_VARIABLE_REDIS_URL", &url)]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while redis
        .command(&["PUBSUB", "NUMSUB", "probe-channel"])
        .trim_end()
        .ends_with(":0")
    {
        assert!(
            Instant::now() < deadline,
            "never subscribed:\n{}",
            host.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(host.is_running());
    redis.stop();
    let log = wait_for_exit(&mut host);
    assert!(
        host.log_shows("A trigger exited unexpectedly. Terminating."),
        "{log}"
    );
}

/// An app without a Redis trigger does not care whether Redis is up.
#[test]
fn an_app_without_a_redis_trigger_serves_with_redis_down() {
    let mut host = probe(&[]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(host.is_running());
    assert_eq!(host.get("/probe/var/greeting").text(), "hello");
}

#[test]
fn a_lease_taken_with_compare_and_swap_is_taken_exactly_once() {
    let host = probe(&[]);
    assert_eq!(
        contest_lease(&host.base),
        1,
        "exactly one of 40 concurrent requests takes the lease"
    );
    assert_eq!(host.get("/probe/kv/default/contested").text(), "taken");
}

/// How many of 40 concurrent requests for the probe's lease win it.
fn contest_lease(base: &str) -> usize {
    vreg_tests::winners_of(&format!("{base}/probe/lease/contested"), 40)
}

/// A key-value store on Redis (as the shipped `sync` and `counters` are):
/// values kept byte for byte, many requests' calls in flight at once on
/// its connection, a compare-and-swap lease taken exactly once (as one
/// script: callers share the connection, so WATCH cannot be used), and a
/// Redis that restarts is used again without restarting the app.
#[test]
fn a_key_value_store_on_redis_serves_concurrent_calls_and_outlives_a_restart() {
    let mut redis = RedisServer::start();
    let config = format!(
        "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
        redis.url()
    );
    let host = DevHost::start_configured(PROBE, &[("SPIN_VARIABLE_TOKEN", "t0ken")], &config);
    let value: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let stored = host.request("PUT", "/probe/kv/default/bytes", &[], &value);
    assert_eq!(stored.text(), "stored");
    assert!(host.get("/probe/kv/default/bytes").body == value);
    assert!(redis.command(&["STRLEN", "bytes"]).contains("3000"));

    let base = host.base.clone();
    std::thread::scope(|scope| {
        for n in 0..32 {
            let base = base.clone();
            scope.spawn(move || {
                for round in 0..5 {
                    let url = format!("{base}/probe/kv/default/key{n}");
                    let body = format!("{n}:{round}");
                    ureq::put(&url).send_bytes(body.as_bytes()).unwrap();
                    let read = ureq::get(&url).call().unwrap().into_string().unwrap();
                    assert_eq!(read, body);
                }
            });
        }
    });

    assert_eq!(
        contest_lease(&base),
        1,
        "exactly one of 40 concurrent requests takes the lease"
    );
    assert_eq!(host.get("/probe/kv/default/contested").text(), "taken");

    redis.stop();
    assert_eq!(
        host.get("/probe/kv/default/bytes").status,
        500,
        "Redis is down"
    );
    redis.restart();
    assert_eq!(
        host.get("/probe/kv/default/bytes").status,
        404,
        "a new, empty Redis"
    );
    assert_eq!(
        host.request("PUT", "/probe/kv/default/bytes", &[], b"again")
            .text(),
        "stored"
    );
    assert_eq!(host.get("/probe/kv/default/bytes").text(), "again");
}

/// Guests run on the runtime's workers, and a store call runs in place
/// there; a SQLite call, which may wait out its busy timeout on another
/// writer's lock, must not hold a worker the other requests need. Many
/// requests wait on a database another process has locked (more than
/// there are workers), and a request that needs no database is still
/// answered while they wait.
#[test]
fn requests_waiting_on_a_locked_database_hold_up_no_others() {
    let host = probe(&[]);
    assert_eq!(host.get("/probe/sqlite/default").status, 200);
    let locker = rusqlite::Connection::open(host.state_dir().join("sqlite_db.db")).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let waiting: Vec<_> = (0..16 * cores)
        .map(|_| {
            let url = format!("{}/probe/sqlite/default", host.base);
            std::thread::spawn(move || {
                match ureq::get(&url).timeout(Duration::from_secs(30)).call() {
                    Ok(r) => Ok(r.status()),
                    Err(ureq::Error::Status(status, _)) => Ok(status),
                    Err(e) => Err(e.to_string()),
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let answered = host.try_request(
        "GET",
        "/probe/var/greeting",
        &[],
        &[],
        Duration::from_secs(3),
    );
    locker.execute_batch("COMMIT").unwrap();
    assert_eq!(
        answered,
        Ok(200),
        "a request with no database waited behind those on the lock"
    );
    for request in waiting {
        assert_eq!(request.join().unwrap(), Ok(200), "once the lock is gone");
    }
}
