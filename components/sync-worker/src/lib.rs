//! The sync worker component: one Redis keyspace announcement (a key was
//! written to the trigger queue), one sync, through `vreg_core::golang::sync`.

use spin_sdk::redis_component;

#[redis_component]
fn on_message(message: bytes::Bytes) -> anyhow::Result<()> {
    vreg_spin::with_context(|ctx| {
        match vreg_core::golang::sync::handle_announcement(ctx, &message) {
            Ok(outcome) => println!("sync: {outcome:?}"),
            // Recorded on the job, which will be retried; the message itself is done.
            Err(e) => eprintln!("sync failed: {e}"),
        }
    });
    Ok(())
}
