//! The sync worker component: one Redis message, one sync, through
//! `vreg_core::golang::sync`.

use spin_sdk::redis_component;
use vreg_core::api::Context;
use vreg_core::store::SystemClock;

#[redis_component]
fn on_message(message: bytes::Bytes) -> anyhow::Result<()> {
    let (sql, kv) = (vreg_spin::SpinSql::default(), vreg_spin::SpinKv::default());
    let config = vreg_spin::config();
    let ctx = Context {
        sql: &sql,
        kv: &kv,
        clock: &SystemClock,
        config: &config,
    };
    let publisher = vreg_spin::SpinPublisher {
        address: config.redis_url.clone(),
    };
    match vreg_core::golang::sync::handle_message(&ctx, &vreg_spin::SpinFetch, &publisher, &message)
    {
        Ok(outcome) => println!("sync: {outcome:?}"),
        // Recorded on the job, which will be retried; the message itself is done.
        Err(e) => eprintln!("sync failed: {e}"),
    }
    Ok(())
}
