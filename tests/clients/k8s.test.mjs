// deploy/k8s rendered by `kubectl kustomize` (Debian's kubernetes-client) validates against the
// Kubernetes, KEDA and Prometheus-operator schemas (npm kubernetes-models), and the probes, grace
// period and autoscaling settings hold what docs/DEPLOY.md promises.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import YAML from "yaml";
import { Deployment } from "kubernetes-models/apps/v1";
import { Service } from "kubernetes-models/v1";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2";
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1";
import { PodMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import { repo } from "./server.mjs";

const models = { Deployment, Service, HorizontalPodAutoscaler, ScaledObject, PodMonitor };
const hasKubectl = spawnSync("sh", ["-c", "command -v kubectl"]).status === 0;

function render(overlay) {
  const r = spawnSync("kubectl", ["kustomize", path.join(repo, "deploy/k8s", overlay)],
    { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return YAML.parseAllDocuments(r.stdout).map((d) => d.toJSON());
}

function validate(docs) {
  for (const doc of docs) {
    const Model = models[doc.kind];
    assert.ok(Model, `no schema for kind ${doc.kind}`);
    new Model(doc).validate();  // throws with the offending path
  }
  return Object.fromEntries(docs.map((d) => [d.kind, d]));
}

test("every overlay renders and validates against its schemas", (t) => {
  if (!hasKubectl) return t.skip("kubectl (kubernetes-client) is not installed");
  for (const overlay of ["base", "overlays/keda", "overlays/hpa", "overlays/two-gpus"]) {
    const kinds = validate(render(overlay));
    assert.ok(kinds.Deployment && kinds.Service && kinds.PodMonitor, overlay);
  }
});

test("a broken manifest is caught by the schema check", () => {
  const bad = { apiVersion: "keda.sh/v1alpha1", kind: "ScaledObject", metadata: { name: "x" },
    spec: { minReplicaCount: "one" } };
  assert.throws(() => validate([bad]));
});

test("probes, drain and scaling settings", (t) => {
  if (!hasKubectl) return t.skip("kubectl (kubernetes-client) is not installed");
  const keda = validate(render("overlays/keda"));
  const pod = keda.Deployment.spec.template.spec;
  const c = pod.containers[0];
  assert.equal(c.readinessProbe.httpGet.path, "/health");
  assert.equal(c.startupProbe.httpGet.path, "/health");
  assert.ok(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold >= 300);
  assert.equal(c.livenessProbe.httpGet.path, "/version");  // answers while draining too
  const drain = Number(c.env.find((e) => e.name === "SHUTDOWN_TIMEOUT").value);
  assert.ok(pod.terminationGracePeriodSeconds >= drain + c.lifecycle.preStop.sleep.seconds);
  assert.equal(c.resources.limits["nvidia.com/gpu"], 1);
  assert.equal(keda.Deployment.spec.selector.matchLabels["app.kubernetes.io/name"], "autoglm");
  const so = keda.ScaledObject.spec;
  assert.equal(so.minReplicaCount, 1);
  assert.equal(so.maxReplicaCount, 8);
  assert.equal(so.pollingInterval, 15);
  assert.equal(so.cooldownPeriod, 300);
  const behavior = so.advanced.horizontalPodAutoscalerConfig.behavior;
  assert.equal(behavior.scaleUp.stabilizationWindowSeconds, 60);
  assert.equal(behavior.scaleDown.stabilizationWindowSeconds, 300);
  assert.deepEqual(so.triggers.map((x) => x.type).sort(), ["cron", "prometheus", "prometheus"]);
  const hpa = validate(render("overlays/hpa")).HorizontalPodAutoscaler.spec;
  assert.equal(hpa.metrics.find((m) => m.type === "Resource").resource.target.averageUtilization,
    70);
  assert.equal(hpa.behavior.scaleDown.stabilizationWindowSeconds, 300);
});

test("the two-GPU overlay asks for two GPUs and splits the model over them", (t) => {
  if (!hasKubectl) return t.skip("kubectl (kubernetes-client) is not installed");
  const two = validate(render("overlays/two-gpus"));
  const c = two.Deployment.spec.template.spec.containers[0];
  assert.equal(c.resources.requests["nvidia.com/gpu"], 2);
  assert.equal(c.resources.limits["nvidia.com/gpu"], 2);
  const env = Object.fromEntries(c.env.map((e) => [e.name, e.value]));
  assert.equal(env.TENSOR_PARALLEL_SIZE, "2");
  assert.equal(env.MODEL_PATH, "/models/AutoGLM-Phone-9B");  // the base's settings kept
  assert.equal(env.SHUTDOWN_TIMEOUT, "30");
  assert.ok(two.ScaledObject, "on top of the KEDA overlay");
});
