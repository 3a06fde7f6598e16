//! What paas's commands mean on a cluster (#24 point 4), as kubectl
//! steps: a deploy (the release Job first, then the Deployments, then
//! their rollouts, the previous release applied again when one does not
//! become ready), `ps:scale`, `ps:restart`, `ps` (pods as dynos) and
//! `run` (a one-off pod attached to the terminal). Each takes a `Kubectl`,
//! so the unit tests below replay recorded kubectl exchanges. `pods` reads
//! what kubectl says of pods; the release Job (`release_phase`), the
//! pods' logs (`logs`) and old Secrets (`secrets`) have files of their own.

use std::time::Duration;

use serde_json::{json, Value};

use super::kubectl::Kubectl;
use super::manifests::{self, APP_LABEL, TYPE_LABEL};
use super::pods::{parse_pods, Pod};
use super::release_phase::JobFailure;
use crate::error::{Error, Result};
use crate::state::AppName;

/// How a deploy ended, when kubectl could say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deployed {
    /// The Job succeeded (or there was none) and every Deployment rolled out.
    RolledOut,
    /// The release phase failed: nothing else changed on the cluster.
    ReleasePhaseFailed(JobFailure),
}

/// One app's namespace on the cluster, and kubectl to reach it.
pub struct OnCluster<'a> {
    pub kubectl: &'a dyn Kubectl,
    pub namespace: String,
    pub app: AppName,
}

/// How often and how long to ask while waiting.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub interval: Duration,
    pub limit: Duration,
}

impl Pace {
    pub(super) fn attempts(&self) -> u64 {
        let interval = self.interval.as_millis().max(1);
        (self.limit.as_millis() / interval).max(1) as u64
    }
}

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|w| w.to_string()).collect()
}

fn kind(object: &Value) -> &str {
    object["kind"].as_str().unwrap_or_default()
}

fn name(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}

