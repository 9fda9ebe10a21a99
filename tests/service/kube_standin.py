#!/usr/bin/python3
# SPDX-License-Identifier: MIT
'''A stand-in for kube-apiserver, for the tests of nvidia-cc-k8s-bridge.

No kube-apiserver (nor etcd) can run where the tests run, so this module
serves the part of the Kubernetes API that the bridge and kubectl use, the
way the real server answers it.  It is a stand-in, not a Kubernetes: what it
serves is checked against the real kubectl (tests/service/test_kubectl.py),
and whatever it does not serve it refuses the way the real server refuses an
unknown path (404 with a Status).

Served:
  - discovery: /version, /api, /apis (plain APIVersions/APIGroupList, or the
    aggregated APIGroupDiscoveryList v2/v2beta1 when the Accept header asks
    for it), /api/v1 (APIResourceList), /healthz, /livez, /readyz;
  - OpenAPI: /openapi/v3 and /openapi/v3/api/v1 (the paths and their query
    parameters), /openapi/v2 in JSON or in protobuf (the paths, and the
    definitions of each kind's top level and metadata, which kubectl 1.20
    validates objects against);
  - core/v1 nodes, namespaces (cluster scoped), pods, events,
    serviceaccounts, secrets and configmaps (namespaced); apps/v1
    daemonsets; custom resources while their CRD is installed
    (install_crd(): the GPU Operator's nvidia.com/v1 ClusterPolicy; unknown
    to discovery and 404 at its paths before, as the real server answers;
    no strategic merge patch, as for every custom resource);
    rbac.authorization.k8s.io/v1 clusterroles,
    clusterrolebindings, roles and rolebindings; node.k8s.io/v1
    runtimeclasses (discovery of their groups, aggregated or not, and their OpenAPI v3
    documents, so that kubectl apply -k works): get, list (labelSelector,
    fieldSelector, limit/continue), watch
    (?watch=true; resourceVersion, allowWatchBookmarks, timeoutSeconds,
    chunked newline-delimited JSON events, selector semantics of the watch
    cache: an object leaving the selector is DELETED, entering it ADDED),
    patch (merge, strategic merge, JSON patch; labels removed with null;
    no event and no new resourceVersion when nothing changed; a stale
    metadata.resourceVersion gives 409), create (POST) and delete;
  - fields a kind has not (top level and metadata) in a create or update:
    dropped with a Warning header, dropped silently (fieldValidation=Ignore)
    or refused (fieldValidation=Strict); top-level fields of the wrong JSON
    type refused (400) as the decoder does;
  - each kind's defaults, server-set fields and validation (422 naming the
    fields, as the real Status has them), from kube_kinds.py: Events by the
    core/v1 rules, DaemonSets, RBAC, Secrets (stringData folded into data,
    base64 checked on decoding, a dockerconfigjson's .dockerconfigjson
    required and JSON, the type immutable), ConfigMaps, RuntimeClasses
    (the handler a DNS label, immutable), label keys and values; Pod Security
    admission (a namespace's pod-security.kubernetes.io labels, else the
    cluster default given to KubeStandin): a pod that breaks the enforce
    level refused, a DaemonSet's template that breaks the warn level warned
    about; a DaemonSet's status.desiredNumberScheduled kept to the nodes
    its pods fit (no pods are made);
  - Table output (Accept ...;as=Table;v=v1;g=meta.k8s.io) for every kind,
    with the columns the real server prints;
  - resourceVersion: one monotonic counter for every write, as etcd's
    revision; a watch from a version older than the last compaction gets an
    ERROR event with a 410 Expired Status, as the watch cache sends it;
  - authentication: bearer tokens (changeable at run time), client
    certificates signed by the test CA; a bad token gets 401; no credentials
    is system:anonymous, which may read /version and the health endpoints
    and gets 403 elsewhere;
  - authorization: with KubeStandin.rbac set, the RBAC authorizer over the
    ClusterRoles, Roles and their bindings in the store (verbs, groups,
    resources and subresources, resourceNames), 403 as the real server
    words it; otherwise every authenticated user may do anything;
  - TLS with a certificate made by the openssl CLI (make_pki()).

Test controls (in process: the KubeStandin methods; out of process: the
control endpoint, see ControlHandler): set/rotate tokens, inject a 410 (as
an ERROR event or as an HTTP status) into the next watch, fail the next
request matching a method and path, drop every open watch, compact the
history, send bookmarks now, record every request, wait on a condition
variable for a state of the store.

Run alone:
  kube_standin.py [--tls DIR] [--token TOKEN]... [--node NAME[:k=v,...]]...
                  [--kubeconfig-out FILE] [--bookmark-interval S]
prints "PORT CONTROL_PORT" on stdout once both listen.
'''

import argparse
import base64
import copy
import datetime
import http.server
import json
import os
import re
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kube_kinds  # noqa: E402

SERVER_VERSION = {
    'major': '1',
    'minor': '32',
    'gitVersion': 'v1.32.4',
    'gitCommit': '59526cd4867447956156ae3a602fcbac10a2c335',
    'gitTreeState': 'clean',
    'buildDate': '2025-04-22T16:02:27Z',
    'goVersion': 'go1.23.6',
    'compiler': 'gc',
    'platform': 'linux/amd64',
}

# API Priority and Fairness: the real server names the flow schema and
# priority level that admitted each request.
FLOWSCHEMA_UID = str(uuid.uuid4())
PRIORITYLEVEL_UID = str(uuid.uuid4())

# -------------------------------------------------------------- the resources

NODE_TABLE_COLUMNS = [
    ('Name', 'string', 'name', 'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names', 0),
    ('Status', 'string', '', 'The status of the node', 0),
    ('Roles', 'string', '', 'The roles of the node', 0),
    ('Age', 'string', '', 'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata', 0),
    ('Version', 'string', '', 'Kubelet Version reported by the node.', 0),
    ('Internal-IP', 'string', '', 'List of internal IPs in the node.', 1),
    ('External-IP', 'string', '', 'List of external IPs in the node.', 1),
    ('OS-Image', 'string', '', 'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).', 1),
    ('Kernel-Version', 'string', '', 'Kernel Version reported by the node from \'uname -r\' (e.g. 3.16.0-0.bpo.4-amd64).', 1),
    ('Container-Runtime', 'string', '', 'ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).', 1),
]

