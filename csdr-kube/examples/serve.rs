//! Serves a simulated cluster of a Kubernetes release over HTTP until Ctrl-C, so `kubectl` can
//! be pointed at it: `cargo run -p csdr-kube --features testing --example serve -- 1.16 8080`,
//! then `kubectl --server http://127.0.0.1:8080 api-versions`.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use csdr_core::engine::SystemClock;
use csdr_core::releases::KubeRelease;
use csdr_core::sim::SimCluster;
use csdr_kube::testing::ApiServer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let release: KubeRelease = args.next().unwrap_or_else(|| "1.28".into()).parse()?;
    let port: u16 = args.next().unwrap_or_else(|| "0".into()).parse()?;
    // Creation and deletion times from the system clock, so `kubectl get` shows true ages.
    let sim = SimCluster::new(release).with_clock(Arc::new(SystemClock));
    let server = ApiServer::start_on(sim, SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    println!("{}", server.url());
    tokio::signal::ctrl_c().await?;
    server.shutdown().await?;
    Ok(())
}
