#!/usr/bin/env bash
# Runs on a GPU machine from the repository root: a real Prometheus (the binary given) scrapes
# `autoglm serve` (the demo model on the GPU) with deploy/prometheus's rules while `bench serve`
# loads it, then every query of the Grafana dashboard is evaluated through Prometheus' HTTP API
# and must return data, the GPU memory panel included (the CPU-only suite,
# tests/clients/prometheus.test.mjs, cannot check that one: only the CUDA backend exports it).
# Usage: tools/bench/device_dashboard.sh AUTOGLM_BINARY PROMETHEUS_BINARY
set -u
B=${1:?autoglm binary}
P=${2:?prometheus binary}
dir=$(mktemp -d)
source "$(dirname "${BASH_SOURCE[0]}")/cuda_libs.sh"
$B serve --model demo --max-num-seqs 2 --port 8012 > "$dir/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 300); do curl -sf localhost:8012/health >/dev/null && break; sleep 0.2; done
grep -m1 -E "device:" "$dir/serve.log"
cat > "$dir/prometheus.yml" <<EOF
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: ["$PWD/deploy/prometheus/rules/autoglm.rules.yml"]
scrape_configs:
  - job_name: autoglm
    static_configs: [{targets: ["127.0.0.1:8012"]}]
EOF
$P --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
  --web.listen-address=127.0.0.1:9091 > "$dir/prometheus.log" 2>&1 &
prom_pid=$!
for _ in $(seq 100); do curl -sf localhost:9091/-/ready >/dev/null && break; sleep 0.2; done
$B bench serve --base-url http://127.0.0.1:8012 --no-progress --workload chat --sessions 16 \
  --duration 40 --think-time 0 --max-tokens 1 --warmup 0 | grep -E "^server|failed"
for _ in 1 2 3; do  # client errors, so the errors panel has a series
  curl -s -o /dev/null -w "bad body: %{http_code}\n" localhost:8012/v1/chat/completions \
    -H 'content-type: application/json' -d '{not json'
done
sleep 3
python3 - "$PWD/deploy/grafana/autoglm-dashboard.json" <<'EOF'
import json, sys, urllib.parse, urllib.request
dash = json.load(open(sys.argv[1]))
empty, checked = [], 0
for panel in dash["panels"]:
    for target in panel.get("targets", []):
        url = "http://127.0.0.1:9091/api/v1/query?query=" + urllib.parse.quote(target["expr"])
        body = json.load(urllib.request.urlopen(url))
        assert body["status"] == "success", body
        result = body["data"]["result"]
        checked += 1
        first = result[0]["value"][1] if result else None
        print(f"{panel['title']}: {len(result)} series, first {first}")
        if not result:
            empty.append(panel["title"])
print(f"{checked} queries, {len(empty)} empty: {empty}")
sys.exit(1 if empty else 0)
EOF
rc=$?
kill $prom_pid $serve_pid; wait $serve_pid 2>/dev/null
echo "dashboard check rc=$rc"
rm -rf "$dir"
exit $rc
