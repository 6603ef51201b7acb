#!/usr/bin/env bash
# Checks the PrometheusRule in this directory with Prometheus's own tool: `promtool check
# rules` (syntax, PromQL, templates; the dashboard's queries too) and `promtool test rules`
# on rules.test.yaml (every alert fires on the series it is about and stays silent on the
# others). Also refuses an alert that rules.test.yaml does not both fire and keep silent.
#
# promtool is built once from the Go module proxy into
# ${PORTCULLIS_TOOLS:-$HOME/.cache/portcullis-tools}/bin (needs `go`; minutes, once).
#
#   deploy/monitoring/check.sh               last line: RESULT monitoring rules=N alerts_tested=M
#   deploy/monitoring/check.sh --build-only  only build (or find) promtool
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tools="${PORTCULLIS_TOOLS:-$HOME/.cache/portcullis-tools}"
# Prometheus 3.x publishes its Go module as v0.3xx.y: v0.316.0 is Prometheus 3.16.0.
version=v0.316.0
# remove_all_sd leaves Prometheus's service discovery (every cloud SDK) out of the build:
# checking and testing rules needs none of it, and the build takes a fraction of the time.
tags=remove_all_sd
promtool="$tools/bin/promtool-$version-$tags"
node="$root/node_modules/.bin/node"

build_promtool() {
  command -v go >/dev/null || {
    echo "check.sh: go is needed once, to build promtool into $tools" >&2
    return 2
  }
  local work="$tools/build/promtool-$version"
  mkdir -p "$work" "$tools/bin"
  echo "check.sh: building promtool $version into $tools (once, a few minutes)" >&2
  # `go install pkg@version` refuses a module whose go.mod has replace directives; a
  # scratch module that requires it builds it either way.
  if ! GOBIN="$work" GOFLAGS=-mod=mod nice go install -tags "$tags" "github.com/prometheus/prometheus/cmd/promtool@$version"; then
    echo "check.sh: go install failed, building from a scratch module in $work" >&2
    (
      cd "$work"
      [[ -f go.mod ]] || go mod init portcullis.local/promtool-build >/dev/null
      printf 'package tools\n\nimport _ "github.com/prometheus/prometheus/cmd/promtool"\n' >tools.go
      GOFLAGS=-mod=mod go get "github.com/prometheus/prometheus@$version"
      GOFLAGS=-mod=mod nice go build -tags "$tags" -o "$work/promtool" github.com/prometheus/prometheus/cmd/promtool
    )
  fi
  # Renamed into place: a concurrent run sees either no promtool or a whole one.
  mv -f "$work/promtool" "$promtool"
}

[[ -x "$promtool" ]] || build_promtool
echo "promtool $version: $promtool"
[[ "${1:-}" == "--build-only" ]] && exit 0

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cp "$here/rules.test.yaml" "$scratch/rules.test.yaml"

# The PrometheusRule's spec is a plain Prometheus rules file. The same script counts the
# rules and the tested alerts, and names any alert the tests do not fire and keep silent.
counts="$(
  cd "$root"
  "$node" --input-type=module - "$here/prometheusrule.yaml" "$here/rules.test.yaml" "$scratch/portcullis-rules.yaml" \
    "$here/dashboards/portcullis.json" "$scratch/dashboard-queries.yaml" <<'EOF'
import { readFileSync, writeFileSync } from 'node:fs';
import YAML from 'yaml';

const [rulePath, testPath, outPath, dashboardPath, queriesPath] = process.argv.slice(2);
// The dashboard's queries as recording rules, so that promtool parses them too (Grafana's
// interval variables replaced by a duration; $namespace sits inside a string).
const dashboard = JSON.parse(readFileSync(dashboardPath, 'utf8'));
const queries = dashboard.panels
  .flatMap((panel) => panel.targets ?? [])
  .map((target, i) => ({
    record: `dashboard:query_${i}`,
    expr: target.expr.replaceAll('$__rate_interval', '1m').replaceAll('$__range', '1h').replaceAll('$__interval', '1m'),
  }));
writeFileSync(queriesPath, YAML.stringify({ groups: [{ name: 'dashboard', rules: queries }] }));
const rule = YAML.parse(readFileSync(rulePath, 'utf8'));
if (rule?.kind !== 'PrometheusRule' || !Array.isArray(rule.spec?.groups)) {
  console.error(`${rulePath}: not a PrometheusRule with spec.groups`);
  process.exit(1);
}
writeFileSync(outPath, YAML.stringify(rule.spec));
const rules = rule.spec.groups.flatMap((group) => group.rules ?? []);
const alerts = rules.filter((r) => r.alert !== undefined).map((r) => r.alert);
const cases = YAML.parse(readFileSync(testPath, 'utf8')).tests.flatMap((t) => t.alert_rule_test ?? []);
const fired = new Set(cases.filter((c) => (c.exp_alerts ?? []).length > 0).map((c) => c.alertname));
const silent = new Set(cases.filter((c) => (c.exp_alerts ?? []).length === 0).map((c) => c.alertname));
const untested = alerts.filter((a) => !fired.has(a) || !silent.has(a));
if (untested.length > 0) {
  console.error(`rules.test.yaml must fire and keep silent every alert; not both: ${untested.join(', ')}`);
  process.exit(1);
}
const tested = alerts.filter((a) => fired.has(a) && silent.has(a));
console.log(`${rules.length} ${tested.length}`);
EOF
)"
read -r rules alerts_tested <<<"$counts"

"$promtool" check rules "$scratch/portcullis-rules.yaml" "$scratch/dashboard-queries.yaml"
(cd "$scratch" && "$promtool" test rules rules.test.yaml)
echo "RESULT monitoring rules=$rules alerts_tested=$alerts_tested"