impl OnCluster<'_> {
    pub(super) fn run(&self, args: &[&str], what: &str) -> Result<String> {
        self.kubectl.run(&words(args), None)?.ok(what)
    }

    /// `kubectl apply` of `objects`, as one YAML stream on stdin.
    pub fn apply(&self, objects: &[&Value]) -> Result<()> {
        if objects.is_empty() {
            return Ok(());
        }
        let owned: Vec<Value> = objects.iter().map(|o| (*o).clone()).collect();
        let yaml = manifests::to_yaml(&owned)?;
        self.kubectl
            .run(&words(&["apply", "-f", "-"]), Some(&yaml))?
            .ok("apply the release's objects")
            .map(drop)
    }

    /// A deploy of `objects` (a release's, from `manifests`): the
    /// namespace and Secret, then the release phase's Job, which must
    /// succeed before anything else changes (its failure is returned:
    /// the caller records the release as failed); then the rest, and each
    /// Deployment's rollout. A rollout that does not finish within
    /// `rollout` has `previous` (the running release's objects) applied
    /// again, which leaves its ReplicaSets serving; the deploy fails.
    pub fn deploy(
        &self,
        objects: &[Value],
        previous: Option<&[Value]>,
        job_pace: Pace,
        rollout: Duration,
    ) -> Result<Deployed> {
        let (first, rest): (Vec<&Value>, Vec<&Value>) = objects
            .iter()
            .partition(|o| matches!(kind(o), "Namespace" | "Secret"));
        self.apply(&first)?;
        let (jobs, rest): (Vec<&Value>, Vec<&Value>) =
            rest.into_iter().partition(|o| kind(o) == "Job");
        for job in jobs {
            say!("-----> Running the release phase ({})", name(job));
            // An earlier run of this version's Job (a failed try, whose
            // version the retry takes again) would answer for this one,
            // and its template cannot change: it goes first.
            self.run(
                &[
                    "delete",
                    "job",
                    name(job),
                    "-n",
                    &self.namespace,
                    "--ignore-not-found",
                    "--wait=true",
                ],
                "remove an earlier run of the release phase",
            )?;
            self.apply(&[job])?;
            let deadline = job["spec"]["activeDeadlineSeconds"].as_u64().unwrap_or(0);
            if let Some(failure) = self.wait_for_job(name(job), job_pace, deadline)? {
                return Ok(Deployed::ReleasePhaseFailed(failure));
            }
        }
        self.apply(&rest)?;
        let timeout = format!("--timeout={}s", rollout.as_secs().max(1));
        for deployment in rest.iter().filter(|o| kind(o) == "Deployment") {
            let target = format!("deployment/{}", name(deployment));
            let answer = self.kubectl.run(
                &words(&[
                    "rollout",
                    "status",
                    &target,
                    "-n",
                    &self.namespace,
                    &timeout,
                ]),
                None,
            )?;
            if answer.code != 0 {
                if let Some(previous) = previous {
                    let previous: Vec<&Value> =
                        previous.iter().filter(|o| kind(o) != "Job").collect();
                    self.apply(&previous)?;
                }
                return Err(Error::new(format!(
                    "`{}` did not become ready on the cluster",
                    name(deployment)
                ))
                .cause(answer.stderr.trim().to_string())
                .hint(format!(
                    "the previous release still serves; `paas logs -a {}` shows why the new pods fail",
                    self.app
                )));
            }
        }
        Ok(Deployed::RolledOut)
    }

    /// `ps:scale TYPE=N`.
    pub fn scale(&self, process_type: &str, replicas: u32) -> Result<()> {
        let target = format!("deployment/{}", manifests::object_name(process_type));
        let replicas = format!("--replicas={replicas}");
        self.run(
            &["scale", &target, &replicas, "-n", &self.namespace],
            "scale",
        )
        .map(drop)
    }

    /// `ps:restart [TYPE]`: a rolling restart of the Deployments of
    /// `process_types`. Named one by one: `rollout restart` takes no
    /// `-l` before kubectl 1.24.
    pub fn restart<'t>(&self, process_types: impl IntoIterator<Item = &'t str>) -> Result<()> {
        let targets: Vec<String> = process_types
            .into_iter()
            .map(|t| format!("deployment/{}", manifests::object_name(t)))
            .collect();
        if targets.is_empty() {
            return Ok(());
        }
        let mut args = vec!["rollout", "restart"];
        args.extend(targets.iter().map(String::as_str));
        args.extend(["-n", &self.namespace]);
        self.run(&args, "restart").map(drop)
    }

    /// `ps`: the app's pods, as dynos.
    pub fn pods(&self) -> Result<Vec<Pod>> {
        let selector = format!("{APP_LABEL}={}", self.app);
        parse_pods(&self.get_pods(&selector, "json", "list the pods")?)
    }

    /// `kubectl get pods -l SELECTOR -o OUTPUT` in the app's namespace.
    pub(super) fn get_pods(&self, selector: &str, output: &str, what: &str) -> Result<String> {
        self.run(
            &[
                "get",
                "pods",
                "-n",
                &self.namespace,
                "-l",
                selector,
                "-o",
                output,
            ],
            what,
        )
    }

    /// `run COMMAND`: a one-off pod of `image` with the release's config
    /// vars, attached to this terminal, removed at its end; its exit
    /// status.
    pub fn run_attached(
        &self,
        image: &str,
        version: u32,
        command: &[String],
        tty: bool,
    ) -> Result<i32> {
        let pod = format!("run-{}", crate::runtime::podman::random_suffix());
        self.kubectl
            .attached(&self.run_args(&pod, image, version, command, tty))
    }

    /// `kubectl run`'s arguments for `run_attached`.
    fn run_args(
        &self,
        pod: &str,
        image: &str,
        version: u32,
        command: &[String],
        tty: bool,
    ) -> Vec<String> {
        let overrides = json!({
            "spec": { "containers": [{
                "name": pod,
                "image": image,
                "args": command,
                "stdin": true,
                "tty": tty,
                "envFrom": [{ "secretRef": { "name": manifests::config_secret(version) } }],
                "env": [{ "name": "DYNO", "value": format!("{pod}.1") }],
            }] },
        });
        let mut args = words(&[
            "run",
            pod,
            "-n",
            &self.namespace,
            "--restart=Never",
            "--rm",
            "-i",
            "--quiet",
        ]);
        if tty {
            args.push("-t".into());
        }
        args.push(format!("--image={image}"));
        args.push(format!(
            "--labels={APP_LABEL}={},{TYPE_LABEL}=run",
            self.app
        ));
        args.push(format!("--overrides={overrides}"));
        args
    }
}

/// What the kubernetes modules' tests run against: app `shop` in
/// namespace `paas-shop`, kubectl recorded; and a pace that gives up at
/// once.
#[cfg(test)]
pub(super) mod fixture {
    use std::time::Duration;

    use super::super::kubectl::Recorded;
    use super::{OnCluster, Pace};
    use crate::state::AppName;

    pub fn on(kubectl: &Recorded) -> OnCluster<'_> {
        OnCluster {
            kubectl,
            namespace: "paas-shop".into(),
            app: AppName::parse("shop").unwrap(),
        }
    }

    pub const QUICK: Pace = Pace {
        interval: Duration::from_millis(1),
        limit: Duration::from_millis(3),
    };
}