POD_TABLE_COLUMNS = [
    ('Name', 'string', 'name', NODE_TABLE_COLUMNS[0][3], 0),
    ('Ready', 'string', '', 'The aggregate readiness state of this pod for accepting traffic.', 0),
    ('Status', 'string', '', 'The aggregate status of the containers in this pod.', 0),
    ('Restarts', 'string', '', 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.', 0),
    ('Age', 'string', '', NODE_TABLE_COLUMNS[3][3], 0),
    ('IP', 'string', '', 'The IP address assigned to the pod', 1),
    ('Node', 'string', '', 'The name of the node to which the pod is assigned', 1),
    ('Nominated Node', 'string', '', 'The name of the node where the pod is nominated to run', 1),
    ('Readiness Gates', 'string', '', 'The readiness gates of the pod', 1),
]

NAMESPACE_TABLE_COLUMNS = [
    ('Name', 'string', 'name', NODE_TABLE_COLUMNS[0][3], 0),
    ('Status', 'string', '', 'The status of the namespace', 0),
    ('Age', 'string', '', NODE_TABLE_COLUMNS[3][3], 0),
]


EVENT_TABLE_COLUMNS = [
    ('Last Seen', 'string', '', 'The time at which the most recent occurrence of this event was recorded.', 0),
    ('Type', 'string', '', 'Type of this event (Normal, Warning), new types could be added in the future', 0),
    ('Reason', 'string', '', 'This should be a short, machine understandable string that gives the reason for the transition into the object\'s current status.', 0),
    ('Object', 'string', '', 'The object that this event is about.', 0),
    ('Subobject', 'string', '', 'If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].', 1),
    ('Source', 'string', '', 'The component reporting this event. Should be a short machine understandable string.', 1),
    ('Message', 'string', '', 'A human-readable description of the status of this operation.', 0),
    ('First Seen', 'string', '', 'The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)', 1),
    ('Count', 'string', '', 'The number of times this event has occurred.', 1),
    ('Name', 'string', 'name', NODE_TABLE_COLUMNS[0][3], 1),
]

DAEMONSET_TABLE_COLUMNS = [
    ('Name', 'string', 'name', NODE_TABLE_COLUMNS[0][3], 0),
    ('Desired', 'integer', '', 'The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod).', 0),
    ('Current', 'integer', '', 'The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.', 0),
    ('Ready', 'integer', '', 'The number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.', 0),
    ('Up-to-date', 'integer', '', 'The total number of nodes that are running updated daemon pod', 0),
    ('Available', 'integer', '', 'The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)', 0),
    ('Node Selector', 'string', '', 'NodeSelector is a selector which must be true for the pod to fit on a node.', 0),
    ('Age', 'string', '', NODE_TABLE_COLUMNS[3][3], 0),
    ('Containers', 'string', '', 'Names of each container in the template.', 1),
    ('Images', 'string', '', 'Images referenced by each container in the template.', 1),
    ('Selector', 'string', '', 'A label query over pods that are managed by the daemon set.', 1),
]

SERVICEACCOUNT_TABLE_COLUMNS = [
    ('Name', 'string', 'name', NODE_TABLE_COLUMNS[0][3], 0),
    ('Secrets', 'string', '', 'Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.', 0),
    ('Age', 'string', '', NODE_TABLE_COLUMNS[3][3], 0),
]

CLUSTERROLE_TABLE_COLUMNS = [
    ('Name', 'string', 'name', NODE_TABLE_COLUMNS[0][3], 0),
    ('Created At', 'date', '', NODE_TABLE_COLUMNS[3][3], 0),
]

CLUSTERROLEBINDING_TABLE_COLUMNS = [
    ('Name', 'string', 'name', NODE_TABLE_COLUMNS[0][3], 0),
    ('Role', 'string', '', 'RoleRef can only reference a ClusterRole in the global namespace.', 0),
    ('Age', 'string', '', NODE_TABLE_COLUMNS[3][3], 0),
    ('Users', 'string', '', 'Users in the roleBinding', 1),
    ('Groups', 'string', '', 'Groups in the roleBinding', 1),
    ('ServiceAccounts', 'string', '', 'ServiceAccounts in the roleBinding', 1),
]


SECRET_TABLE_COLUMNS = [
    ('Name', 'string', 'name', NODE_TABLE_COLUMNS[0][3], 0),
    ('Type', 'string', '', 'The type of the secret', 0),
    ('Data', 'string', '', 'The number of items in the secret', 0),
    ('Age', 'string', '', NODE_TABLE_COLUMNS[3][3], 0),
]

CONFIGMAP_TABLE_COLUMNS = [
    ('Name', 'string', 'name', NODE_TABLE_COLUMNS[0][3], 0),
    ('Data', 'string', '', 'Data contains the configuration data.', 0),
    ('Age', 'string', '', NODE_TABLE_COLUMNS[3][3], 0),
]

RUNTIMECLASS_TABLE_COLUMNS = [
    ('Name', 'string', 'name', NODE_TABLE_COLUMNS[0][3], 0),
    ('Handler', 'string', '', 'handler specifies the underlying runtime and configuration that the CRI implementation will use to handle pods of this class.', 0),
    ('Age', 'string', '', NODE_TABLE_COLUMNS[3][3], 0),
]

ROLEBINDING_TABLE_COLUMNS = [
    ('Name', 'string', 'name', NODE_TABLE_COLUMNS[0][3], 0),
    ('Role', 'string', '', 'RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace.', 0),
    ('Age', 'string', '', NODE_TABLE_COLUMNS[3][3], 0),
    ('Users', 'string', '', 'Users in the roleBinding', 1),
    ('Groups', 'string', '', 'Groups in the roleBinding', 1),
    ('ServiceAccounts', 'string', '', 'ServiceAccounts in the roleBinding', 1),
]


class Resource:
    def __init__(self, plural, singular, kind, namespaced, short_names, verbs, subresources,
                 field_labels, table_columns, storage_hash, group='', version='v1', fields=None,
                 prepare=None, validate=None, types=None, custom=False):
        self.plural = plural
        self.singular = singular
        self.kind = kind
        self.namespaced = namespaced
        self.short_names = short_names
        self.verbs = verbs
        self.subresources = subresources
        self.field_labels = field_labels
        self.table_columns = table_columns
        self.storage_hash = storage_hash
        self.group = group
        self.version = version
        # The top-level fields of the kind (as its definition lists them),
        # each 'string', 'int', 'object', 'array', 'time' or 'bool'.
        self.fields = fields or {'spec': 'object', 'status': 'object'}
        self.prepare = prepare        # (new, old) -> None: defaults, fields the server sets
        self.validate = validate      # (new, namespace, old) -> [kube_kinds.FieldError]
        self.types = types or {}      # fields whose JSON type is checked on decoding
        # A custom resource (served by a CRD): no strategic merge patch,
        # served only while its definition is installed.
        self.custom = custom

    @property
    def api_version(self):
        return '%s/%s' % (self.group, self.version) if self.group else self.version

    @property
    def group_version(self):
        return (self.group, self.version)

    @property
    def definition(self):
        '''The OpenAPI definition name of the kind.'''
        if self.custom:
            # A CRD's schema is published under the reversed group.
            return '%s.%s.%s' % ('.'.join(reversed(self.group.split('.'))), self.version, self.kind)
        pkg = {'': 'core', 'apps': 'apps', 'rbac.authorization.k8s.io': 'rbac', 'node.k8s.io': 'node'}[self.group]
        return 'io.k8s.api.%s.%s.%s' % (pkg, self.version, self.kind)

    @property
    def openapi_names(self):
        '''(tag, operation title) of the kind's operations in OpenAPI.'''
        known = {'': ('core_v1', 'CoreV1'), 'apps': ('apps_v1', 'AppsV1'),
                 'rbac.authorization.k8s.io': ('rbacAuthorization_v1', 'RbacAuthorizationV1'),
                 'node.k8s.io': ('node_v1', 'NodeV1')}
        if self.group in known:
            return known[self.group]
        # nvidia.com v1: nvidiaCom_v1, NvidiaComV1
        words = re.split(r'[.-]', self.group)
        camel = words[0] + ''.join(w.capitalize() for w in words[1:])
        return '%s_%s' % (camel, self.version), camel[0].upper() + camel[1:] + self.version.capitalize()


def _get_path(obj, dotted):
    cur = obj
    for part in dotted.split('.'):
        if not isinstance(cur, dict):
            return ''
        cur = cur.get(part)
    if cur is None:
        return ''
    if isinstance(cur, bool):
        return 'true' if cur else 'false'
    return str(cur)


def _meta_fields(namespaced):
    f = {'metadata.name': lambda o: _get_path(o, 'metadata.name')}
    if namespaced:
        f['metadata.namespace'] = lambda o: _get_path(o, 'metadata.namespace')
    return f


ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']


def _prepare_namespace(new, old):
    # The server keeps this label equal to the name (NamespaceDefaultLabelName).
    md = new.setdefault('metadata', {})
    md.setdefault('labels', {})['kubernetes.io/metadata.name'] = md.get('name', '')
    new.setdefault('spec', {}).setdefault('finalizers', ['kubernetes'])
    new['status'] = old.get('status', {'phase': 'Active'}) if old else {'phase': 'Active'}


def _prepare_custom(new, old):
    # A custom resource's generation counts its spec's changes.
    md = new.setdefault('metadata', {})
    if old is None:
        md['generation'] = 1
    else:
        gen = old['metadata'].get('generation', 1)
        md['generation'] = gen + 1 if new.get('spec') != old.get('spec') else gen


def _prepare_daemonset(new, old):
    kube_kinds.default_daemonset(new)
    md = new.setdefault('metadata', {})
    if old is None:
        md['generation'] = 1
        new['status'] = {'currentNumberScheduled': 0, 'desiredNumberScheduled': 0, 'numberMisscheduled': 0,
                         'numberReady': 0}
    else:
        # Status goes through its own subresource; a spec change is a new generation.
        new['status'] = copy.deepcopy(old.get('status', {}))
        gen = old['metadata'].get('generation', 1)
        md['generation'] = gen + 1 if new.get('spec') != old.get('spec') else gen


RESOURCES = {
    'nodes': Resource(
        'nodes', 'node', 'Node', False, ['no'], ALL_VERBS,
        {'proxy': ('NodeProxyOptions', ['create', 'delete', 'get', 'patch', 'update']),
         'status': ('Node', ['get', 'patch', 'update'])},
        {'metadata.name': lambda o: _get_path(o, 'metadata.name'),
         'spec.unschedulable': lambda o: _get_path(o, 'spec.unschedulable') or 'false'},
        NODE_TABLE_COLUMNS, 'XwShjMxG9Fs='),
    'namespaces': Resource(
        'namespaces', 'namespace', 'Namespace', False, ['ns'],
        ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
        {'finalize': ('Namespace', ['update']), 'status': ('Namespace', ['get', 'patch', 'update'])},
        {'metadata.name': lambda o: _get_path(o, 'metadata.name'),
         'status.phase': lambda o: _get_path(o, 'status.phase')},
        NAMESPACE_TABLE_COLUMNS, 'Q3oi5N2YM8M=', prepare=_prepare_namespace),
    'pods': Resource(
        'pods', 'pod', 'Pod', True, ['po'], ALL_VERBS,
        {'status': ('Pod', ['get', 'patch', 'update'])},
        {'metadata.name': lambda o: _get_path(o, 'metadata.name'),
         'metadata.namespace': lambda o: _get_path(o, 'metadata.namespace'),
         'spec.nodeName': lambda o: _get_path(o, 'spec.nodeName'),
         'spec.restartPolicy': lambda o: _get_path(o, 'spec.restartPolicy'),
         'spec.schedulerName': lambda o: _get_path(o, 'spec.schedulerName'),
         'spec.serviceAccountName': lambda o: _get_path(o, 'spec.serviceAccountName'),
         'spec.hostNetwork': lambda o: _get_path(o, 'spec.hostNetwork') or 'false',
         'status.phase': lambda o: _get_path(o, 'status.phase'),
         'status.podIP': lambda o: _get_path(o, 'status.podIP'),
         'status.nominatedNodeName': lambda o: _get_path(o, 'status.nominatedNodeName')},
        POD_TABLE_COLUMNS, 'xPOwRZ+Yhw8='),
    'events': Resource(
        'events', 'event', 'Event', True, ['ev'], ALL_VERBS, {},
        dict(_meta_fields(True), **{
            'involvedObject.kind': lambda o: _get_path(o, 'involvedObject.kind'),
            'involvedObject.namespace': lambda o: _get_path(o, 'involvedObject.namespace'),
            'involvedObject.name': lambda o: _get_path(o, 'involvedObject.name'),
            'involvedObject.uid': lambda o: _get_path(o, 'involvedObject.uid'),
            'involvedObject.apiVersion': lambda o: _get_path(o, 'involvedObject.apiVersion'),
            'involvedObject.resourceVersion': lambda o: _get_path(o, 'involvedObject.resourceVersion'),
            'involvedObject.fieldPath': lambda o: _get_path(o, 'involvedObject.fieldPath'),
            'reason': lambda o: _get_path(o, 'reason'),
            'reportingComponent': lambda o: _get_path(o, 'reportingComponent'),
            'source': lambda o: _get_path(o, 'source.component'),
            'type': lambda o: _get_path(o, 'type')}),
        EVENT_TABLE_COLUMNS, 'r2yiGXH7wu8=', fields=kube_kinds.EVENT_TYPES,
        validate=lambda new, ns, old: kube_kinds.validate_event(new, ns), types=kube_kinds.EVENT_TYPES),
    'serviceaccounts': Resource(
        'serviceaccounts', 'serviceaccount', 'ServiceAccount', True, ['sa'], ALL_VERBS,
        {'token': ('TokenRequest', ['create'])}, _meta_fields(True), SERVICEACCOUNT_TABLE_COLUMNS,
        'pbx9ZvyFpBE=', fields={'automountServiceAccountToken': 'bool', 'imagePullSecrets': 'array',
                                'secrets': 'array'}),
    'daemonsets': Resource(
        'daemonsets', 'daemonset', 'DaemonSet', True, ['ds'], ALL_VERBS,
        {'status': ('DaemonSet', ['get', 'patch', 'update'])}, _meta_fields(True), DAEMONSET_TABLE_COLUMNS,
        'dd7pWHUlMKQ=', group='apps', prepare=_prepare_daemonset,
        validate=lambda new, ns, old: kube_kinds.validate_daemonset(new),
        types={'spec': 'object', 'status': 'object'}),
    'clusterroles': Resource(
        'clusterroles', 'clusterrole', 'ClusterRole', False, [], ALL_VERBS, {}, _meta_fields(False),
        CLUSTERROLE_TABLE_COLUMNS, 'bYE5ZWDrJ44=', group='rbac.authorization.k8s.io',
        fields={'aggregationRule': 'object', 'rules': 'array'},
        validate=lambda new, ns, old: kube_kinds.validate_cluster_role(new), types={'rules': 'array'}),
    'clusterrolebindings': Resource(
        'clusterrolebindings', 'clusterrolebinding', 'ClusterRoleBinding', False, [], ALL_VERBS, {},
        _meta_fields(False), CLUSTERROLEBINDING_TABLE_COLUMNS, '48tpQ8gZHFc=', group='rbac.authorization.k8s.io',
        fields={'roleRef': 'object', 'subjects': 'array'},
        validate=lambda new, ns, old: kube_kinds.validate_cluster_role_binding(new, old),
        types={'roleRef': 'object', 'subjects': 'array'}),
    'secrets': Resource(
        'secrets', 'secret', 'Secret', True, [], ALL_VERBS, {}, dict(_meta_fields(True), **{
            'type': lambda o: _get_path(o, 'type')}),
        SECRET_TABLE_COLUMNS, 'S6u1pOWzb84=', fields=kube_kinds.SECRET_TYPES, prepare=kube_kinds.prepare_secret,
        validate=lambda new, ns, old: kube_kinds.validate_secret(new, old), types=kube_kinds.SECRET_TYPES),
    'configmaps': Resource(
        'configmaps', 'configmap', 'ConfigMap', True, ['cm'], ALL_VERBS, {}, _meta_fields(True),
        CONFIGMAP_TABLE_COLUMNS, 'qFsyl6wFWjQ=', fields=kube_kinds.CONFIGMAP_TYPES,
        validate=lambda new, ns, old: kube_kinds.validate_configmap(new, old), types=kube_kinds.CONFIGMAP_TYPES),
    'roles': Resource(
        'roles', 'role', 'Role', True, [], ALL_VERBS, {}, _meta_fields(True),
        CLUSTERROLE_TABLE_COLUMNS, '7FuwZcIIItM=', group='rbac.authorization.k8s.io',
        fields={'rules': 'array'},
        validate=lambda new, ns, old: kube_kinds.validate_cluster_role(new), types={'rules': 'array'}),
    'rolebindings': Resource(
        'rolebindings', 'rolebinding', 'RoleBinding', True, [], ALL_VERBS, {}, _meta_fields(True),
        ROLEBINDING_TABLE_COLUMNS, 'eGsCzGH6b1g=', group='rbac.authorization.k8s.io',
        fields={'roleRef': 'object', 'subjects': 'array'},
        validate=lambda new, ns, old: kube_kinds.validate_role_binding(new, old),
        types={'roleRef': 'object', 'subjects': 'array'}),
    'runtimeclasses': Resource(
        'runtimeclasses', 'runtimeclass', 'RuntimeClass', False, [], ALL_VERBS, {}, _meta_fields(False),
        RUNTIMECLASS_TABLE_COLUMNS, 'WQTu1GL3T2Q=', group='node.k8s.io', fields=kube_kinds.RUNTIMECLASS_TYPES,
        validate=lambda new, ns, old: kube_kinds.validate_runtime_class(new, old),
        types=kube_kinds.RUNTIMECLASS_TYPES),
}

# A CRD without additionalPrinterColumns: the name and the age.
CUSTOM_TABLE_COLUMNS = [
    ('Name', 'string', 'name', NODE_TABLE_COLUMNS[0][3], 0),
    ('Age', 'date', '', 'Custom resource definition column (in JSONPath format): .metadata.creationTimestamp', 0),
]

# Custom resources, served while their CRD is installed
# (KubeStandin.install_crd()): the GPU Operator's ClusterPolicy.
CUSTOM_RESOURCES = {
    'clusterpolicies': Resource(
        'clusterpolicies', 'clusterpolicy', 'ClusterPolicy', False, [], ALL_VERBS,
        {'status': ('ClusterPolicy', ['get', 'patch', 'update'])}, _meta_fields(False),
        CUSTOM_TABLE_COLUMNS, 'Tn9Y8bEv8bA=', group='nvidia.com', version='v1',
        prepare=_prepare_custom, types={'spec': 'object', 'status': 'object'}, custom=True),
}

KINDS = {res.kind: res for res in RESOURCES.values()}
# The API groups served besides the core group, in discovery order.
GROUP_VERSIONS = [('apps', 'v1'), ('rbac.authorization.k8s.io', 'v1'), ('node.k8s.io', 'v1')]
# The built-in ones; install_crd() adds and uninstall_crd() removes others.
BUILTIN_GROUP_VERSIONS = list(GROUP_VERSIONS)


def resources_of(group, version):
    return [r for r in RESOURCES.values() if r.group_version == (group, version)]


class ApiError(Exception):
    '''An error answered as a metav1.Status.'''

    REASONS = {400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound',
               405: 'MethodNotAllowed', 406: 'NotAcceptable', 409: 'Conflict', 410: 'Expired',
               415: 'UnsupportedMediaType', 422: 'Invalid', 500: 'InternalError',
               503: 'ServiceUnavailable', 504: 'Timeout'}

    def __init__(self, code, message, reason=None, details=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason if reason is not None else self.REASONS.get(code, '')
        self.details = details

    def status(self):
        s = {'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Failure',
             'message': self.message}
        if self.reason:
            s['reason'] = self.reason
        if self.details is not None:
            s['details'] = self.details
        s['code'] = self.code
        return s


def not_found(res, name):
    # The resource qualified by its group, as the server's GroupResource
    # prints it: daemonsets.apps "x", clusterpolicies.nvidia.com "x".
    qualified = '%s.%s' % (res.plural, res.group) if res.group else res.plural
    details = {'name': name, 'kind': res.plural}
    if res.group:
        details['group'] = res.group
    return ApiError(404, '%s "%s" not found' % (qualified, name), details=details)


def expired(rv, current):
    return ApiError(410, 'too old resource version: %d (%d)' % (rv, current))


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def parse_rfc3339(s):
    return datetime.datetime.strptime(s, '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc)


def human_duration(seconds):
    '''k8s.io/apimachinery/pkg/util/duration.HumanDuration.'''
    s = int(seconds)
    if s < -1:
        return '<invalid>'
    if s < 0:
        return '0s'
    if s < 120:
        return '%ds' % s
    minutes = s // 60
    if minutes < 10:
        return '%dm' % minutes if s % 60 == 0 else '%dm%ds' % (minutes, s % 60)
    if minutes < 180:
        return '%dm' % minutes
    hours = s // 3600
    if hours < 8:
        return '%dh' % hours if minutes % 60 == 0 else '%dh%dm' % (hours, minutes % 60)
    if hours < 48:
        return '%dh' % hours
    if hours < 24 * 8:
        return '%dd' % (hours // 24) if hours % 24 == 0 else '%dd%dh' % (hours // 24, hours % 24)
    if hours < 24 * 365 * 2:
        return '%dd' % (hours // 24)
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return '%dy' % (hours // 24 // 365) if dy == 0 else '%dy%dd' % (hours // 24 // 365, dy)
    return '%dy' % (hours // 24 // 365)


def age(obj):
    ts = obj.get('metadata', {}).get('creationTimestamp')
    if not ts:
        return '<unknown>'
    return human_duration((datetime.datetime.now(datetime.timezone.utc) - parse_rfc3339(ts)).total_seconds())


def node_row(node):
    status = node.get('status', {})
    conds = {c.get('type'): c.get('status') for c in status.get('conditions', [])}
    ready = conds.get('Ready')
    states = ['Ready' if ready == 'True' else 'NotReady' if ready is not None else 'Unknown']
    if node.get('spec', {}).get('unschedulable'):
        states.append('SchedulingDisabled')
    roles = []
    for k, v in sorted(node['metadata'].get('labels', {}).items()):
        if k.startswith('node-role.kubernetes.io/'):
            role = k[len('node-role.kubernetes.io/'):]
            if role:
                roles.append(role)
        elif k == 'kubernetes.io/role' and v:
            roles.append(v)
    addrs = status.get('addresses', [])
    internal = [a['address'] for a in addrs if a.get('type') == 'InternalIP']
    external = [a['address'] for a in addrs if a.get('type') == 'ExternalIP']
    info = status.get('nodeInfo', {})
    return [node['metadata']['name'], ','.join(states), ','.join(roles) or '<none>', age(node),
            info.get('kubeletVersion', ''), internal[0] if internal else '<none>',
            external[0] if external else '<none>', info.get('osImage') or '<unknown>',
            info.get('kernelVersion') or '<unknown>', info.get('containerRuntimeVersion') or '<unknown>']


def pod_row(pod):
    spec = pod.get('spec', {})
    status = pod.get('status', {})
    containers = spec.get('containers', [])
    cstat = status.get('containerStatuses', [])
    ready = sum(1 for c in cstat if c.get('ready'))
    restarts = sum(c.get('restartCount', 0) for c in cstat)
    reason = status.get('reason') or status.get('phase', '')
    if pod['metadata'].get('deletionTimestamp'):
        reason = 'Terminating'
    return [pod['metadata']['name'], '%d/%d' % (ready, len(containers)), reason, str(restarts),
            age(pod), status.get('podIP') or '<none>', spec.get('nodeName') or '<none>',
            status.get('nominatedNodeName') or '<none>', '<none>']


def namespace_row(ns):
    return [ns['metadata']['name'], ns.get('status', {}).get('phase', ''), age(ns)]


def since(ts):
    '''translateTimestampSince of an RFC 3339 time; "<unknown>" when unset.'''
    if not ts:
        return '<unknown>'
    return human_duration((datetime.datetime.now(datetime.timezone.utc) - parse_rfc3339(ts)).total_seconds())


def event_row(ev):
    if ev.get('firstTimestamp'):
        first = since(ev['firstTimestamp'])
    elif ev.get('eventTime'):
        first = since(ev['eventTime'][:19] + 'Z')     # a MicroTime: seconds are enough here
    else:
        first = '<unknown>'
    last = since(ev['lastTimestamp']) if ev.get('lastTimestamp') else first
    inv = ev.get('involvedObject') or {}
    target = '%s/%s' % (inv.get('kind', '').lower(), inv['name']) if inv.get('name') else inv.get('kind', '').lower()
    return [last, ev.get('type', ''), ev.get('reason', ''), target, inv.get('fieldPath', ''),
            kube_kinds.event_source(ev), (ev.get('message') or '').strip(), first, ev.get('count') or 1,
            ev['metadata']['name']]


def daemonset_row(ds):
    st = ds.get('status', {})
    pod = ds.get('spec', {}).get('template', {}).get('spec', {})
    containers = pod.get('containers', [])
    return [ds['metadata']['name'], st.get('desiredNumberScheduled', 0), st.get('currentNumberScheduled', 0),
            st.get('numberReady', 0), st.get('updatedNumberScheduled', 0), st.get('numberAvailable', 0),
            kube_kinds.format_labels(pod.get('nodeSelector')), age(ds),
            ','.join(c.get('name', '') for c in containers), ','.join(c.get('image', '') for c in containers),
            kube_kinds.format_selector(ds.get('spec', {}).get('selector'))]


def serviceaccount_row(sa):
    return [sa['metadata']['name'], len(sa.get('secrets') or []), age(sa)]


def clusterrole_row(role):
    return [role['metadata']['name'], role['metadata'].get('creationTimestamp', '')]


def clusterrolebinding_row(crb):
    subjects = crb.get('subjects') or []

    def names(kind):
        return ', '.join(s.get('name', '') for s in subjects if s.get('kind') == kind)
    sas = ', '.join('%s/%s' % (s.get('namespace', ''), s.get('name', ''))
                    for s in subjects if s.get('kind') == 'ServiceAccount')
    ref = crb.get('roleRef') or {}
    return [crb['metadata']['name'], '%s/%s' % (ref.get('kind', ''), ref.get('name', '')), age(crb),
            names('User'), names('Group'), sas]


def secret_row(secret):
    return [secret['metadata']['name'], secret.get('type', ''), len(secret.get('data') or {}), age(secret)]


def configmap_row(cm):
    return [cm['metadata']['name'], len(cm.get('data') or {}) + len(cm.get('binaryData') or {}), age(cm)]


def runtimeclass_row(rc):
    return [rc['metadata']['name'], rc.get('handler', ''), age(rc)]


def rolebinding_row(rb):
    return clusterrolebinding_row(rb)


def custom_row(obj):
    return [obj['metadata']['name'], age(obj)]


TABLE_ROWS = {'clusterpolicies': custom_row, 'secrets': secret_row, 'configmaps': configmap_row, 'runtimeclasses': runtimeclass_row,
              'roles': clusterrole_row, 'rolebindings': rolebinding_row,
'nodes': node_row, 'pods': pod_row, 'namespaces': namespace_row, 'events': event_row,
              'daemonsets': daemonset_row, 'serviceaccounts': serviceaccount_row,
              'clusterroles': clusterrole_row, 'clusterrolebindings': clusterrolebinding_row}


# -------------------------------------------------------------- selectors

_LABEL_KEY = r'(?:[A-Za-z0-9.-]+/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?'
_LABEL_VALUE = r'(?:[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?'


def _split_top(s):
    '''Splits a selector on the commas outside parentheses.'''
    parts, depth, cur = [], 0, ''
    for c in s:
        if c == '(':
            depth += 1
        elif c == ')':
            depth -= 1
        if c == ',' and depth == 0:
            parts.append(cur)
            cur = ''
        else:
            cur += c
    parts.append(cur)
    return [p.strip() for p in parts]


def parse_label_selector(text):
    '''A list of (key, op, values) with op in =, !=, in, notin, exists, !.'''
    reqs = []
    if not text or not text.strip():
        return reqs
    for part in _split_top(text):
        m = re.fullmatch(r'(?P<key>%s)\s+(?P<op>in|notin)\s+\((?P<vals>[^)]*)\)' % _LABEL_KEY, part)
        if m:
            vals = [v.strip() for v in m.group('vals').split(',')]
            for v in vals:
                if not re.fullmatch(_LABEL_VALUE, v):
                    raise ApiError(400, 'unable to parse requirement: invalid label value: "%s"' % v)
            reqs.append((m.group('key'), m.group('op'), vals))
            continue
        m = re.fullmatch(r'(?P<key>%s)\s*(?P<op>==|=|!=)\s*(?P<value>%s)' % (_LABEL_KEY, _LABEL_VALUE), part)
        if m:
            reqs.append((m.group('key'), '!=' if m.group('op') == '!=' else '=', [m.group('value')]))
            continue
        m = re.fullmatch(r'(?P<neg>!?)\s*(?P<key>%s)' % _LABEL_KEY, part)
        if m:
            reqs.append((m.group('key'), '!' if m.group('neg') else 'exists', []))
            continue
        raise ApiError(400, 'unable to parse requirement: found \'%s\', expected: identifier' % part)
    return reqs


def label_match(reqs, labels):
    for key, op, vals in reqs:
        has = key in labels
        v = labels.get(key)
        if op == '=' and (not has or v != vals[0]):
            return False
        if op == '!=' and has and v == vals[0]:
            return False
        if op == 'in' and (not has or v not in vals):
            return False
        if op == 'notin' and has and v in vals:
            return False
        if op == 'exists' and not has:
            return False
        if op == '!' and has:
            return False
    return True


def parse_field_selector(text, res):
    reqs = []
    if not text or not text.strip():
        return reqs
    for part in text.split(','):
        m = re.fullmatch(r'\s*([^!=\s]+)\s*(==|=|!=)\s*(\S*)\s*', part)
        if not m:
            raise ApiError(400, 'invalid selector: \'%s\'; can\'t understand \'%s\'' % (text, part))
        key, op, value = m.group(1), m.group(2), m.group(3)
        if key not in res.field_labels:
            raise ApiError(400, 'field label not supported: %s' % key)
        reqs.append((key, op != '!=', value))
    return reqs


def field_match(reqs, res, obj):
    for key, eq, value in reqs:
        if (res.field_labels[key](obj) == value) != eq:
            return False
    return True


class Selector:
    def __init__(self, res, namespace, query):
        self.res = res
        self.namespace = namespace
        self.labels = parse_label_selector(query.get('labelSelector', ''))
        self.fields = parse_field_selector(query.get('fieldSelector', ''), res)

    def match(self, obj):
        if obj is None:
            return False
        md = obj['metadata']
        if self.namespace is not None and md.get('namespace') != self.namespace:
            return False
        return label_match(self.labels, md.get('labels', {})) and field_match(self.fields, self.res, obj)


# -------------------------------------------------------------- patches

def merge_patch(target, patch):
    '''RFC 7386.'''
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


# patchMergeKey of the list fields the tests touch (from the API's
# x-kubernetes-patch-merge-key); other lists are replaced.
MERGE_KEYS = {'conditions': 'type', 'addresses': 'type', 'taints': 'key', 'containers': 'name',
              'initContainers': 'name', 'volumes': 'name', 'env': 'name', 'ports': 'containerPort',
              'volumeMounts': 'mountPath', 'ownerReferences': 'uid', 'tolerations': None,
              'finalizers': '$primitive', 'imagePullSecrets': 'name'}


def strategic_merge_patch(target, patch):
    '''The strategic-merge-patch rules for maps and for the keyed lists
    above: null deletes, maps merge, keyed lists merge by key, "$patch":
    "replace"/"delete" directives, "$deleteFromPrimitiveList/<field>".'''
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get('$patch') == 'replace':
        return {k: v for k, v in copy.deepcopy(patch).items() if k != '$patch'}
    if patch.get('$patch') == 'delete':
        return None
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if k == '$patch' or k.startswith('$setElementOrder/') or k == '$retainKeys':
            continue
        if k.startswith('$deleteFromPrimitiveList/'):
            field = k.split('/', 1)[1]
            out[field] = [x for x in out.get(field, []) if x not in v]
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, list) and MERGE_KEYS.get(k) and isinstance(out.get(k), list):
            key = MERGE_KEYS[k]
            cur = copy.deepcopy(out[k])
            if key == '$primitive':
                for item in v:
                    if item not in cur:
                        cur.append(item)
            else:
                for item in v:
                    if not isinstance(item, dict) or key not in item:
                        raise ApiError(400, 'map: %s does not contain declared merge key: %s' % (item, key))
                    idx = next((i for i, c in enumerate(cur) if c.get(key) == item[key]), None)
                    if item.get('$patch') == 'delete':
                        if idx is not None:
                            del cur[idx]
                    elif idx is None:
                        cur.append({a: b for a, b in item.items() if a != '$patch'})
                    else:
                        cur[idx] = strategic_merge_patch(cur[idx], item)
            out[k] = cur
        elif isinstance(v, dict):
            r = strategic_merge_patch(out.get(k), v)
            if r is None:
                out.pop(k, None)
            else:
                out[k] = r
        else:
            out[k] = copy.deepcopy(v)
    return out


def _pointer(path):
    if path == '':
        return []
    if not path.startswith('/'):
        raise ApiError(422, 'JSON pointer %r does not start with /' % path)
    return [p.replace('~1', '/').replace('~0', '~') for p in path[1:].split('/')]


def json_patch(target, ops):
    '''RFC 6902: add, remove, replace, test, copy, move.'''
    doc = copy.deepcopy(target)
    if not isinstance(ops, list):
        raise ApiError(400, 'json patch is not an array')

    def walk(parts):
        cur = doc
        for p in parts[:-1]:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        return cur, parts[-1]

    def get(parts):
        cur = doc
        for p in parts:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        return cur

    for op in ops:
        try:
            kind = op['op']
            parts = _pointer(op['path'])
            if kind in ('add', 'replace'):
                parent, last = walk(parts)
                if isinstance(parent, list):
                    if last == '-':
                        parent.append(copy.deepcopy(op['value']))
                    elif kind == 'add':
                        parent.insert(int(last), copy.deepcopy(op['value']))
                    else:
                        parent[int(last)] = copy.deepcopy(op['value'])
                else:
                    if kind == 'replace' and last not in parent:
                        raise KeyError(last)
                    parent[last] = copy.deepcopy(op['value'])
            elif kind == 'remove':
                parent, last = walk(parts)
                del parent[int(last) if isinstance(parent, list) else last]
            elif kind == 'test':
                if get(parts) != op['value']:
                    raise ApiError(422, 'testing value %s failed' % op['path'])
            elif kind in ('copy', 'move'):
                value = copy.deepcopy(get(_pointer(op['from'])))
                if kind == 'move':
                    parent, last = walk(_pointer(op['from']))
                    del parent[int(last) if isinstance(parent, list) else last]
                parent, last = walk(parts)
                if isinstance(parent, list):
                    parent.insert(len(parent) if last == '-' else int(last), value)
                else:
                    parent[last] = value
            else:
                raise ApiError(400, 'Unexpected kind: %s' % kind)
        except (KeyError, IndexError, ValueError, TypeError) as e:
            raise ApiError(422, 'the server rejected our request due to an error in our request: '
                           'jsonpatch %s operation does not apply: doc is missing path: "%s" (%s)'
                           % (op.get('op'), op.get('path'), e))
    return doc


PATCH_TYPES = {
    'application/merge-patch+json': merge_patch,
    'application/strategic-merge-patch+json': strategic_merge_patch,
    'application/json-patch+json': json_patch,
}


# -------------------------------------------------------------- the store

def ordered(res, obj):
    '''kind, apiVersion, metadata, spec, status, then the rest: the order
    of the real server's JSON.'''
    out = {'kind': res.kind, 'apiVersion': res.api_version}
    for k in ('metadata', 'spec', 'status'):
        if k in obj:
            out[k] = obj[k]
    for k, v in obj.items():
        if k not in out:
            out[k] = v
    return out


class Store:
    '''Objects, one resourceVersion counter for every write (as etcd's
    revision), the event history, and a condition variable notified on
    every change (and on every recorded request).'''

    def __init__(self):
        self.cond = threading.Condition()
        self.rv = 1
        self.compacted = 0            # watches from an older version get 410
        self.objects = {}             # (plural, namespace or '', name) -> object
        self.events = []              # (rv, type, plural, old, new)
        self.closed = False
        # Called (lock held) after a client's write: the controllers' turn.
        self.on_change = None

    def _next_rv(self):
        self.rv += 1
        return self.rv

    def key(self, res, ns, name):
        return (res.plural, ns if res.namespaced else '', name)

    def _record(self, etype, res, old, new):
        rv = int((new or old)['metadata']['resourceVersion'])
        self.events.append((rv, etype, res.plural, copy.deepcopy(old), copy.deepcopy(new)))
        self.cond.notify_all()

    def _changed(self, res):
        if self.on_change is not None:
            self.on_change(res)

    def _admit(self, res, ns, new, old):
        '''What the server does between decoding and storing: the kind's
        defaults and the fields it sets, then validation (422 naming every
        field at fault).'''
        if res.prepare is not None:
            res.prepare(new, old)
        md = new['metadata']
        name = md.get('name', '')
        errs = [kube_kinds.FieldError('Invalid', 'metadata.name', name, m)
                for m in kube_kinds.path_segment_errors(name)]
        for label, value in (md.get('labels') or {}).items():
            errs += [kube_kinds.FieldError('Invalid', 'metadata.labels', label, m)
                     for m in kube_kinds.qualified_name_errors(label)]
            if not isinstance(value, str) or not re.fullmatch(_LABEL_VALUE, value) or len(value) > 63:
                errs.append(kube_kinds.FieldError(
                    'Invalid', 'metadata.labels', value,
                    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
                    "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
                    "'my_value',  or '12345', regex used for validation is "
                    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"))
        if res.validate is not None:
            errs += res.validate(new, ns or '', old)
        if errs:
            details = {'name': name, 'kind': res.kind,
                       'causes': [{'reason': e.reason, 'message': e.body(), 'field': e.field} for e in errs]}
            if res.group:
                details['group'] = res.group
            raise ApiError(422, kube_kinds.invalid_message(res.kind, name, errs), details=details)

    def get(self, res, ns, name):
        with self.cond:
            obj = self.objects.get(self.key(res, ns, name))
            if obj is None:
                raise not_found(res, name)
            return copy.deepcopy(obj)

    def list(self, res, selector):
        with self.cond:
            items = [copy.deepcopy(o) for k, o in sorted(self.objects.items())
                     if k[0] == res.plural and selector.match(o)]
            return items, self.rv

    def create(self, res, ns, obj):
        obj = copy.deepcopy(obj)
        md = obj.setdefault('metadata', {})
        if not md.get('name'):
            if md.get('generateName'):
                md['name'] = md['generateName'] + uuid.uuid4().hex[:5]
            else:
                raise ApiError(422, '%s "" is invalid: metadata.name: Required value: name or '
                               'generateName is required' % res.kind)
        if res.namespaced:
            if md.get('namespace') and md['namespace'] != ns:
                raise ApiError(400, 'the namespace of the provided object does not match the '
                               'namespace sent on the request')
            md['namespace'] = ns
        else:
            md.pop('namespace', None)
        obj = ordered(res, obj)
        md = obj['metadata']
        with self.cond:
            if res.namespaced and ('namespaces', '', ns) not in self.objects:
                raise ApiError(404, 'namespaces "%s" not found' % ns,
                               details={'name': ns, 'kind': 'namespaces'})
            self._admit(res, ns, obj, None)
            obj = ordered(res, obj)
            md = obj['metadata']
            k = self.key(res, ns, md['name'])
            if k in self.objects:
                raise ApiError(409, '%s "%s" already exists' % (res.plural, md['name']),
                               reason='AlreadyExists', details={'name': md['name'], 'kind': res.plural})
            md['uid'] = str(uuid.uuid4())
            md['creationTimestamp'] = now_rfc3339()
            md['resourceVersion'] = str(self._next_rv())
            md.pop('deletionTimestamp', None)
            self.objects[k] = obj
            self._record('ADDED', res, None, obj)
            self._changed(res)
            return copy.deepcopy(obj)

    def patch(self, res, ns, name, content_type, body, admit=None):
        fn = PATCH_TYPES.get(content_type)
        if res.custom and content_type == 'application/strategic-merge-patch+json':
            # Custom resources have no patch strategies: the real server
            # refuses kubectl patch's default type for them.
            raise ApiError(415, 'the body of the request was in an unknown format - accepted media '
                           'types include: application/json-patch+json, application/merge-patch+json, '
                           'application/apply-patch+yaml')
        if fn is None:
            raise ApiError(415, 'the body of the request was in an unknown format - accepted media '
                           'types include: application/json-patch+json, application/merge-patch+json, '
                           'application/apply-patch+yaml, application/strategic-merge-patch+json')
        try:
            patch = json.loads(body)
        except ValueError as e:
            raise ApiError(400, 'error decoding patch: %s' % e)
        with self.cond:
            k = self.key(res, ns, name)
            old = self.objects.get(k)
            if old is None:
                raise not_found(res, name)
            new = fn(old, patch)
            if not isinstance(new, dict):
                raise ApiError(422, 'the patch does not give an object')
            if admit is not None:
                admit(new)
            return self._update_locked(res, k, old, new)

    def update(self, res, ns, name, obj):
        with self.cond:
            k = self.key(res, ns, name)
            old = self.objects.get(k)
            if old is None:
                raise not_found(res, name)
            return self._update_locked(res, k, old, copy.deepcopy(obj))

    def _update_locked(self, res, k, old, new):
        md = new.setdefault('metadata', {})
        want_rv = md.get('resourceVersion')
        if want_rv and want_rv != old['metadata']['resourceVersion']:
            raise ApiError(409, 'Operation cannot be fulfilled on %s "%s": the object has been '
                           'modified; please apply your changes to the latest version and try again'
                           % (res.plural, k[2]), details={'name': k[2], 'kind': res.plural})
        # What clients may not change.
        for field in ('name', 'namespace', 'uid', 'creationTimestamp', 'resourceVersion',
                      'deletionTimestamp'):
            if field in old['metadata']:
                md[field] = old['metadata'][field]
            else:
                md.pop(field, None)
        if md.get('name') != k[2]:
            raise ApiError(400, 'the name of the object (%s) does not match the name on the URL (%s)'
                           % (md.get('name'), k[2]))
        self._admit(res, k[1], new, old)
        if not md.get('labels'):
            md.pop('labels', None)
        out = self.commit(res, k, old, new)
        self._changed(res)
        return out

    def commit(self, res, k, old, new):
        '''Stores new in place of old (caller holds the lock): a new version
        and a MODIFIED event, or nothing when nothing changed (as the real
        server).'''
        new = ordered(res, new)
        if new == old:
            return copy.deepcopy(old)
        new['metadata']['resourceVersion'] = str(self._next_rv())
        self.objects[k] = new
        self._record('MODIFIED', res, old, new)
        return copy.deepcopy(new)

    def delete(self, res, ns, name, graceful=False):
        with self.cond:
            k = self.key(res, ns, name)
            old = self.objects.get(k)
            if old is None:
                raise not_found(res, name)
            if graceful and not old['metadata'].get('deletionTimestamp'):
                # The kubelet's part comes next: first the object shows its
                # deletionTimestamp, then it goes.
                term = copy.deepcopy(old)
                term['metadata']['deletionTimestamp'] = now_rfc3339()
                term['metadata']['deletionGracePeriodSeconds'] = 0
                term['metadata']['resourceVersion'] = str(self._next_rv())
                self.objects[k] = term
                self._record('MODIFIED', res, old, term)
                old = term
            del self.objects[k]
            gone = copy.deepcopy(old)
            gone['metadata']['resourceVersion'] = str(self._next_rv())
            self._record('DELETED', res, old, gone)
            self._changed(res)
            return gone

    def compact(self):
        '''Forgets the history: a watch from any version before now gets 410.'''
        with self.cond:
            self.compacted = self.rv
            self.events = []
            self.cond.notify_all()

    def events_since(self, rv, plural):
        '''Events after rv (caller holds the lock).'''
        if rv < self.compacted:
            raise expired(rv, self.rv)
        return [e for e in self.events if e[0] > rv and e[2] == plural]


# -------------------------------------------------------------- discovery

def api_resource_list(group='', version='v1'):
    out = []
    for res in resources_of(group, version):
        entry = {'name': res.plural, 'singularName': res.singular, 'namespaced': res.namespaced,
                 'kind': res.kind, 'verbs': res.verbs}
        if res.short_names:
            entry['shortNames'] = res.short_names
        if group == 'apps':
            entry['categories'] = ['all']
        entry['storageVersionHash'] = res.storage_hash
        out.append(entry)
        for sub, (kind, verbs) in sorted(res.subresources.items()):
            out.append({'name': res.plural + '/' + sub, 'singularName': '', 'namespaced': res.namespaced,
                        'kind': kind, 'verbs': verbs})
    out.sort(key=lambda r: r['name'])
    if not group:
        return {'kind': 'APIResourceList', 'groupVersion': version, 'resources': out}
    return {'kind': 'APIResourceList', 'apiVersion': 'v1', 'groupVersion': '%s/%s' % (group, version),
            'resources': out}


def _aggregated_version(group, version):
    resources = []
    for res in sorted(resources_of(group, version), key=lambda r: r.plural):
        subs = [{'subresource': sub, 'responseKind': {'group': group, 'version': version, 'kind': kind},
                 'verbs': verbs} for sub, (kind, verbs) in sorted(res.subresources.items())]
        entry = {'resource': res.plural,
                 'responseKind': {'group': group, 'version': version, 'kind': res.kind},
                 'scope': 'Namespaced' if res.namespaced else 'Cluster',
                 'singularResource': res.singular, 'verbs': res.verbs}
        if res.short_names:
            entry['shortNames'] = res.short_names
        if group == 'apps':
            entry['categories'] = ['all']
        if subs:
            entry['subresources'] = subs
        resources.append(entry)
    return {'version': version, 'resources': resources, 'freshness': 'Current'}


def aggregated_core(version):
    return {'kind': 'APIGroupDiscoveryList', 'apiVersion': 'apidiscovery.k8s.io/' + version,
            'metadata': {},
            'items': [{'metadata': {'creationTimestamp': None}, 'versions': [_aggregated_version('', 'v1')]}]}


def aggregated_groups(version):
    return {'kind': 'APIGroupDiscoveryList', 'apiVersion': 'apidiscovery.k8s.io/' + version,
            'metadata': {},
            'items': [{'metadata': {'name': g, 'creationTimestamp': None}, 'versions': [_aggregated_version(g, v)]}
                      for g, v in GROUP_VERSIONS]}


def api_group(group):
    versions = [{'groupVersion': '%s/%s' % (g, v), 'version': v} for g, v in GROUP_VERSIONS if g == group]
    return {'kind': 'APIGroup', 'apiVersion': 'v1', 'name': group, 'versions': versions,
            'preferredVersion': versions[0]}


def api_group_list():
    return {'kind': 'APIGroupList', 'apiVersion': 'v1',
            'groups': [{k: v for k, v in api_group(g).items() if k not in ('kind', 'apiVersion')}
                       for g, _ in GROUP_VERSIONS]}


def openapi_hash(path):
    import hashlib
    return hashlib.sha512(path.encode()).hexdigest().upper()


def openapi_gv_path(group, version):
    return 'apis/%s/%s' % (group, version) if group else 'api/' + version


def openapi_v3_root():
    paths = {}
    for g, v in [('', 'v1')] + GROUP_VERSIONS:
        p = openapi_gv_path(g, v)
        paths[p] = {'serverRelativeURL': '/openapi/v3/%s?hash=%s' % (p, openapi_hash(p))}
    return {'paths': paths}


def openapi_paths(param, group_version=None):
    '''The paths of the served resources (of one group version, or all)
    with their operations and query parameters, as the real document lists
    them (kubectl looks there for fieldValidation before it sends objects);
    param(name, description) makes a query parameter in the document's
    version.'''
    write_params = [param('dryRun', 'When present, indicates that modifications should not be persisted.'),
                    param('fieldManager', 'fieldManager is a name associated with the actor or entity '
                          'that is making these changes.'),
                    param('fieldValidation', 'fieldValidation instructs the server on how to handle '
                          'objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields.')]
    paths = {}
    for res in RESOURCES.values():
        if group_version is not None and res.group_version != group_version:
            continue
        gvk = {'group': res.group, 'version': res.version, 'kind': res.kind}
        prefix = '/' + openapi_gv_path(res.group, res.version)
        base = prefix + ('/namespaces/{namespace}/' if res.namespaced else '/') + res.plural
        suffix = res.kind if not res.namespaced else 'Namespaced' + res.kind
        tag, title = res.openapi_names

        def op(action, verb, extra=(), tag=tag):
            return {'tags': [tag], 'operationId': verb + title + suffix, 'parameters': list(extra),
                    'responses': {'200': {'description': 'OK'}, '401': {'description': 'Unauthorized'}},
                    'x-kubernetes-action': action, 'x-kubernetes-group-version-kind': gvk}
        paths[base] = {'get': op('list', 'list'), 'post': op('post', 'create', write_params)}
        item = {'get': op('get', 'read'), 'put': op('put', 'replace', write_params),
                'patch': op('patch', 'patch', write_params + [param('force', 'Force is going to "force" Apply requests.')]),
                'delete': op('delete', 'delete')}
        paths[base + '/{name}'] = item
    return paths


def openapi_v3_group(group, version):
    '''The paths of a group version (openapi_paths()); no schemas.'''
    def param(name, desc):
        return {'name': name, 'in': 'query', 'description': desc, 'schema': {'type': 'string', 'uniqueItems': True}}
    return {'openapi': '3.0.0', 'info': {'title': 'Kubernetes', 'version': SERVER_VERSION['gitVersion']},
            'paths': openapi_paths(param, (group, version)), 'components': {}}


META = 'io.k8s.apimachinery.pkg.apis.meta.v1.'


def _ref(name):
    return {'$ref': '#/definitions/' + name}


def openapi_definitions():
    '''The definitions of the served kinds as the real document has them
    at the top level and in metadata (the fields, their types, the
    x-kubernetes-group-version-kind that clients look kinds up by).  What
    is below spec and status is left undescribed: an object of anything.'''
    string = {'type': 'string'}
    string_map = {'type': 'object', 'additionalProperties': string}
    anything = {'type': 'object'}
    defs = {
        META + 'Time': {'type': 'string', 'format': 'date-time'},
        META + 'ObjectMeta': {'type': 'object', 'properties': {
            'annotations': string_map,
            'creationTimestamp': _ref(META + 'Time'),
            'deletionGracePeriodSeconds': {'type': 'integer', 'format': 'int64'},
            'deletionTimestamp': _ref(META + 'Time'),
            'finalizers': {'type': 'array', 'items': string},
            'generateName': string,
            'generation': {'type': 'integer', 'format': 'int64'},
            'labels': string_map,
            'managedFields': {'type': 'array', 'items': _ref(META + 'ManagedFieldsEntry')},
            'name': string,
            'namespace': string,
            'ownerReferences': {'type': 'array', 'items': _ref(META + 'OwnerReference')},
            'resourceVersion': string,
            'selfLink': string,
            'uid': string}},
        META + 'ListMeta': {'type': 'object', 'properties': {
            'continue': string, 'remainingItemCount': {'type': 'integer', 'format': 'int64'},
            'resourceVersion': string, 'selfLink': string}},
        META + 'ManagedFieldsEntry': anything,
        META + 'OwnerReference': anything,
    }
    for res in RESOURCES.values():
        gvk = [{'group': res.group, 'kind': res.kind, 'version': res.version}]
        name = res.definition
        props = {'apiVersion': string, 'kind': string, 'metadata': _ref(META + 'ObjectMeta')}
        for field, t in res.fields.items():
            if field in ('spec', 'status'):
                defs[name + field.capitalize()] = anything
                props[field] = _ref(name + field.capitalize())
            else:
                props[field] = {'string': string, 'int': {'type': 'integer', 'format': 'int32'},
                                'bool': {'type': 'boolean'}, 'object': anything,
                                'array': {'type': 'array', 'items': anything},
                                'time': _ref(META + 'Time')}[t]
        defs[name] = {'type': 'object', 'properties': dict(sorted(props.items())),
                      'x-kubernetes-group-version-kind': gvk}
        defs[name + 'List'] = {
            'type': 'object', 'required': ['items'],
            'properties': {'apiVersion': string, 'items': {'type': 'array', 'items': _ref(name)},
                           'kind': string, 'metadata': _ref(META + 'ListMeta')},
            'x-kubernetes-group-version-kind': [{'group': res.group, 'kind': res.kind + 'List',
                                                 'version': res.version}]}
    return dict(sorted(defs.items()))


def unknown_fields(res, obj):
    '''The fields of obj that its kind does not have, as the server's
    strict decoding names them ("spec.x"), at the levels the definitions
    describe.'''
    known = set(res.fields) | {'apiVersion', 'kind', 'metadata'}
    out = [k for k in obj if k not in known]
    md = obj.get('metadata')
    if isinstance(md, dict):
        meta = openapi_definitions()[META + 'ObjectMeta']['properties']
        out += ['metadata.' + k for k in md if k not in meta]
    return out


def openapi_v2():
    '''The Swagger 2.0 document (/openapi/v2): a kubectl without
    server-side field validation (Debian 12's 1.20) validates objects
    against its definitions before it sends them.'''
    def param(name, desc):
        return {'uniqueItems': True, 'type': 'string', 'description': desc, 'name': name, 'in': 'query'}
    return {'swagger': '2.0', 'info': {'title': 'Kubernetes', 'version': SERVER_VERSION['gitVersion']},
            'paths': openapi_paths(param), 'definitions': openapi_definitions()}


OPENAPI_V2_PROTOBUF = ('application/com.github.proto-openapi.spec.v2@v1.0+protobuf',
                       'application/com.github.proto-openapi.spec.v2.v1.0+protobuf')


def _pb_varint(n):
    out = bytearray()
    while True:
        out.append((n & 0x7f) | (0x80 if n > 0x7f else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _pb(num, payload):
    '''A length-delimited field (a string, bytes or a message).'''
    if isinstance(payload, str):
        payload = payload.encode()
    return _pb_varint(num << 3 | 2) + _pb_varint(len(payload)) + payload


def _pb_bool(num, value):
    return _pb_varint(num << 3) + b'\x01' if value else b''


def _pb_extensions(num, obj):
    # NamedAny{name, value: Any{yaml}}; JSON is YAML.
    return b''.join(_pb(num, _pb(1, k) + _pb(2, _pb(2, json.dumps(v, separators=(',', ':')))))
                    for k, v in obj.items() if k.startswith('x-'))


def _pb_schema(s):
    out = _pb(1, s['$ref']) if '$ref' in s else b''
    out += _pb(2, s['format']) if 'format' in s else b''
    out += _pb(4, s['description']) if 'description' in s else b''
    out += b''.join(_pb(19, r) for r in s.get('required', []))
    if 'additionalProperties' in s:
        out += _pb(21, _pb(1, _pb_schema(s['additionalProperties'])))
    out += _pb(22, _pb(1, s['type'])) if 'type' in s else b''
    out += _pb(23, _pb(1, _pb_schema(s['items']))) if 'items' in s else b''
    if 'properties' in s:
        out += _pb(25, b''.join(_pb(1, _pb(1, k) + _pb(2, _pb_schema(v))) for k, v in s['properties'].items()))
    return out + _pb_extensions(31, s)


def _pb_operation(op):
    out = b''.join(_pb(1, t) for t in op.get('tags', []))
    out += _pb(5, op['operationId'])
    for p in op.get('parameters', []):
        assert p['in'] == 'query'
        q = (_pb(2, p['in']) + _pb(3, p['description']) + _pb(4, p['name']) + _pb(6, p['type'])
             + _pb_bool(20, p.get('uniqueItems')))
        # ParametersItem{Parameter{NonBodyParameter{QueryParameterSubSchema}}}
        out += _pb(8, _pb(1, _pb(2, _pb(3, q))))
    out += _pb(9, b''.join(_pb(1, _pb(1, code) + _pb(2, _pb(1, _pb(1, r['description']))))
                           for code, r in op['responses'].items()))
    return out + _pb_extensions(13, op)


def openapi_v2_protobuf(doc):
    '''The document as gnostic's openapi_v2.Document in protobuf, the
    form kubectl asks for: the fields openapi_v2() uses, with the field
    numbers of gnostic's OpenAPIv2.proto.'''
    methods = {'get': 2, 'put': 3, 'post': 4, 'delete': 5, 'patch': 8}
    paths = b''.join(_pb(2, _pb(1, path) + _pb(2, b''.join(_pb(methods[m], _pb_operation(op))
                                                          for m, op in item.items())))
                     for path, item in doc['paths'].items())
    defs = b''.join(_pb(1, _pb(1, name) + _pb(2, _pb_schema(s))) for name, s in doc['definitions'].items())
    info = _pb(1, doc['info']['title']) + _pb(2, doc['info']['version'])
    return _pb(1, doc['swagger']) + _pb(2, info) + _pb(8, paths) + _pb(9, defs)


def parse_accept(header):
    '''[(media type, {params})] in the client's order.'''
    out = []
    for item in (header or '').split(','):
        item = item.strip()
        if not item:
            continue
        parts = [p.strip() for p in item.split(';')]
        params = {}
        for p in parts[1:]:
            if '=' in p:
                k, v = p.split('=', 1)
                params[k.strip()] = v.strip()
        out.append((parts[0], params))
    return out


def wants_aggregated(accept):
    for media, params in parse_accept(accept):
        if media == 'application/json' and params.get('g') == 'apidiscovery.k8s.io' \
                and params.get('as') == 'APIGroupDiscoveryList' and params.get('v') in ('v2', 'v2beta1'):
            return params['v']
        if media in ('application/json', '*/*', 'application/*') and 'as' not in params:
            return None
    return None


def wants_table(accept):
    for media, params in parse_accept(accept):
        if media == 'application/json' and params.get('as') == 'Table' \
                and params.get('g') == 'meta.k8s.io' and params.get('v') in ('v1', 'v1beta1'):
            return params['v']
        if media in ('application/json', '*/*', 'application/*') and 'as' not in params:
            return None
    return None


def accept_ok(accept):
    if not accept:
        return True
    for media, params in parse_accept(accept):
        if media in ('application/json', '*/*', 'application/*'):
            return True
    return False


# -------------------------------------------------------------- HTTP

class Dropped(Exception):
    pass


class ApiHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = ''
    sys_version = ''

    def log_message(self, fmt, *args):
        if self.server.standin.verbose:
            sys.stderr.write('kube-standin: %s\n' % (fmt % args))

    def send_response(self, code, message=None):
        # Recorded before the client can have the answer: a test that reads
        # the record once its client is done finds the status there.
        rec = getattr(self, 'rec', None)
        if rec is not None:
            rec['status'] = code
        # As the real server: no Server header.
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header('Date', self.date_time_string())

    # -- plumbing

    def _read_body(self):
        n = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(n) if n else b''

    def send_json(self, code, obj, content_type='application/json'):
        self.send_body(code, json.dumps(obj, separators=(',', ':')).encode() + b'\n', content_type)

    def send_body(self, code, data, content_type):
        self.send_response(code)
        self.send_header('Audit-Id', str(uuid.uuid4()))
        self.send_header('Cache-Control', 'no-cache, private')
        self.send_header('Content-Type', content_type)
        if content_type.startswith('application/json;g=apidiscovery') \
                or urllib.parse.urlsplit(self.path).path == '/openapi/v2':
            self.send_header('Vary', 'Accept')
        self.send_header('X-Kubernetes-Pf-Flowschema-Uid', FLOWSCHEMA_UID)
        self.send_header('X-Kubernetes-Pf-Prioritylevel-Uid', PRIORITYLEVEL_UID)
        for w in getattr(self, 'warnings', []):
            self.send_header('Warning', '299 - %s' % json.dumps(w))
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(data)
        self.status_sent = code

    def send_error_status(self, err):
        self.send_json(err.code, err.status())

    def do_GET(self):
        self.handle_any('GET')

    def do_HEAD(self):
        self.handle_any('HEAD')

    def do_POST(self):
        self.handle_any('POST')

    def do_PUT(self):
        self.handle_any('PUT')

    def do_PATCH(self):
        self.handle_any('PATCH')

    def do_DELETE(self):
        self.handle_any('DELETE')

    def handle_any(self, method):
        st = self.server.standin
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        body = self._read_body()
        self.status_sent = None
        self.warnings = []
        user = None
        rec = {'method': method, 'path': url.path, 'query': query,
               'headers': {k.lower(): v for k, v in self.headers.items()},
               'body': body.decode(errors='replace'), 'time': time.monotonic()}
        self.rec = rec
        try:
            user = self.authenticate()
            self.user_name = user
            rec['user'] = user
            st.record(rec)
            fault = st.take_fault(method, url.path)
            if fault is not None:
                raise fault
            self.route(method, url.path, query, body, user)
        except ApiError as e:
            self.send_error_status(e)
        except Dropped:
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True
        rec['status'] = self.status_sent
        with st.store.cond:
            st.store.cond.notify_all()

    def authenticate(self):
        st = self.server.standin
        auth = self.headers.get('Authorization')
        if auth is not None:
            m = re.fullmatch(r'[Bb]earer\s+(\S+)\s*', auth)
            with st.lock:
                user = st.tokens.get(m.group(1)) if m else None
            if user is None:
                raise ApiError(401, 'Unauthorized')
            return user
        cert = getattr(self.connection, 'getpeercert', lambda: None)()
        if cert:
            for rdn in cert.get('subject', ()):
                for k, v in rdn:
                    if k == 'commonName':
                        return v
        return 'system:anonymous'

    def authorize(self, user, verb, what, target=None):
        '''what: (the object or "forbidden", the resource in words) for the
        message; target: (res, ns, name, sub) of a resource request, which
        RBAC judges when the stand-in enforces it.'''
        st = self.server.standin
        allowed = user != 'system:anonymous'
        if allowed and st.rbac and target is not None:
            allowed = st.rbac_allows(user, verb, *target)
        if not allowed:
            # A path outside the resources is "forbidden: User ...".
            subject = what[0] if what[0] == 'forbidden' else what[0] + ' is forbidden'
            raise ApiError(403, '%s: User "%s" cannot %s %s' % (subject, user, verb, what[1]))

    # -- routing

    def route(self, method, path, query, body, user):
        st = self.server.standin
        if path in ('/healthz', '/livez', '/readyz'):
            data = b'ok'
            self.send_response(200)
            self.send_header('Content-Type', 'text/plain; charset=utf-8')
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.status_sent = 200
            return
        if path == '/version':
            return self.send_json(200, SERVER_VERSION)
        if path == '/openapi/v2' and method in ('GET', 'HEAD'):
            self.authorize(user, 'get', ('forbidden', 'path "%s"' % path))
            media = [m for m, _ in parse_accept(self.headers.get('Accept'))] or ['*/*']
            for m in media:
                if m in OPENAPI_V2_PROTOBUF:
                    # Answered in the form without '@' (which Go's mime
                    # parser refuses), as the real server does.
                    return self.send_body(200, openapi_v2_protobuf(openapi_v2()), OPENAPI_V2_PROTOBUF[1])
                if m in ('application/json', '*/*', 'application/*'):
                    return self.send_json(200, openapi_v2())
            raise ApiError(406, 'only the following media types are accepted: application/json, '
                           + ', '.join(OPENAPI_V2_PROTOBUF))
        if path == '/openapi/v3' and method in ('GET', 'HEAD'):
            self.authorize(user, 'get', ('forbidden', 'path "%s"' % path))
            return self.send_json(200, openapi_v3_root())
        if path.startswith('/openapi/v3/') and method in ('GET', 'HEAD'):
            self.authorize(user, 'get', ('forbidden', 'path "%s"' % path))
            for g, v in [('', 'v1')] + GROUP_VERSIONS:
                if path == '/openapi/v3/' + openapi_gv_path(g, v):
                    return self.send_json(200, openapi_v3_group(g, v))
            raise ApiError(404, 'the server could not find the requested resource', details={})
        parts = [p for p in path.split('/') if p]
        if method not in ('GET', 'HEAD') and len(parts) < 3:
            raise ApiError(405, 'the server does not allow this method on the requested resource')
        if self.discovery(path, parts, user):
            return
        if parts[:2] == ['api', 'v1']:
            group, version, rest = '', 'v1', parts[2:]
        elif len(parts) >= 3 and parts[0] == 'apis' and (parts[1], parts[2]) in GROUP_VERSIONS:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, 'the server could not find the requested resource', reason='NotFound',
                           details={})
        served = {r.plural: r for r in resources_of(group, version)}
        if not rest:
            raise ApiError(404, 'the server could not find the requested resource', details={})
        ns = None
        if rest[0] == 'namespaces' and len(rest) >= 3 and rest[2] in served and served[rest[2]].namespaced:
            ns = rest[1]
            rest = rest[2:]
        res = served.get(rest[0])
        if res is None or (res.namespaced and ns is None and len(rest) > 1):
            raise ApiError(404, 'the server could not find the requested resource', details={})
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if len(rest) > 3 or (sub is not None and sub != 'status'):
            raise ApiError(404, 'the server could not find the requested resource', details={})
        st.before_verb(method, res, ns, name, query)
        scope = ('%s "%s"' % (res.plural, name) if name else res.plural,
                 'resource "%s" in API group "%s"%s' % (
                     res.plural, res.group, ' in the namespace "%s"' % ns if ns else ' at the cluster scope'))
        store = st.store
        if method in ('GET', 'HEAD') and name is None:
            verb = 'watch' if query.get('watch') in ('true', '1') else 'list'
            # A list or watch of one object by its name is authorized as on
            # that name (RequestInfo takes it from the field selector), so
            # resourceNames can grant it.
            named = [r.split('=')[-1] for r in (query.get('fieldSelector') or '').split(',')
                     if re.fullmatch(r'metadata\.name==?[^=!]*', r)]
            self.authorize(user, verb, scope, (res, ns, named[0] if named else None, sub))
            if verb == 'watch':
                return self.serve_watch(res, ns, query)
            return self.serve_list(res, ns, query)
        if method in ('GET', 'HEAD'):
            self.authorize(user, 'get', scope, (res, ns, name, sub))
            obj = store.get(res, ns, name)
            return self.send_object(200, res, obj)
        if method == 'PATCH' and name is not None:
            self.authorize(user, 'patch', scope, (res, ns, name, sub))
            ctype = (self.headers.get('Content-Type') or '').split(';')[0].strip()
            hook = (lambda new: self.admit_pod_security(res, ns, new)) if res.plural in ('pods', 'daemonsets') else None
            return self.send_object(200, res, store.patch(res, ns, name, ctype, body, admit=hook))
        if method == 'PUT' and name is not None:
            self.authorize(user, 'update', scope, (res, ns, name, sub))
            obj = self.known_fields(res, self.decode_object(res, body), query)
            self.admit_pod_security(res, ns, obj)
            return self.send_object(200, res, store.update(res, ns, name, obj))
        if method == 'POST' and name is None:
            self.authorize(user, 'create', scope, (res, ns, name, sub))
            if res.namespaced and ns is None:
                raise ApiError(405, 'the server does not allow this method on the requested resource')
            obj = self.known_fields(res, self.decode_object(res, body), query)
            if obj.get('kind') not in (None, res.kind):
                raise ApiError(400, 'the object provided is unrecognized (must be of type %s): '
                               'kind %s' % (res.kind, obj.get('kind')))
            self.admit_pod_security(res, ns, obj)
            return self.send_object(201, res, store.create(res, ns, obj))
        if method == 'DELETE' and name is not None:
            self.authorize(user, 'delete', scope, (res, ns, name, sub))
            grace = query.get('gracePeriodSeconds')
            opts = self.decode_body(body) if body else {}
            if grace is None and opts.get('gracePeriodSeconds') is not None:
                grace = str(opts['gracePeriodSeconds'])
            graceful = res.plural == 'pods' and grace != '0'
            gone = store.delete(res, ns, name, graceful=graceful)
            return self.send_object(200, res, gone)
        raise ApiError(405, 'the server does not allow this method on the requested resource')

    def discovery(self, path, parts, user):
        '''Serves /api, /api/v1, /apis, /apis/GROUP and /apis/GROUP/VERSION;
        False for other paths.'''
        st = self.server.standin
        if parts not in (['api'], ['api', 'v1'], ['apis']) and not (
                len(parts) in (2, 3) and parts[0] == 'apis' and any(
                    parts[1:] in ([g], [g, v]) for g, v in GROUP_VERSIONS)):
            return False
        self.authorize(self.user_name, 'get', ('forbidden', 'path "%s"' % path))
        accept = self.headers.get('Accept', '')
        if parts == ['api', 'v1']:
            self.send_json(200, api_resource_list())
            return True
        if len(parts) == 3:
            self.send_json(200, api_resource_list(parts[1], parts[2]))
            return True
        if len(parts) == 2:
            self.send_json(200, api_group(parts[1]))
            return True
        agg = wants_aggregated(accept) if st.aggregated_discovery else None
        if agg:
            doc = aggregated_core(agg) if parts == ['api'] else aggregated_groups(agg)
            self.send_json(200, doc, 'application/json;g=apidiscovery.k8s.io;v=%s;as=APIGroupDiscoveryList' % agg)
            return True
        if not accept_ok(accept):
            raise ApiError(406, 'only the following media types are accepted: application/json, '
                           'application/yaml, application/vnd.kubernetes.protobuf')
        if parts == ['api']:
            host = self.server.server_address
            self.send_json(200, {'kind': 'APIVersions', 'versions': ['v1'],
                                 'serverAddressByClientCIDRs': [
                                     {'clientCIDR': '0.0.0.0/0', 'serverAddress': '%s:%d' % (host[0], host[1])}]})
            return True
        self.send_json(200, api_group_list())
        return True

    def decode_object(self, res, body):
        obj = self.decode_body(body)
        err = kube_kinds.type_errors(res.kind, obj, res.types)
        if not err and res.plural == 'secrets':
            err = kube_kinds.secret_decode_error(obj)
        if err:
            raise ApiError(400, err)
        return obj

    def admit_pod_security(self, res, ns, obj):
        '''Pod Security admission: a pod that breaks its namespace's enforce
        level is refused; a pod template (a DaemonSet's) that breaks the warn
        level gets a warning, as the real admission does for workloads.'''
        st = self.server.standin
        if res.plural not in ('pods', 'daemonsets') or ns is None:
            return
        try:
            labels = st.store.get(RESOURCES['namespaces'], None, ns)['metadata'].get('labels', {})
        except ApiError:
            return      # the create fails on the namespace anyway
        if res.plural == 'pods':
            level = kube_kinds.pod_security_level(labels, 'enforce', st.pod_security_default)
            v = kube_kinds.pod_security_violations(level, obj.get('spec') or {})
            if v:
                raise ApiError(403, 'pods "%s" is forbidden: violates PodSecurity "%s:latest": %s'
                               % (obj.get('metadata', {}).get('name', ''), level, ', '.join(v)))
            return
        warn = kube_kinds.pod_security_warn_level(labels, st.pod_security_default)
        w = kube_kinds.pod_security_warning(warn, ((obj.get('spec') or {}).get('template') or {}).get('spec') or {})
        if w:
            self.warnings.append(w)

    def decode_body(self, body):
        ctype = (self.headers.get('Content-Type') or 'application/json').split(';')[0].strip()
        if ctype != 'application/json':
            raise ApiError(415, 'the body of the request was in an unknown format - accepted media '
                           'types include: application/json, application/yaml, '
                           'application/vnd.kubernetes.protobuf')
        try:
            obj = json.loads(body or b'{}')
        except ValueError as e:
            raise ApiError(400, "couldn't get version/kind; json parse error: %s" % e)
        if not isinstance(obj, dict):
            raise ApiError(400, "couldn't get version/kind; json parse error: not an object")
        return obj

    def known_fields(self, res, obj, query):
        '''obj without the fields its kind does not have, as the server's
        decoder drops them; with fieldValidation=Strict they are refused,
        by default (Warn) each gets a Warning header.'''
        unknown = unknown_fields(res, obj)
        if not unknown:
            return obj
        directive = query.get('fieldValidation') or 'Warn'
        if directive == 'Strict':
            raise ApiError(400, '%s in version "v1" cannot be handled as a %s: strict decoding error: %s'
                           % (res.kind, res.kind, ', '.join('unknown field "%s"' % f for f in unknown)))
        if directive == 'Warn':
            self.warnings += ['unknown field "%s"' % f for f in unknown]
        obj = copy.deepcopy(obj)
        for f in unknown:
            parent, _, name = f.rpartition('.')
            (obj[parent] if parent else obj).pop(name)
        return obj

    # -- objects, lists, tables

    def send_object(self, code, res, obj):
        accept = self.headers.get('Accept', '')
        tv = wants_table(accept)
        if tv:
            return self.send_json(code, self.table(res, [obj], obj['metadata']['resourceVersion'], tv),
                                  'application/json;as=Table;v=%s;g=meta.k8s.io' % tv)
        if not accept_ok(accept):
            raise ApiError(406, 'only the following media types are accepted: application/json, '
                           'application/yaml, application/vnd.kubernetes.protobuf')
        return self.send_json(code, obj)

    def table(self, res, items, rv, version, cont=None):
        cols = [{'name': n, 'type': t, 'format': f, 'description': d, 'priority': p}
                for n, t, f, d, p in res.table_columns]
        row_fn = TABLE_ROWS[res.plural]
        include = self.query_include
        rows = []
        for obj in items:
            row = {'cells': row_fn(obj)}
            if include == 'Object':
                row['object'] = obj
            elif include != 'None':
                md = copy.deepcopy(obj['metadata'])
                row['object'] = {'kind': 'PartialObjectMetadata', 'apiVersion': 'meta.k8s.io/' + version,
                                 'metadata': md}
            rows.append(row)
        meta = {'resourceVersion': str(rv)}
        if cont:
            meta['continue'] = cont
        return {'kind': 'Table', 'apiVersion': 'meta.k8s.io/' + version, 'metadata': meta,
                'columnDefinitions': cols, 'rows': rows}

    @property
    def query_include(self):
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        return q.get('includeObject', ['PartialObjectMetadata'])[-1]

    def serve_list(self, res, ns, query):
        store = self.server.standin.store
        selector = Selector(res, ns, query)
        items, rv = store.list(res, selector)
        start = 0
        cont = query.get('continue')
        if cont:
            try:
                state = json.loads(base64.urlsafe_b64decode(cont.encode()).decode())
                start, rv = int(state['start']), int(state['rv'])
            except (ValueError, KeyError, TypeError):
                raise ApiError(400, 'continue key is not valid: %s' % cont)
            if rv < store.compacted:
                raise ApiError(410, 'The provided continue parameter is too old to display a consistent '
                               'list result. You can start a new list without the continue parameter, '
                               'or use the continue token in this response to retrieve the remainder '
                               'of the results.')
        limit = int(query.get('limit') or 0)
        page = items[start:]
        next_cont = None
        if limit > 0 and len(page) > limit:
            page = page[:limit]
            next_cont = base64.urlsafe_b64encode(json.dumps(
                {'start': start + limit, 'rv': rv}).encode()).decode()
        accept = self.headers.get('Accept', '')
        tv = wants_table(accept)
        if tv:
            return self.send_json(200, self.table(res, page, rv, tv, next_cont),
                                  'application/json;as=Table;v=%s;g=meta.k8s.io' % tv)
        for obj in page:
            obj.pop('kind', None)
            obj.pop('apiVersion', None)
        meta = {'resourceVersion': str(rv)}
        if next_cont:
            meta['continue'] = next_cont
        return self.send_json(200, {'kind': res.kind + 'List', 'apiVersion': res.api_version, 'metadata': meta,
                                    'items': page})

    # -- watch

    def write_chunk(self, data):
        self.wfile.write(b'%x\r\n%s\r\n' % (len(data), data))
        self.wfile.flush()

    def serve_watch(self, res, ns, query):
        st = self.server.standin
        store = st.store
        selector = Selector(res, ns, query)
        rv_text = query.get('resourceVersion', '')
        try:
            since = int(rv_text) if rv_text not in ('', '0') else None
        except ValueError:
            raise ApiError(400, 'resourceVersion: Invalid value: "%s": must be a number' % rv_text)
        timeout = query.get('timeoutSeconds')
        timeout = float(timeout) if timeout else 1800.0
        bookmarks = query.get('allowWatchBookmarks') in ('true', '1')
        self.watch_table = wants_table(self.headers.get('Accept', ''))
        self.watch_table_headers_sent = False
        injected = st.take_watch_fault(res.plural)
        if injected is not None and injected[0] == 'http':
            raise injected[1]
        with store.cond:
            initial = []
            error = injected[1] if injected is not None else None
            if since is None:
                items, last = store.list(res, selector)
                initial = [('ADDED', o) for o in items]
            else:
                last = since
                if error is None and since < store.compacted:
                    error = expired(since, store.rv)
        self.send_response(200)
        self.send_header('Audit-Id', str(uuid.uuid4()))
        self.send_header('Cache-Control', 'no-cache, private')
        self.send_header('Content-Type', 'application/json')
        self.send_header('Transfer-Encoding', 'chunked')
        self.end_headers()
        self.status_sent = 200
        self.close_connection = True
        watch = st.add_watch(self, res.plural)
        # A client sends nothing on a watch connection: when it becomes
        # readable, the client has closed it (the real server sees the
        # request's context cancelled).
        threading.Thread(target=self._watch_client, args=(watch,), daemon=True).start()
        try:
            if error is not None:
                self.write_event('ERROR', error.status())
                self.write_chunk(b'')
                return
            for etype, obj in initial:
                self.write_event(etype, obj)
            deadline = time.monotonic() + timeout
            next_bookmark = time.monotonic() + st.bookmark_interval
            while True:
                with store.cond:
                    while True:
                        if watch.dropped or store.closed:
                            raise Dropped()
                        try:
                            pending = store.events_since(last, res.plural)
                        except ApiError as e:
                            pending = e
                            break
                        if pending or watch.bookmark_now:
                            break
                        now = time.monotonic()
                        if now >= deadline:
                            break
                        if bookmarks and now >= next_bookmark:
                            watch.bookmark_now = True
                            break
                        wait = deadline - now
                        if bookmarks:
                            wait = min(wait, next_bookmark - now)
                        store.cond.wait(wait)
                    send_bookmark = bookmarks and watch.bookmark_now
                    watch.bookmark_now = False
                    current = store.rv
                if isinstance(pending, ApiError):
                    self.write_event('ERROR', pending.status())
                    break
                for rv, etype, _plural, old, new in pending:
                    was, now_in = selector.match(old), selector.match(new) if etype != 'DELETED' else False
                    if etype == 'DELETED':
                        if was:
                            self.write_event('DELETED', new)
                    elif was and now_in:
                        self.write_event(etype, new)
                    elif now_in:
                        self.write_event('ADDED', new)
                    elif was:
                        self.write_event('DELETED', new)
                    last = rv
                if send_bookmark:
                    last = max(last, current)
                    self.write_event('BOOKMARK', {'kind': res.kind, 'apiVersion': res.api_version,
                                                  'metadata': {'resourceVersion': str(last),
                                                               'creationTimestamp': None}})
                    with store.cond:
                        watch.bookmarks_sent.append(last)
                        store.cond.notify_all()
                    next_bookmark = time.monotonic() + st.bookmark_interval
                if time.monotonic() >= deadline and not pending:
                    break
            self.write_chunk(b'')
        finally:
            st.remove_watch(watch)

    def _watch_client(self, watch):
        import select
        try:
            select.select([self.connection.fileno()], [], [])
        except (OSError, ValueError):
            pass
        with self.server.standin.store.cond:
            watch.dropped = True
            self.server.standin.store.cond.notify_all()

    def write_event(self, etype, obj):
        tv = getattr(self, 'watch_table', None)
        if tv and etype in ('ADDED', 'MODIFIED', 'DELETED'):
            # As the real server: a Table per event, the column definitions
            # only in the first.
            table = self.table(KINDS[obj['kind']], [obj],
                               obj['metadata']['resourceVersion'], tv)
            if self.watch_table_headers_sent:
                table['columnDefinitions'] = []
            self.watch_table_headers_sent = True
            obj = table
        self.write_chunk(json.dumps({'type': etype, 'object': obj}, separators=(',', ':')).encode() + b'\n')


class Watch:
    def __init__(self, handler, plural):
        self.handler = handler
        self.plural = plural
        self.dropped = False
        self.bookmark_now = False
        self.bookmarks_sent = []      # the resourceVersion of each


class ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, handler, standin, ssl_context=None):
        self.standin = standin
        self.ssl_context = ssl_context
        super().__init__(addr, handler)

    def finish_request(self, request, client_address):
        # The TLS handshake in the connection's thread, not in accept().
        if self.ssl_context is not None:
            try:
                request = self.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        try:
            self.RequestHandlerClass(request, client_address, self)
        finally:
            if self.ssl_context is not None:
                try:
                    request.close()
                except OSError:
                    pass

    def handle_error(self, request, client_address):
        if self.standin.verbose:
            super().handle_error(request, client_address)


# -------------------------------------------------------------- the stand-in

def default_node(name, labels=None):
    return {
        'metadata': {
            'name': name,
            'labels': dict({'beta.kubernetes.io/arch': 'amd64', 'beta.kubernetes.io/os': 'linux',
                            'kubernetes.io/arch': 'amd64', 'kubernetes.io/hostname': name,
                            'kubernetes.io/os': 'linux'}, **(labels or {})),
            'annotations': {'node.alpha.kubernetes.io/ttl': '0',
                            'volumes.kubernetes.io/controller-managed-attach-detach': 'true'},
        },
        'spec': {'podCIDR': '10.244.0.0/24', 'podCIDRs': ['10.244.0.0/24']},
        'status': {
            'capacity': {'cpu': '2', 'memory': '8148564Ki', 'pods': '110'},
            'allocatable': {'cpu': '2', 'memory': '8046164Ki', 'pods': '110'},
            'conditions': [
                {'type': 'MemoryPressure', 'status': 'False', 'reason': 'KubeletHasSufficientMemory',
                 'message': 'kubelet has sufficient memory available'},
                {'type': 'DiskPressure', 'status': 'False', 'reason': 'KubeletHasNoDiskPressure',
                 'message': 'kubelet has no disk pressure'},
                {'type': 'PIDPressure', 'status': 'False', 'reason': 'KubeletHasSufficientPID',
                 'message': 'kubelet has sufficient PID available'},
                {'type': 'Ready', 'status': 'True', 'reason': 'KubeletReady',
                 'message': 'kubelet is posting ready status'},
            ],
            'addresses': [{'type': 'InternalIP', 'address': '10.0.0.11'},
                          {'type': 'Hostname', 'address': name}],
            'daemonEndpoints': {'kubeletEndpoint': {'Port': 10250}},
            'nodeInfo': {'machineID': uuid.uuid4().hex, 'systemUUID': str(uuid.uuid4()),
                         'bootID': str(uuid.uuid4()), 'kernelVersion': '6.1.0-37-amd64',
                         'osImage': 'Debian GNU/Linux 12 (bookworm)',
                         'containerRuntimeVersion': 'containerd://1.7.24', 'kubeletVersion': 'v1.32.4',
                         'kubeProxyVersion': 'v1.32.4', 'operatingSystem': 'linux', 'architecture': 'amd64'},
        },
    }


def default_pod(name, node, labels=None, namespace=None):
    return {
        'metadata': {'name': name, 'labels': dict(labels or {})},
        'spec': {'nodeName': node, 'restartPolicy': 'Always', 'schedulerName': 'default-scheduler',
                 'serviceAccountName': 'default',
                 'containers': [{'name': 'main', 'image': 'registry.k8s.io/pause:3.10'}]},
        'status': {'phase': 'Running', 'podIP': '10.244.0.10',
                   'containerStatuses': [{'name': 'main', 'ready': True, 'restartCount': 0,
                                          'image': 'registry.k8s.io/pause:3.10'}]},
    }


def stop_server(server, port):
    '''shutdown() waits for serve_forever() to see the request, which it
    does when its select() wakes: a connection wakes it at once.'''
    t = threading.Thread(target=server.shutdown)
    t.start()
    while t.is_alive():
        try:
            socket.create_connection(('127.0.0.1', port), 1).close()
        except OSError:
            pass
        t.join(0.05)
    server.server_close()


class KubeStandin:
    '''The server and its test controls.  Use as a context manager or call
    start()/stop().'''

    def __init__(self, tls_dir=None, tokens=None, bookmark_interval=60.0, verbose=False,
                 client_ca=None, aggregated_discovery=True, pod_security_default='privileged'):
        self.store = Store()
        self.store.on_change = self._controllers
        # The cluster's Pod Security level for namespaces without labels
        # (the upstream default is privileged; hardened clusters set baseline).
        assert pod_security_default in kube_kinds.POD_SECURITY_LEVELS
        self.pod_security_default = pod_security_default
        # Servers before 1.26 have no aggregated discovery: clients fall back
        # to /api/v1 (kept to prove that document too).
        self.aggregated_discovery = aggregated_discovery
        self.lock = threading.Lock()
        self.tokens = {t: 'system:serviceaccount:nvidia-cc-k8s-bridge:nvidia-cc-k8s-bridge' for t in (tokens or [])}
        # Off: every authenticated user may do anything.  On: the RBAC
        # objects in the store decide, as the real authorizer does.
        self.rbac = False
        self.bookmark_interval = bookmark_interval
        self.verbose = verbose
        self.requests = []
        self.watches = []
        self.faults = []              # (method, path regex, ApiError, count)
        self.watch_faults = []        # (plural, 'event'|'http', ApiError)
        self.verb_hooks = []
        self.tls_dir = tls_dir
        self.client_ca = client_ca
        ctx = None
        if tls_dir is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(os.path.join(tls_dir, 'server.crt'), os.path.join(tls_dir, 'server.key'))
            ca = client_ca or os.path.join(tls_dir, 'ca.crt')
            ctx.load_verify_locations(ca)
            ctx.verify_mode = ssl.CERT_OPTIONAL
        self.scheme = 'https' if ctx is not None else 'http'
        self.server = ThreadingServer(('127.0.0.1', 0), ApiHandler, self, ctx)
        self.port = self.server.server_address[1]
        self.url = '%s://127.0.0.1:%d' % (self.scheme, self.port)
        self.thread = None
        for ns in ('default', 'kube-system', 'gpu-operator'):
            self.add_namespace(ns)

    # -- life

    def start(self):
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={'poll_interval': 3600},
                                       daemon=True, name='kube-standin')
        self.thread.start()
        return self

    def stop(self):
        # The CRDs go with the server (the tables are the module's).
        for plural in CUSTOM_RESOURCES:
            RESOURCES.pop(plural, None)
            KINDS.pop(CUSTOM_RESOURCES[plural].kind, None)
        GROUP_VERSIONS[:] = BUILTIN_GROUP_VERSIONS
        with self.store.cond:
            self.store.closed = True
            self.store.cond.notify_all()
        self.drop_watches()
        stop_server(self.server, self.port)
        if self.thread is not None:
            self.thread.join(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- controllers

    def _controllers(self, res):
        '''The DaemonSet controller's part that tests can see (store lock
        held): status.desiredNumberScheduled, the nodes a DaemonSet's pods
        fit, kept up to date as DaemonSets and nodes change.  No pods are
        made: nothing would run them.'''
        if res.plural not in ('nodes', 'daemonsets'):
            return
        store = self.store
        ds_res = RESOURCES['daemonsets']
        nodes = [o for k, o in store.objects.items() if k[0] == 'nodes']
        for k, ds in sorted((k, o) for k, o in store.objects.items() if k[0] == 'daemonsets'):
            spec = ds.get('spec', {}).get('template', {}).get('spec', {})
            status = dict(ds.get('status', {}))
            status['desiredNumberScheduled'] = sum(1 for n in nodes if kube_kinds.pod_fits_node(spec, n))
            status['observedGeneration'] = ds['metadata'].get('generation', 1)
            if status != ds.get('status'):
                new = copy.deepcopy(ds)
                new['status'] = status
                store.commit(ds_res, k, ds, new)

    def daemonset(self, namespace, name):
        return self.store.get(RESOURCES['daemonsets'], namespace, name)

    # -- custom resources

    def install_crd(self, plural):
        '''Serves a custom resource of CUSTOM_RESOURCES from now on (in
        discovery, OpenAPI and at its paths), as a created CRD makes the
        real server do.  The module's tables are shared: one stand-in with
        CRDs per process.'''
        res = CUSTOM_RESOURCES[plural]
        with self.store.cond:
            RESOURCES[plural] = res
            KINDS[res.kind] = res
            if res.group_version not in GROUP_VERSIONS:
                GROUP_VERSIONS.append(res.group_version)
            self.store.cond.notify_all()

    def uninstall_crd(self, plural):
        '''Stops serving it, and deletes its objects, as deleting the CRD does.'''
        res = CUSTOM_RESOURCES[plural]
        with self.store.cond:
            for k in [k for k in self.store.objects if k[0] == plural]:
                self.store.delete(res, k[1] or None, k[2])
            RESOURCES.pop(plural, None)
            KINDS.pop(res.kind, None)
            if not any(r.group_version == res.group_version for r in RESOURCES.values()):
                GROUP_VERSIONS[:] = [gv for gv in GROUP_VERSIONS if gv != res.group_version]
            self.store.cond.notify_all()

    def custom_object(self, plural, name, namespace=None):
        return self.store.get(CUSTOM_RESOURCES[plural], namespace, name)

    def create_custom_object(self, plural, obj, namespace=None):
        res = CUSTOM_RESOURCES[plural]
        obj = dict(obj, apiVersion=res.api_version, kind=res.kind)
        return self.store.create(res, namespace, obj)

    def patch_custom_object(self, plural, name, patch, namespace=None):
        return self.store.patch(CUSTOM_RESOURCES[plural], namespace, name, 'application/merge-patch+json',
                                json.dumps(patch).encode())

    def config_map(self, namespace, name):
        return self.store.get(RESOURCES['configmaps'], namespace, name)

    def set_config_map(self, namespace, name, data):
        '''Creates the ConfigMap with data, or merges data (None removes a key) into it.'''
        res = RESOURCES['configmaps']
        try:
            self.store.get(res, namespace, name)
        except ApiError:
            return self.store.create(res, namespace, {'metadata': {'name': name, 'namespace': namespace},
                                                      'data': {k: v for k, v in data.items() if v is not None}})
        return self.store.patch(res, namespace, name, 'application/merge-patch+json',
                                json.dumps({'data': data}).encode())

    def delete_config_map(self, namespace, name):
        return self.store.delete(RESOURCES['configmaps'], namespace, name)

    def events(self, namespace=None, field_selector=''):
        res = RESOURCES['events']
        items, _ = self.store.list(res, Selector(res, namespace, {'fieldSelector': field_selector}))
        return items

    # -- objects

    def add_namespace(self, name):
        return self.store.create(RESOURCES['namespaces'], None,
                                 {'metadata': {'name': name, 'labels': {'kubernetes.io/metadata.name': name}},
                                  'spec': {'finalizers': ['kubernetes']}, 'status': {'phase': 'Active'}})

    def add_node(self, name, labels=None):
        return self.store.create(RESOURCES['nodes'], None, default_node(name, labels))

    def add_pod(self, namespace, name, node, labels=None):
        return self.store.create(RESOURCES['pods'], namespace, default_pod(name, node, labels))

    def delete_pod(self, namespace, name, graceful=True):
        return self.store.delete(RESOURCES['pods'], namespace, name, graceful=graceful)

    def node(self, name):
        return self.store.get(RESOURCES['nodes'], None, name)

    # -- RBAC

    def rbac_allows(self, user, verb, res, ns, name, sub):
        '''The RBAC authorizer: a rule of a ClusterRole bound cluster-wide,
        or of a Role or ClusterRole bound in the request's namespace, to the
        user (a service account's user name, or a User subject) grants the
        verb on the resource (or resource/subresource) of its group, and
        on the object named when the rule lists resourceNames.'''
        def subject_matches(subjects, binding_ns):
            for sj in subjects or []:
                kind = sj.get('kind')
                if kind == 'ServiceAccount' and user == 'system:serviceaccount:%s:%s' % (
                        sj.get('namespace') or binding_ns, sj.get('name')):
                    return True
                if kind == 'User' and user == sj.get('name'):
                    return True
                if kind == 'Group' and sj.get('name') in ('system:authenticated', 'system:serviceaccounts'):
                    return True
            return False

        def rule_allows(rule):
            resource = res.plural + ('/' + sub if sub else '')
            if not ({'*', res.group} & set(rule.get('apiGroups') or [])):
                return False
            if not ({'*', resource} & set(rule.get('resources') or [])):
                return False
            if not ({'*', verb} & set(rule.get('verbs') or [])):
                return False
            names = rule.get('resourceNames') or []
            return not names or (name is not None and name in names)

        def role_rules(ref, binding_ns):
            if ref.get('kind') == 'ClusterRole':
                role = self.store.objects.get(('clusterroles', '', ref.get('name')))
            else:
                role = self.store.objects.get(('roles', binding_ns, ref.get('name')))
            return (role or {}).get('rules') or []

        with self.store.cond:
            bindings = [(o, '') for k, o in self.store.objects.items() if k[0] == 'clusterrolebindings']
            if ns:
                bindings += [(o, ns) for k, o in self.store.objects.items() if k[0] == 'rolebindings' and k[1] == ns]
            for b, binding_ns in bindings:
                if not subject_matches(b.get('subjects'), binding_ns):
                    continue
                if any(rule_allows(r) for r in role_rules(b.get('roleRef') or {}, binding_ns)):
                    return True
        return False

    def add_secret(self, namespace, name, secret_type='Opaque', data=None, string_data=None):
        '''A Secret, through the server's own defaults and validation.'''
        obj = {'metadata': {'name': name}, 'type': secret_type}
        if data is not None:
            obj['data'] = data
        if string_data is not None:
            obj['stringData'] = string_data
        return self.store.create(RESOURCES['secrets'], namespace, obj)

    def delete_secret(self, namespace, name):
        return self.store.delete(RESOURCES['secrets'], namespace, name)

    def labels(self, name):
        return self.node(name)['metadata'].get('labels', {})

    def patch_node(self, name, patch, content_type='application/merge-patch+json'):
        return self.store.patch(RESOURCES['nodes'], None, name, content_type, json.dumps(patch).encode())

    def set_labels(self, name, labels):
        '''Sets (value) or removes (None) labels, as kubectl label does.'''
        return self.patch_node(name, {'metadata': {'labels': labels}})

    def pods(self, namespace=None, field_selector='', label_selector=''):
        res = RESOURCES['pods']
        items, _ = self.store.list(res, Selector(res, namespace, {'fieldSelector': field_selector,
                                                                  'labelSelector': label_selector}))
        return items

    # -- waiting

    def wait_for(self, pred, timeout, what='a condition', alive=None):
        '''Waits on the store's condition variable until pred() (called with
        the lock held) is true; raises TimeoutError naming what on the
        deadline, RuntimeError when alive() turns false first.  Whatever
        changes the store or records a request wakes it, and so does
        poke() (e.g. from a thread watching a child's pidfd).'''
        deadline = time.monotonic() + timeout
        with self.store.cond:
            while True:
                r = pred()
                if r:
                    return r
                if alive is not None and not alive():
                    r = pred()
                    if r:
                        return r
                    raise RuntimeError('the process died while waiting for %s' % what)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError('timed out after %g s waiting for %s' % (timeout, what))
                self.store.cond.wait(left)

    def poke(self):
        with self.store.cond:
            self.store.cond.notify_all()

    def wait_labels(self, node, pred, timeout, what='labels', alive=None):
        '''Waits until pred(labels of node) is true; returns the labels.'''
        key = ('nodes', '', node)
        seen = {}

        def check():
            obj = self.store.objects.get(key)
            seen['labels'] = dict(obj['metadata'].get('labels', {})) if obj else None
            return seen['labels'] if seen['labels'] is not None and pred(seen['labels']) else None
        try:
            return self.wait_for(check, timeout, what, alive)
        except (TimeoutError, RuntimeError) as e:
            raise type(e)('%s; last labels: %s' % (e, json.dumps(seen.get('labels'), sort_keys=True)))

    # -- requests

    def record(self, rec):
        with self.store.cond:
            self.requests.append(rec)
            self.store.cond.notify_all()

    def requests_matching(self, method=None, path=None, watch=None, since=0):
        out = []
        with self.store.cond:
            reqs = list(self.requests[since:])
        for r in reqs:
            if method is not None and r['method'] != method:
                continue
            if path is not None and not re.fullmatch(path, r['path']):
                continue
            if watch is not None and (r['query'].get('watch') in ('true', '1')) != watch:
                continue
            out.append(r)
        return out

    def clear_requests(self):
        with self.store.cond:
            self.requests = []

    # -- faults

    def set_tokens(self, tokens, user='system:serviceaccount:nvidia-cc-k8s-bridge:nvidia-cc-k8s-bridge'):
        '''Only these bearer tokens are valid from now on.'''
        with self.lock:
            self.tokens = {t: user for t in tokens}

    def fail_next(self, method, path, code=500, message='injected failure', count=1):
        with self.lock:
            self.faults.append([method, path, ApiError(code, message), count])

    def take_fault(self, method, path):
        with self.lock:
            for f in self.faults:
                if f[0] == method and re.fullmatch(f[1], path):
                    f[3] -= 1
                    if f[3] <= 0:
                        self.faults.remove(f)
                    return f[2]
        return None

    def inject_watch_gone(self, plural='nodes', how='event'):
        '''The next watch of plural gets 410 Expired: as an ERROR event in a
        200 response (how the watch cache answers), or as the HTTP status.'''
        assert how in ('event', 'http')
        with self.lock:
            self.watch_faults.append((plural, how, expired(1, self.store.rv)))

    def take_watch_fault(self, plural):
        with self.lock:
            for f in self.watch_faults:
                if f[0] == plural:
                    self.watch_faults.remove(f)
                    return f[1], f[2]
        return None

    def before_verb(self, method, res, ns, name, query):
        for hook in list(self.verb_hooks):
            hook(method, res.plural, ns, name, query)

    # -- watches

    def add_watch(self, handler, plural):
        w = Watch(handler, plural)
        with self.store.cond:
            self.watches.append(w)
            self.store.cond.notify_all()
        return w

    def remove_watch(self, w):
        with self.store.cond:
            if w in self.watches:
                self.watches.remove(w)
            self.store.cond.notify_all()

    def open_watches(self, plural=None):
        with self.store.cond:
            return [w for w in self.watches if plural is None or w.plural == plural]

    def drop_watches(self, plural=None):
        '''Closes every open watch connection without a final chunk, as a
        restarting apiserver or a broken load balancer does.'''
        with self.store.cond:
            victims = [w for w in self.watches if plural is None or w.plural == plural]
            for w in victims:
                w.dropped = True
                try:
                    w.handler.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.store.cond.notify_all()
        return len(victims)

    def send_bookmarks(self, wait=True, timeout=30):
        '''Makes every open watch that allows them send a BOOKMARK now;
        waits until they were written.  Returns the watches.'''
        with self.store.cond:
            targets = [(w, len(w.bookmarks_sent)) for w in self.watches]
            for w, _ in targets:
                w.bookmark_now = True
            self.store.cond.notify_all()
        if wait:
            self.wait_for(lambda: all(len(w.bookmarks_sent) > n or w.dropped or w not in self.watches
                                      for w, n in targets), timeout, 'the bookmarks to be written')
        return [w for w, _ in targets]

    def compact(self):
        self.store.compact()


# -------------------------------------------------------------- certificates and kubeconfig

def make_pki(directory, client_cn='system:node:node-1', client_org='system:nodes'):
    '''A CA, a server certificate for 127.0.0.1/localhost and a client
    certificate, made by the openssl CLI: ca.crt, server.{crt,key},
    client.{crt,key}.'''
    os.makedirs(directory, exist_ok=True)

    def run(*args):
        subprocess.run(['openssl'] + list(args), check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    p = lambda n: os.path.join(directory, n)  # noqa: E731
    run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', p('ca.key'), '-out', p('ca.crt'), '-days', '2', '-subj', '/CN=kubernetes-ca',
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
    for name, subj, ext in (
            ('server', '/CN=kube-apiserver',
             'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n'
             'extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n'),
            ('client', '/O=%s/CN=%s' % (client_org, client_cn),
             'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n')):
        with open(p(name + '.ext'), 'w') as f:
            f.write(ext)
        run('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
            '-keyout', p(name + '.key'), '-out', p(name + '.csr'), '-subj', subj)
        run('x509', '-req', '-in', p(name + '.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'),
            '-CAcreateserial', '-out', p(name + '.crt'), '-days', '2', '-extfile', p(name + '.ext'))
    return directory


def kubeconfig_text(server, ca_file=None, ca_data=None, token=None, token_file=None,
                    client_cert=None, client_key=None, insecure=False, user='bridge', namespace=None):
    cluster = {'server': server}
    if ca_file:
        cluster['certificate-authority'] = ca_file
    if ca_data:
        cluster['certificate-authority-data'] = base64.b64encode(ca_data).decode()
    if insecure:
        cluster['insecure-skip-tls-verify'] = True
    u = {}
    if token:
        u['token'] = token
    if token_file:
        u['tokenFile'] = token_file
    if client_cert:
        u['client-certificate'] = client_cert
    if client_key:
        u['client-key'] = client_key
    doc = {'apiVersion': 'v1', 'kind': 'Config', 'preferences': {},
           'clusters': [{'name': 'standin', 'cluster': cluster}],
           'users': [{'name': user, 'user': u}],
           'contexts': [{'name': 'standin', 'context': dict({'cluster': 'standin', 'user': user},
                                                            **({'namespace': namespace} if namespace else {}))}],
           'current-context': 'standin'}
    # JSON is YAML; kubectl and libyaml read it.
    return json.dumps(doc, indent=2) + '\n'


def write_kubeconfig(path, *args, **kwargs):
    with open(path, 'w') as f:
        f.write(kubeconfig_text(*args, **kwargs))
    os.chmod(path, 0o600)
    return path


# -------------------------------------------------------------- control endpoint

class ControlHandler(http.server.BaseHTTPRequestHandler):
    '''The side channel when the stand-in runs as its own process (plain
    HTTP on loopback, no auth):
      GET  /requests                  every recorded request (JSON array)
      GET  /nodes/NAME                the node object
      POST /tokens        {"tokens": [...]}
      POST /fail-next     {"method": "PATCH", "path": "regex", "code": 500, "count": 1}
      POST /inject-gone   {"resource": "nodes", "how": "event"|"http"}
      POST /drop-watches  {"resource": "nodes"} (optional)
      POST /compact, /bookmarks, /clear-requests
      POST /nodes         {"name": ..., "labels": {...}}
      PATCH /nodes/NAME   a merge patch
      POST /pods          {"namespace": ..., "name": ..., "node": ..., "labels": {...}}
      DELETE /pods/NS/NAME'''
    protocol_version = 'HTTP/1.1'

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, obj):
        data = json.dumps(obj).encode() + b'\n'
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self, method):
        st = self.server.standin
        n = int(self.headers.get('Content-Length') or 0)
        body = json.loads(self.rfile.read(n) or b'{}') if n else {}
        path = urllib.parse.urlsplit(self.path).path
        parts = [p for p in path.split('/') if p]
        try:
            if method == 'GET' and path == '/requests':
                return self.reply(200, st.requests_matching())
            if method == 'GET' and len(parts) == 2 and parts[0] == 'nodes':
                return self.reply(200, st.node(parts[1]))
            if method == 'PATCH' and len(parts) == 2 and parts[0] == 'nodes':
                return self.reply(200, st.patch_node(parts[1], body))
            if method == 'POST':
                if path == '/tokens':
                    st.set_tokens(body['tokens'])
                elif path == '/fail-next':
                    st.fail_next(body['method'], body['path'], body.get('code', 500),
                                 body.get('message', 'injected failure'), body.get('count', 1))
                elif path == '/inject-gone':
                    st.inject_watch_gone(body.get('resource', 'nodes'), body.get('how', 'event'))
                elif path == '/drop-watches':
                    return self.reply(200, {'dropped': st.drop_watches(body.get('resource'))})
                elif path == '/compact':
                    st.compact()
                elif path == '/bookmarks':
                    st.send_bookmarks()
                elif path == '/clear-requests':
                    st.clear_requests()
                elif path == '/nodes':
                    return self.reply(201, st.add_node(body['name'], body.get('labels')))
                elif path == '/pods':
                    return self.reply(201, st.add_pod(body['namespace'], body['name'], body['node'],
                                                      body.get('labels')))
                else:
                    return self.reply(404, {'error': 'no such control: ' + path})
                return self.reply(200, {})
            if method == 'DELETE' and len(parts) == 3 and parts[0] == 'pods':
                return self.reply(200, st.delete_pod(parts[1], parts[2]))
            return self.reply(404, {'error': 'no such control: %s %s' % (method, path)})
        except ApiError as e:
            return self.reply(e.code, e.status())
        except (KeyError, ValueError, TypeError) as e:
            return self.reply(400, {'error': str(e)})

    def do_GET(self):
        self.handle_any('GET')

    def do_POST(self):
        self.handle_any('POST')

    def do_PATCH(self):
        self.handle_any('PATCH')

    def do_DELETE(self):
        self.handle_any('DELETE')


def main(argv=None):
    ap = argparse.ArgumentParser(description='A stand-in for kube-apiserver (tests only).')
    ap.add_argument('--tls', metavar='DIR', help='serve TLS; make the PKI in DIR when it has no ca.crt')
    ap.add_argument('--token', action='append', default=[], help='a valid bearer token (repeatable)')
    ap.add_argument('--node', action='append', default=[], metavar='NAME[:k=v,...]',
                    help='a node to create, with labels')
    ap.add_argument('--kubeconfig-out', metavar='FILE', help='write a kubeconfig for the first token')
    ap.add_argument('--bookmark-interval', type=float, default=60.0)
    ap.add_argument('--verbose', action='store_true')
    args = ap.parse_args(argv)
    if args.tls and not os.path.exists(os.path.join(args.tls, 'ca.crt')):
        make_pki(args.tls)
    st = KubeStandin(tls_dir=args.tls, tokens=args.token, bookmark_interval=args.bookmark_interval,
                     verbose=args.verbose)
    for spec in args.node:
        name, _, labels = spec.partition(':')
        st.add_node(name, dict(kv.split('=', 1) for kv in labels.split(',') if kv))
    ctl = ThreadingServer(('127.0.0.1', 0), ControlHandler, st)
    if args.kubeconfig_out:
        write_kubeconfig(args.kubeconfig_out, st.url,
                         ca_file=os.path.join(os.path.abspath(args.tls), 'ca.crt') if args.tls else None,
                         token=args.token[0] if args.token else None)
    st.start()
    threading.Thread(target=ctl.serve_forever, kwargs={'poll_interval': 3600}, daemon=True).start()
    sys.stdout.write('%d %d\n' % (st.port, ctl.server_address[1]))
    sys.stdout.flush()
    done = threading.Event()
    import signal
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    stop_server(ctl, ctl.server_address[1])
    st.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
