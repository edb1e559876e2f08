//! The Schema Registry of a `sluice server`, `shell` or `run` process:
//! an external one (`--schema-registry URL`, an [`HttpRegistry`]), or
//! sluice's own [`Store`], kept in the broker's `_schemas` topic
//! ([`journal`]) and served over Confluent's REST API ([`server`]) on
//! `--schema-registry-listen` (127.0.0.1:8081 unless told otherwise).

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use super::server::{self, Served};
use super::{journal, HttpRegistry, RegistryRef, Store};
use crate::error::{Error, Result};
use crate::runtime::io::Broker;

/// Where the embedded registry listens unless told otherwise (Confluent's
/// port).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8081";

/// Where the embedded registry's REST API listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen {
    /// Nowhere (`off`): the registry serves this process only.
    Off,
    /// [`DEFAULT_LISTEN`], as nobody chose an address.
    Default,
    /// The address the user chose.
    At(SocketAddr),
}

impl Listen {
    /// Parses `--schema-registry-listen` (`None` when it was not given):
    /// `HOST:PORT` or `off`.
    pub fn parse(flag: Option<&str>) -> Result<Listen> {
        let Some(text) = flag.map(str::trim) else {
            return Ok(Listen::Default);
        };
        if text.eq_ignore_ascii_case("off") {
            return Ok(Listen::Off);
        }
        if let Ok(address) = text.parse::<SocketAddr>() {
            return Ok(Listen::At(address));
        }
        text.to_socket_addrs()
            .ok()
            .and_then(|mut found| found.next())
            .map(Listen::At)
            .ok_or_else(|| {
                Error::user(format!(
                    "--schema-registry-listen '{text}' is not an address: expected HOST:PORT \
                     (such as {DEFAULT_LISTEN}) or off"
                ))
            })
    }
}

/// The registry a process uses, with its REST server when it serves one.
pub struct ProcessRegistry {
    registry: RegistryRef,
    served: Option<Served>,
}

impl ProcessRegistry {
    /// The registry at `external` when given; else a store replayed from
    /// and journaled in `_schemas` on `broker` (when `persist`: a real
    /// broker), served on `listen`. The
    /// default address in use is an error when `must_serve` (a server,
    /// whose clients expect its registry there), else a warning (a shell
    /// or a script then keeps its schemas to itself). `access` says who may
    /// use it and whether over HTTPS (as the REST API). Prints where the
    /// registry is.
    pub async fn open(
        broker: &Arc<dyn Broker>,
        external: Option<&str>,
        listen: Listen,
        must_serve: bool,
        persist: bool,
        access: server::Access,
    ) -> Result<ProcessRegistry> {
        if let Some(url) = external.map(str::trim).filter(|u| !u.is_empty()) {
            let registry = HttpRegistry::new(url)?;
            eprintln!(
                "Schema Registry: {} (external)",
                crate::sr::SchemaRegistry::url(&registry)
            );
            return Ok(ProcessRegistry {
                registry: RegistryRef(Arc::new(registry)),
                served: None,
            });
        }
        let store = Arc::new(Store::new("embedded"));
        // On the embedded broker nothing outlives the process: the schemas
        // are kept in memory only, like the broker's data.
        if persist {
            journal::open(broker, &store).await.map_err(|e| {
                e.context(format!(
                    "cannot keep the Schema Registry in the topic '{}'",
                    journal::TOPIC
                ))
            })?;
        }
        let listener = match listen {
            Listen::Off => None,
            Listen::At(address) => Some(server::bind(address).await?),
            Listen::Default => {
                let address = DEFAULT_LISTEN.parse().map_err(|e| {
                    Error::internal(format!("bad default address {DEFAULT_LISTEN}: {e}"))
                })?;
                match server::bind(address).await {
                    Ok(listener) => Some(listener),
                    Err(e) if !must_serve => {
                        eprintln!("Schema Registry: not served: {e}");
                        None
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        let served = match listener {
            Some(listener) => {
                let served = Served::start(Arc::clone(&store), listener, access)?;
                store.set_url(served.url());
                eprintln!("Schema Registry: {}", served.url());
                Some(served)
            }
            None => None,
        };
        Ok(ProcessRegistry {
            registry: RegistryRef(store),
            served,
        })
    }

    /// The registry, for [`Config::schema_registry`](crate::config::Config::schema_registry).
    pub fn registry(&self) -> RegistryRef {
        self.registry.clone()
    }

    /// Where the REST API is served, if it is.
    pub fn address(&self) -> Option<SocketAddr> {
        self.served.as_ref().map(Served::address)
    }

    /// Stops serving (letting open requests finish).
    pub async fn stop(self) -> Result<()> {
        match self.served {
            Some(served) => served.stop().await,
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::memory::MemoryBroker;

    #[test]
    fn listen_addresses() {
        assert_eq!(Listen::parse(None).unwrap(), Listen::Default);
        assert_eq!(Listen::parse(Some("OFF")).unwrap(), Listen::Off);
        assert_eq!(
            Listen::parse(Some("0.0.0.0:9081")).unwrap(),
            Listen::At("0.0.0.0:9081".parse().unwrap())
        );
        assert!(matches!(
            Listen::parse(Some("localhost:9081")).unwrap(),
            Listen::At(a) if a.port() == 9081
        ));
        let e = Listen::parse(Some("nowhere")).unwrap_err().to_string();
        assert!(e.contains("--schema-registry-listen"), "{e}");
    }

    #[tokio::test]
    async fn external_embedded_and_address_in_use() {
        let broker: Arc<dyn Broker> = Arc::new(MemoryBroker::new());
        let external = ProcessRegistry::open(
            &broker,
            Some("http://sr:8081"),
            Listen::Off,
            true,
            true,
            Default::default(),
        )
        .await
        .unwrap();
        assert_eq!(external.registry().get().url(), "http://sr:8081");
        assert!(external.address().is_none());
        let https = ProcessRegistry::open(
            &broker,
            Some("https://sr"),
            Listen::Off,
            true,
            true,
            Default::default(),
        )
        .await
        .unwrap();
        assert_eq!(https.registry().get().url(), "https://sr");

        let any = Listen::At("127.0.0.1:0".parse().unwrap());
        let own = ProcessRegistry::open(&broker, None, any, true, true, Default::default())
            .await
            .unwrap();
        let address = own.address().unwrap();
        assert_eq!(own.registry().get().url(), format!("http://{address}"));
        let taken = ProcessRegistry::open(
            &broker,
            None,
            Listen::At(address),
            false,
            true,
            Default::default(),
        )
        .await;
        let e = taken.err().unwrap().to_string();
        assert!(e.contains("--schema-registry-listen"), "{e}");
        own.stop().await.unwrap();
        let off = ProcessRegistry::open(&broker, None, Listen::Off, true, true, Default::default())
            .await
            .unwrap();
        assert!(off.address().is_none());
        assert_eq!(off.registry().get().url(), "embedded");
    }
}