#[cfg(test)]
mod tests {
    use super::super::kubectl::{Exchange, Recorded};
    use super::fixture::{on, QUICK};
    use super::*;

    fn objects(version: u32) -> Vec<Value> {
        let object = |kind: &str, name: &str| {
            json!({ "apiVersion": "v1", "kind": kind, "metadata": { "name": name, "namespace": "paas-shop" },
                    "spec": { "release": version } })
        };
        vec![
            object("Namespace", "paas-shop"),
            object("Secret", &format!("config-v{version}")),
            object("Job", &format!("release-v{version}")),
            object("Deployment", "web"),
            object("Deployment", "worker"),
            object("Service", "web"),
        ]
    }

    const ROLLOUT: Duration = Duration::from_secs(300);
    const STATUS: &str = "get job/release-v8 -n paas-shop -o jsonpath={.status.succeeded}/{.status.failed}/{.status.conditions[?(@.type==\"Failed\")].reason}";

    #[test]
    fn a_deploy_runs_the_release_job_before_the_deployments_and_waits_for_their_rollouts() {
        let kubectl = Recorded::new(vec![
            Exchange::new("apply -f -", "namespace/paas-shop created\n")
                .with_stdin(&["kind: Namespace", "name: config-v8"]),
            Exchange::new(
                "delete job release-v8 -n paas-shop --ignore-not-found --wait=true",
                "",
            ),
            Exchange::new("apply -f -", "job.batch/release-v8 created\n")
                .with_stdin(&["name: release-v8"]),
            Exchange::new(STATUS, "//"),
            Exchange::new(STATUS, "1//"),
            Exchange::new("apply -f -", "deployment.apps/web configured\n")
                .with_stdin(&["kind: Deployment", "kind: Service"]),
            Exchange::new(
                "rollout status deployment/web -n paas-shop --timeout=300s",
                "deployment \"web\" successfully rolled out\n",
            ),
            Exchange::new(
                "rollout status deployment/worker -n paas-shop --timeout=300s",
                "deployment \"worker\" successfully rolled out\n",
            ),
        ]);
        let deployed = on(&kubectl)
            .deploy(&objects(8), Some(&objects(7)), QUICK, ROLLOUT)
            .unwrap();
        assert_eq!(deployed, Deployed::RolledOut);
        kubectl.assert_done();
    }

    #[test]
    fn a_failed_release_phase_changes_no_deployment() {
        let kubectl = Recorded::new(vec![
            Exchange::new("apply -f -", ""),
            Exchange::new("delete job release-v8 -n paas-shop --ignore-not-found --wait=true", ""),
            Exchange::new("apply -f -", ""),
            Exchange::new(STATUS, "/1/BackoffLimitExceeded"),
            Exchange::new(
                "logs job/release-v8 -n paas-shop --tail=20",
                "migration 42 failed: no such table\n",
            ),
            Exchange::new(
                "get pods -n paas-shop -l job-name=release-v8 -o jsonpath={.items[*].status.containerStatuses[*].state.terminated.exitCode}",
                "1",
            ),
        ]);
        // No Deployment applied: the recording ends with the Job.
        let deployed = on(&kubectl)
            .deploy(&objects(8), Some(&objects(7)), QUICK, ROLLOUT)
            .unwrap();
        kubectl.assert_done();
        assert_eq!(
            deployed,
            Deployed::ReleasePhaseFailed(JobFailure {
                why: "release command failed (exit status 1)".into(),
                timed_out: false,
            })
        );
    }

    #[test]
    fn a_rollout_that_does_not_become_ready_applies_the_previous_release_again() {
        let kubectl = Recorded::new(vec![
            Exchange::new("apply -f -", ""),
            Exchange::new(
                "delete job release-v8 -n paas-shop --ignore-not-found --wait=true",
                "",
            ),
            Exchange::new("apply -f -", ""),
            Exchange::new(STATUS, "1//"),
            Exchange::new("apply -f -", "").with_stdin(&["release: 8"]),
            Exchange::failing(
                "rollout status deployment/web -n paas-shop --timeout=300s",
                "error: timed out waiting for the condition\n",
            ),
            // v7's objects, its Job left out: its release phase ran long ago.
            Exchange::new("apply -f -", "deployment.apps/web configured\n")
                .with_stdin(&["release: 7", "name: config-v7"]),
        ]);
        let err = on(&kubectl)
            .deploy(&objects(8), Some(&objects(7)), QUICK, ROLLOUT)
            .unwrap_err();
        kubectl.assert_done();
        assert!(
            err.to_string().contains("`web` did not become ready"),
            "{err}"
        );
        assert!(
            format!("{err:?}").contains("the previous release still serves"),
            "{err:?}"
        );
    }

