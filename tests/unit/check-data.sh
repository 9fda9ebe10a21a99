#!/bin/bash
# SPDX-License-Identifier: MIT
# The installed data files parse: interface XML, bus policy and polkit policy
# (xmllint), the man pages (groff, warnings are errors), and the unit's
# sandbox stays at or below the exposure docs/security.md states (2.0).
set -euo pipefail

src="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

xmllint --noout "$src"/dbus/*.xml "$src"/dbus/*.conf "$src"/polkit/*.policy
echo "XML: well-formed"

for page in "$src"/docs/*.[0-9]; do
        warnings=$(groff -ww -z -man "$page" 2>&1)
        if [[ -n "$warnings" ]]; then
                echo "$page: $warnings" >&2
                exit 1
        fi
done
echo "man pages: no groff warnings"

sed 's|@sbindir@|/usr/sbin|' "$src/systemd/nvidia-ccd.service.in" > "$tmp/nvidia-ccd.service"
systemd-analyze security --offline=true --threshold=20 "$tmp/nvidia-ccd.service" | tail -n 1

sed 's|@bindir@|/usr/bin|' "$src/systemd/nvidia-cc-k8s-bridge.service.in" > "$tmp/nvidia-cc-k8s-bridge.service"
systemd-analyze security --offline=true --threshold=20 "$tmp/nvidia-cc-k8s-bridge.service" | tail -n 1

# The bridge's manifests parse and hold what the bridge needs; both
# kustomizations render (kubectl kustomize needs no server).
/usr/bin/python3 - "$src/deploy" <<'PY'
import glob, os, sys, yaml
deploy = sys.argv[1]
docs = {}
for path in sorted(glob.glob(os.path.join(deploy, 'kubernetes*', '*.yaml'))):
    with open(path) as f:
        for d in yaml.safe_load_all(f):
            assert isinstance(d, dict) and 'kind' in d, '%s: not a Kubernetes object' % path
            docs.setdefault((d['kind'], os.path.basename(os.path.dirname(path))), d)
ds = docs[('DaemonSet', 'kubernetes')]['spec']['template']['spec']
assert ds['nodeSelector'] == {'nvidia.com/gpu.deploy.cc-manager': 'true'}, ds['nodeSelector']
c = ds['containers'][0]
env = {e['name']: e for e in c['env']}
assert env['NODE_NAME']['valueFrom']['fieldRef']['fieldPath'] == 'spec.nodeName'
assert c['readinessProbe']['exec']['command'][-1] == '/run/nvidia/validations/.cc-manager-ctr-ready'
paths = {v['hostPath']['path'] for v in ds['volumes']}
assert {'/run/dbus/system_bus_socket', '/run/nvidia/validations'} <= paths, paths
rules = {r['resources'][0]: set(r['verbs']) for r in docs[('ClusterRole', 'kubernetes')]['rules']}
assert rules == {'nodes': {'get', 'list', 'watch', 'patch'}, 'pods': {'list', 'watch'}}, rules
nr = docs[('DaemonSet', 'kubernetes-non-root')]['spec']['template']['spec']['containers'][0]
assert nr['securityContext']['runAsUser'] != 0 and nr['securityContext']['runAsNonRoot']
print('manifests: %d objects, DaemonSet, RBAC and the non-root variant as expected' % len(docs))
PY
if command -v kubectl >/dev/null; then
        for k in kubernetes kubernetes-non-root; do
                kubectl kustomize "$src/deploy/$k" > "$tmp/$k.yaml"
        done
        echo "kustomizations: render"
fi
