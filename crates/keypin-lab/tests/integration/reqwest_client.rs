//! keypin's reqwest integration as a lab client: every scenario, SSL stripping (A15) and the
//! mTLS ones included, judged by the lab's servers.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use keypin::integrations::reqwest::{HttpVersions, PinnedClient};
use keypin::{
    PinnedConfig, Policy, Roots, events::ChannelSink, events::PinEvent, identity::ClientIdentity,
    policy::ReportOnlyReason,
};
use keypin_lab::{Attempt, Client, Error, Lab, Outcome, RunOptions, Target};

struct ReqwestClient {
    policy: Arc<Policy>,
    roots: Roots,
    sink: Arc<ChannelSink>,
    ct_logs: Arc<keypin::ct::LogList>,
    events: Mutex<Receiver<PinEvent>>,
}

impl Client for ReqwestClient {
    fn name(&self) -> String {
        "keypin + reqwest (integration)".into()
    }

    fn sees_reports(&self) -> bool {
        true
    }

    fn attempt(&self, target: &Target<'_>, timeout: Duration) -> Result<Attempt, Error> {
        let events = self.events.lock().unwrap();
        while events.try_recv().is_ok() {}
        let s = target.scenario;
        let mut builder = PinnedConfig::builder(Arc::clone(&self.policy), self.roots.clone())
            .events(Arc::clone(&self.sink) as Arc<dyn keypin::events::PinEventSink>)
            .ct_logs(Arc::clone(&self.ct_logs));
        if let Some(id) = &s.client_identity {
            builder = builder.client_identity(
                ClientIdentity::new(vec![id.cert.clone()], id.key.clone_key(), s.id).unwrap(),
            );
        }
        let addr = target.addr;
        let host = s.host.clone();
        let client = PinnedClient::with(builder, HttpVersions::default(), |b| {
            b.resolve(&host, addr).timeout(timeout)
        })
        .unwrap();
        let url = format!("https://{}:{}/", s.host, addr.port());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let outcome = runtime.block_on(async {
            let response = client.get(&url).map_err(|e| e.to_string())?.send().await;
            match response {
                Ok(r) => Ok(format!("{:?} {}", r.version(), r.status())),
                Err(e) => Err(match keypin::downgrade::downgrade_in(&e) {
                    Some(d) => format!("downgrade refused: {d}"),
                    None => format!("{e}"),
                }),
            }
        });
        let reported_expiry = events.try_iter().any(|e| {
            matches!(
                e,
                PinEvent::ReportOnlyMismatch {
                    reason: ReportOnlyReason::Expired { .. },
                    ..
                }
            )
        });
        Ok(match outcome {
            Ok(status) => Attempt {
                status: format!("ok: {status}"),
                succeeded: true,
                reported_expiry,
            },
            Err(e) => Attempt {
                status: format!("error: {e}"),
                succeeded: false,
                reported_expiry,
            },
        })
    }
}

#[test]
fn reqwest_integration_passes_every_scenario_including_ssl_stripping() {
    let lab = Lab::start_loopback().unwrap();
    let (sink, events) = ChannelSink::new(64);
    let client = ReqwestClient {
        policy: Arc::new(lab.policy().unwrap()),
        roots: lab.roots().unwrap(),
        sink: Arc::new(sink),
        ct_logs: Arc::new(lab.ct().log_list().unwrap()),
        events: Mutex::new(events),
    };
    let report = lab.run(&client, &RunOptions::default()).unwrap();
    eprint!("{}", report.table());
    assert!(report.all_as_expected(), "{}", report.table());
    assert_eq!(report.count(Outcome::Skip), 0);
    let a15 = report.verdicts.iter().find(|v| v.id == "A15").unwrap();
    assert_eq!(a15.outcome, Outcome::Pass);
    // The redirect was received over https and refused by keypin, not a connection failure.
    assert!(
        a15.client_status.contains("downgrade refused"),
        "{}",
        a15.client_status
    );
    assert!(a15.reason.contains("did not follow it"), "{}", a15.reason);
}
