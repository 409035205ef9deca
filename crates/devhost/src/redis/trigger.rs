//! The Redis trigger: subscribes to each `[[trigger.redis]]` channel and
//! calls the component's `handle-message` with a fresh instance per
//! message. A lost connection is retried with backoff; the rest of the app
//! keeps serving meanwhile.

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

/// Runs every subscription until the process ends.
pub async fn run(app: Arc<App>, subscriptions: Vec<Subscription>) {
    let mut by_address: BTreeMap<String, Vec<Subscription>> = BTreeMap::new();
    for s in subscriptions {
        by_address.entry(s.address.clone()).or_default().push(s);
    }
    let tasks: Vec<_> = by_address
        .into_iter()
        .map(|(address, subs)| tokio::spawn(listen(app.clone(), address, Arc::new(subs))))
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    // Listeners never finish; with none, there is nothing to do but wait.
    std::future::pending::<()>().await;
}

async fn listen(app: Arc<App>, address: String, subs: Arc<Vec<Subscription>>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match subscribe_and_dispatch(&app, &address, &subs).await {
            Ok(()) => eprintln!("devhost: Redis {address} closed the subscription; reconnecting"),
            Err(e) => {
                eprintln!("devhost: Redis trigger on {address}: {e:#}; retrying in {backoff:?}")
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
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
                tokio::spawn(async move { deliver(&app, &subs[index], payload).await });
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