    #[test]
    fn a_rollback_applies_the_old_releases_image_and_config() {
        // What `releases:rollback` sends: the target's objects again.
        let kubectl = Recorded::new(vec![
            Exchange::new("apply -f -", "").with_stdin(&["name: config-v7"]),
            Exchange::new("apply -f -", "").with_stdin(&["release: 7"]),
            Exchange::new(
                "rollout status deployment/web -n paas-shop --timeout=300s",
                "",
            ),
            Exchange::new(
                "rollout status deployment/worker -n paas-shop --timeout=300s",
                "",
            ),
        ]);
        let without_job: Vec<Value> = objects(7)
            .into_iter()
            .filter(|o| kind(o) != "Job")
            .collect();
        let deployed = on(&kubectl)
            .deploy(&without_job, None, QUICK, ROLLOUT)
            .unwrap();
        assert_eq!(deployed, Deployed::RolledOut);
        kubectl.assert_done();
    }

    #[test]
    fn scale_and_restart_are_kubectl_verbs() {
        let kubectl = Recorded::new(vec![
            Exchange::new(
                "scale deployment/worker-queue --replicas=3 -n paas-shop",
                "deployment.apps/worker-queue scaled\n",
            ),
            Exchange::new("rollout restart deployment/web -n paas-shop", ""),
            Exchange::new(
                "rollout restart deployment/web deployment/worker-queue -n paas-shop",
                "",
            ),
            Exchange::failing(
                "scale deployment/web --replicas=1 -n paas-shop",
                "Error from server (NotFound): deployments.apps \"web\" not found\n",
            ),
        ]);
        let cluster = on(&kubectl);
        cluster.scale("worker_queue", 3).unwrap();
        cluster.restart(["web"]).unwrap();
        cluster.restart(["web", "worker_queue"]).unwrap();
        // No process types: nothing to ask.
        cluster.restart([]).unwrap();
        let err = cluster.scale("web", 1).unwrap_err();
        assert!(
            err.to_string().contains("`kubectl` could not scale"),
            "{err}"
        );
        assert!(format!("{err:?}").contains("NotFound"), "{err:?}");
        kubectl.assert_done();
    }

    #[test]
    fn pods_are_listed_as_dynos() {
        let json = r#"{"items": [
          {"metadata": {"name": "worker-7f9-abcde", "labels": {"paas.type": "worker", "paas.release": "8"}},
           "status": {"phase": "Running", "startTime": "2026-12-07T10:00:00Z",
                      "containerStatuses": [{"ready": true, "restartCount": 2}]}},
          {"metadata": {"name": "web-5d9c-x2", "labels": {"paas.type": "web", "paas.release": "8"}},
           "status": {"phase": "Pending"}}
        ]}"#;
        let kubectl = Recorded::new(vec![Exchange::new(
            "get pods -n paas-shop -l paas.app=shop -o json",
            json,
        )]);
        let pods = on(&kubectl).pods().unwrap();
        let lines: Vec<String> = pods.iter().map(Pod::line).collect();
        assert_eq!(
            lines,
            [
                "web.web-5d9c-x2: starting (v8)",
                "worker.worker-7f9-abcde: up 2026-12-07T10:00:00Z (v8), 2 restarts"
            ]
        );
        kubectl.assert_done();
    }

    #[test]
    fn a_one_off_pod_runs_the_release_attached() {
        let kubectl = Recorded::new(Vec::new());
        let args = on(&kubectl).run_args(
            "run-1a2b3c4d",
            "reg.test/shop:v8@sha256:aa",
            8,
            &["bash".into()],
            true,
        );
        assert_eq!(
            args[..11].join(" "),
            "run run-1a2b3c4d -n paas-shop --restart=Never --rm -i --quiet -t \
             --image=reg.test/shop:v8@sha256:aa --labels=paas.app=shop,paas.type=run"
        );
        let overrides: Value =
            serde_json::from_str(args[11].strip_prefix("--overrides=").unwrap()).unwrap();
        let container = &overrides["spec"]["containers"][0];
        assert_eq!(container["args"], json!(["bash"]));
        assert_eq!(container["envFrom"][0]["secretRef"]["name"], "config-v8");
        assert_eq!(container["tty"], true);
    }
}
