//! The Redis trigger: subscribes to each `[[trigger.redis]]` channel and
//! calls the component's `handle-message` with a fresh instance per
//! message. As under `spin up`, a trigger that cannot connect, or loses its
//! connection, ends: the caller then ends the whole app, so an app that
//! must keep serving while Redis is away has no Redis trigger (vreg runs its
//! worker as an app of its own, restarted from outside).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use futures::StreamExt;

use crate::app::App;
use crate::bindings::RedisHandlerPre;
use crate::state::InstanceState;

pub struct Subscription {
    pub address: String,
    pub channel: String,
    pub component: String,
    handler: RedisHandlerPre<InstanceState>,
}

/// Resolves the Redis triggers: addresses and channels may use `{{ variables }}`.
pub fn subscriptions(app: &App) -> Result<Vec<Subscription>> {
    let default_address = app
        .manifest
        .application
        .trigger
        .redis
        .as_ref()
        .and_then(|r| r.address.clone());
    app.manifest
        .trigger
        .redis
        .iter()
        .map(|t| {
            let address = t
                .address
                .clone()
                .or_else(|| default_address.clone())
                .with_context(|| format!("Redis trigger of {:?} has no address", t.component))?;
            let handler = RedisHandlerPre::new(app.components[&t.component].pre.clone())
                .map_err(anyhow::Error::from)
                .with_context(|| {
                    format!(
                        "component {:?} does not export fermyon:spin/inbound-redis",
                        t.component
                    )
                })?;
            Ok(Subscription {
                address: app.variables.expand(&address)?,
                channel: app.variables.expand(&t.channel)?,
                component: t.component.clone(),
                handler,
            })
        })
        .collect()
}

/// Runs every subscription; returns the first one's failure, the moment a
/// connection fails or is lost. With no subscriptions it never returns.
pub async fn run(app: Arc<App>, subscriptions: Vec<Subscription>) -> anyhow::Error {
    let mut by_address: BTreeMap<String, Vec<Subscription>> = BTreeMap::new();
    for s in subscriptions {
        by_address.entry(s.address.clone()).or_default().push(s);
    }
    if by_address.is_empty() {
        return std::future::pending().await;
    }
    let mut listeners = tokio::task::JoinSet::new();
    for (address, subs) in by_address {
        let app = app.clone();
        listeners.spawn(async move {
            let outcome = subscribe_and_dispatch(&app, &address, &Arc::new(subs)).await;
            match outcome {
                Ok(()) => anyhow::anyhow!("Redis {address} closed the subscription"),
                Err(e) => e.context(format!("Redis trigger on {address}")),
            }
        });
    }
    match listeners.join_next().await {
        Some(Ok(error)) => error,
        Some(Err(panic)) => anyhow::anyhow!("Redis trigger task failed: {panic}"),
        None => anyhow::anyhow!("no Redis trigger"),
    }
}

async fn subscribe_and_dispatch(
    app: &Arc<App>,
    address: &str,
    subs: &Arc<Vec<Subscription>>,
) -> Result<()> {
    let client = redis::Client::open(address)?;
    let mut pubsub = tokio::time::timeout(Duration::from_secs(5), client.get_async_pubsub())
        .await
        .context("connect timed out")??;
    for s in subs.iter() {
        pubsub.subscribe(&s.channel).await?;
    }
    eprintln!(
        "devhost: Redis trigger subscribed to {} on {address}",
        subs.iter()
            .map(|s| s.channel.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut messages = pubsub.into_on_message();
    while let Some(message) = messages.next().await {
        let channel = message.get_channel_name().to_owned();
        let payload = message.get_payload_bytes().to_vec();
        for (index, s) in subs.iter().enumerate() {
            if s.channel == channel {
                let (app, subs) = (app.clone(), subs.clone());
                let payload = payload.clone();
                crate::guest::spawn(async move { deliver(&app, &subs[index], payload).await });
            }
        }
    }
    Ok(())
}

async fn deliver(app: &App, s: &Subscription, payload: Vec<u8>) {
    let started = std::time::Instant::now();
    let loaded = &app.components[&s.component];
    let mut store = app.store(loaded);
    let outcome = async {
        let instance = s.handler.instantiate_async(&mut store).await?;
        instance
            .fermyon_spin_inbound_redis()
            .call_handle_message(&mut store, &payload)
            .await
    }
    .await;
    let status = match outcome {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(e)) => format!("handler error {e:?}"),
        Err(e) => format!("trap: {e:#}"),
    };
    println!(
        "REDIS {} {} {status} {:.1}ms",
        s.channel,
        s.component,
        started.elapsed().as_secs_f64() * 1000.0
    );
}
