# SPDX-License-Identifier: MIT
'''What the kube-apiserver stand-in (kube_standin.py) does with the kinds
beyond nodes, namespaces and pods: the validation, defaults and printer
columns the real server has for core/v1 Events, ServiceAccounts, Secrets
and ConfigMaps, apps/v1 DaemonSets, rbac.authorization.k8s.io/v1
ClusterRoles, ClusterRoleBindings, Roles and RoleBindings, and
node.k8s.io/v1 RuntimeClasses, the Pod Security admission of pod templates, and
which nodes a DaemonSet's pods fit.  Plain functions over JSON objects; the
stand-in turns field errors into its 422 Status.

Sources: kubernetes pkg/apis/core/validation/events.go (legacy rules for
core/v1), pkg/apis/apps/validation, pkg/apis/rbac/validation,
pkg/apis/{core,apps}/v1/defaults.go, pkg/printers/internalversion,
k8s.io/pod-security-admission/policy (the checks of the baseline and
restricted levels; their messages), k8s.io/component-helpers scheduling
(node selector terms, tolerations).  Only the parts the tests and the
bridge's manifests reach are modelled; what a kind has below the fields
listed here is taken as it comes.'''

import datetime
import re

# -------------------------------------------------------------- field errors


class FieldError:
    '''k8s.io/apimachinery/pkg/util/validation/field.Error.'''

    def __init__(self, kind, field, value=None, detail=''):
        self.kind = kind            # 'Invalid', 'Required', 'Forbidden', 'NotSupported', 'NotFound'
        self.field = field
        self.value = value
        self.detail = detail

    @property
    def reason(self):
        return {'Invalid': 'FieldValueInvalid', 'Required': 'FieldValueRequired',
                'Forbidden': 'FieldValueForbidden', 'NotSupported': 'FieldValueNotSupported',
                'NotFound': 'FieldValueNotFound'}[self.kind]

    def body(self):
        '''The text after "field: ", as ErrorBody() prints it.'''
        if self.kind == 'Required':
            s = 'Required value'
        elif self.kind == 'Forbidden':
            s = 'Forbidden'
        elif self.kind == 'NotFound':
            s = 'Not found: %s' % go_value(self.value)
        elif self.kind == 'NotSupported':
            s = 'Unsupported value: %s' % go_quote(self.value)
        else:
            s = 'Invalid value: %s' % go_value(self.value)
        return s + (': ' + self.detail if self.detail else '')

    def __str__(self):
        return '%s: %s' % (self.field, self.body())


def go_quote(s):
    return '"%s"' % str(s).replace('\\', '\\\\').replace('"', '\\"')


def go_value(v):
    if isinstance(v, str):
        return go_quote(v)
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if v is None:
        return '"null"'
    return str(v)


def invalid_message(kind, name, errors):
    '''The Status message of a 422: "Kind "name" is invalid: ..." with one
    error, "[a, b]" with more.'''
    if len(errors) == 1:
        return '%s "%s" is invalid: %s' % (kind, name, errors[0])
    return '%s "%s" is invalid: [%s]' % (kind, name, ', '.join(str(e) for e in errors))


# -------------------------------------------------------------- names and times

DNS1123_LABEL = r'[a-z0-9]([-a-z0-9]*[a-z0-9])?'
DNS1123_SUBDOMAIN = r'%s(\.%s)*' % (DNS1123_LABEL, DNS1123_LABEL)
QUALIFIED_NAME = r'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'


def dns1123_subdomain_errors(value):
    if len(value) > 253:
        return ['must be no more than 253 characters']
    if not re.fullmatch(DNS1123_SUBDOMAIN, value):
        return ["a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
                "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
                "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"]
    return []


def qualified_name_errors(value):
    prefix, _, name = value.rpartition('/')
    out = []
    if prefix:
        out += ['prefix part ' + e for e in dns1123_subdomain_errors(prefix)]
    if not name:
        out.append('name part must be non-empty')
    elif len(name) > 63:
        out.append('name part must be no more than 63 characters')
    elif not re.fullmatch(QUALIFIED_NAME, name):
        out.append("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
                   "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
                   "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
    return out


def path_segment_errors(name):
    '''ValidatePathSegmentName: what every object's name must pass.'''
    if name in ('.', '..'):
        return ['may not be %r' % name]
    return ['may not contain %r' % c for c in ('/', '%') if c in name]


RFC3339 = re.compile(r'\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})')


def parse_time(value):
    '''metav1.Time in JSON: RFC 3339, or null.  None when it is not one.'''
    if value is None:
        return None
    if not isinstance(value, str) or not RFC3339.fullmatch(value):
        raise ValueError('parsing time %s as "2006-01-02T15:04:05Z07:00": cannot parse %s as "2006"'
                         % (go_quote(value), go_quote(value)))
    v = value.replace('Z', '+00:00')
    v = re.sub(r'\.\d+', '', v)
    return datetime.datetime.fromisoformat(v)


# -------------------------------------------------------------- types of fields

def type_errors(kind, obj, types):
    '''The errors of Go's JSON decoding into the kind's struct, for the
    top-level fields named in types ({field: 'string'|'int'|'object'|'array'|'time'}):
    the real server answers them with 400 before validation.'''
    go = {'string': 'string', 'int': 'int32', 'object': 'struct', 'array': 'slice', 'time': 'v1.Time',
          'bool': 'bool'}
    js = {str: 'string', int: 'number', float: 'number', bool: 'bool', dict: 'object', list: 'array'}
    for field, t in types.items():
        if field not in obj or obj[field] is None:
            continue
        v = obj[field]
        ok = {'string': isinstance(v, str), 'int': isinstance(v, int) and not isinstance(v, bool),
              'object': isinstance(v, dict), 'array': isinstance(v, list), 'time': isinstance(v, str),
              'bool': isinstance(v, bool)}[t]
        if not ok:
            return ('%s in version "v1" cannot be handled as a %s: json: cannot unmarshal %s into Go struct '
                    'field %s.%s of type %s' % (kind, kind, js.get(type(v), 'value'), kind, field, go[t]))
        if t == 'time':
            try:
                parse_time(v)
            except ValueError as e:
                return '%s in version "v1" cannot be handled as a %s: %s' % (kind, kind, e)
    return None


# -------------------------------------------------------------- Events (core/v1)

EVENT_TYPES = {'action': 'string', 'count': 'int', 'eventTime': 'string', 'firstTimestamp': 'time',
               'involvedObject': 'object', 'lastTimestamp': 'time', 'message': 'string', 'reason': 'string',
               'related': 'object', 'reportingComponent': 'string', 'reportingInstance': 'string',
               'series': 'object', 'source': 'object', 'type': 'string'}


def validate_event(ev, namespace):
    '''legacyValidateEvent: the rules for an Event created or updated
    through core/v1 (events.k8s.io/v1 adds the strict ones).'''
    errs = []
    inv = ev.get('involvedObject') or {}
    inv_ns = inv.get('namespace') or ''
    if not ev.get('eventTime'):
        if not inv_ns:
            # A cluster-scoped object's events go to "default" (or nowhere).
            if namespace not in ('', 'default'):
                errs.append(FieldError('Invalid', 'involvedObject.namespace', inv_ns,
                                       'does not match event.namespace'))
        elif namespace != inv_ns:
            errs.append(FieldError('Invalid', 'involvedObject.namespace', inv_ns, 'does not match event.namespace'))
    else:
        if not inv_ns and namespace not in ('default', 'kube-system'):
            errs.append(FieldError('Invalid', 'involvedObject.namespace', inv_ns, 'does not match event.namespace'))
        rc = ev.get('reportingComponent') or ''
        if not rc:
            errs.append(FieldError('Required', 'reportingController'))
        for m in qualified_name_errors(rc) if rc else []:
            errs.append(FieldError('Invalid', 'reportingController', rc, m))
        ri = ev.get('reportingInstance') or ''
        if not ri:
            errs.append(FieldError('Required', 'reportingInstance'))
        if len(ri) > 128:
            errs.append(FieldError('Invalid', 'reportingInstance', '', 'can have at most 128 characters'))
        action = ev.get('action') or ''
        if not action:
            errs.append(FieldError('Required', 'action'))
        if len(action) > 128:
            errs.append(FieldError('Invalid', 'action', '', 'can have at most 128 characters'))
        reason = ev.get('reason') or ''
        if not reason:
            errs.append(FieldError('Required', 'reason'))
        if len(reason) > 128:
            errs.append(FieldError('Invalid', 'reason', '', 'can have at most 128 characters'))
        if len(ev.get('message') or '') > 1024:
            errs.append(FieldError('Invalid', 'message', '', 'can have at most 1024 characters'))
    for m in dns1123_subdomain_errors(namespace):
        errs.append(FieldError('Invalid', 'namespace', namespace, m))
    return errs


def event_source(ev):
    '''formatEventSource: "component, host", else the reporting pair.'''
    src = ev.get('source') or {}
    component = src.get('component') or ev.get('reportingComponent') or ''
    host = src.get('host') or ev.get('reportingInstance') or ''
    return component + (', ' + host if host else '')


# -------------------------------------------------------------- DaemonSets (apps/v1)

def default_pod_spec(spec):
    '''SetDefaults_PodSpec and the container defaults the tests can see.'''
    spec.setdefault('restartPolicy', 'Always')
    spec.setdefault('terminationGracePeriodSeconds', 30)
    spec.setdefault('dnsPolicy', 'ClusterFirst')
    spec.setdefault('securityContext', {})
    spec.setdefault('schedulerName', 'default-scheduler')
    for c in spec.get('initContainers', []) + spec.get('containers', []):
        if not isinstance(c, dict):
            continue
        image = c.get('image') or ''
        tag = image.rsplit('/', 1)[-1]
        latest = '@' not in image and (':' not in tag or tag.endswith(':latest'))
        c.setdefault('imagePullPolicy', 'Always' if latest else 'IfNotPresent')
        c.setdefault('terminationMessagePath', '/dev/termination-log')
        c.setdefault('terminationMessagePolicy', 'File')
        c.setdefault('resources', {})
        for probe in ('livenessProbe', 'readinessProbe', 'startupProbe'):
            p = c.get(probe)
            if isinstance(p, dict):
                p.setdefault('timeoutSeconds', 1)
                p.setdefault('periodSeconds', 10)
                p.setdefault('successThreshold', 1)
                p.setdefault('failureThreshold', 3)
    for v in spec.get('volumes', []):
        if isinstance(v, dict) and isinstance(v.get('hostPath'), dict):
            v['hostPath'].setdefault('type', '')
    return spec


def default_daemonset(ds):
    spec = ds.setdefault('spec', {})
    strategy = spec.setdefault('updateStrategy', {})
    strategy.setdefault('type', 'RollingUpdate')
    if strategy['type'] == 'RollingUpdate':
        ru = strategy.setdefault('rollingUpdate', {})
        ru.setdefault('maxUnavailable', 1)
        ru.setdefault('maxSurge', 0)
    spec.setdefault('revisionHistoryLimit', 10)
    template = spec.get('template')
    if isinstance(template, dict) and isinstance(template.get('spec'), dict):
        default_pod_spec(template['spec'])
    return ds


def _int_or_percent(v):
    if isinstance(v, int) and not isinstance(v, bool):
        return v, False
    if isinstance(v, str) and re.fullmatch(r'\d+%', v):
        return int(v[:-1]), True
    return None, False


def validate_daemonset(ds):
    errs = []
    spec = ds.get('spec') or {}
    selector = spec.get('selector')
    template = spec.get('template') or {}
    tlabels = (template.get('metadata') or {}).get('labels') or {}
    if not selector:
        errs.append(FieldError('Required', 'spec.selector'))
    else:
        ml = selector.get('matchLabels') or {}
        if not ml and not selector.get('matchExpressions'):
            errs.append(FieldError('Invalid', 'spec.selector', 'empty',
                                   'empty selector is invalid for daemonset'))
        elif any(tlabels.get(k) != v for k, v in ml.items()):
            errs.append(FieldError('Invalid', 'spec.template.metadata.labels',
                                   'map[string]string{%s}' % ', '.join('"%s":"%s"' % kv for kv in sorted(tlabels.items())),
                                   '`selector` does not match template `labels`'))
    pspec = template.get('spec') or {}
    if pspec.get('restartPolicy', 'Always') != 'Always':
        errs.append(FieldError('NotSupported', 'spec.template.spec.restartPolicy', pspec.get('restartPolicy'),
                               'supported values: "Always"'))
    containers = pspec.get('containers') or []
    if not containers:
        errs.append(FieldError('Required', 'spec.template.spec.containers'))
    for group in ('initContainers', 'containers'):
        names = set()
        for i, c in enumerate(pspec.get(group) or []):
            path = 'spec.template.spec.%s[%d]' % (group, i)
            if not c.get('name'):
                errs.append(FieldError('Required', path + '.name'))
            elif c['name'] in names:
                errs.append(FieldError('Invalid', path + '.name', c['name'], 'Duplicate value'))
            names.add(c.get('name'))
            if not c.get('image'):
                errs.append(FieldError('Required', path + '.image'))
    vol_names = [v.get('name') for v in pspec.get('volumes') or []]
    for group in ('initContainers', 'containers'):
        for i, c in enumerate(pspec.get(group) or []):
            for j, m in enumerate(c.get('volumeMounts') or []):
                if m.get('name') not in vol_names:
                    errs.append(FieldError('NotFound',
                                           'spec.template.spec.%s[%d].volumeMounts[%d].name' % (group, i, j),
                                           m.get('name')))
    strategy = spec.get('updateStrategy') or {}
    if strategy.get('type') not in ('RollingUpdate', 'OnDelete'):
        errs.append(FieldError('NotSupported', 'spec.updateStrategy.type', strategy.get('type'),
                               'supported values: "OnDelete", "RollingUpdate"'))
    ru = strategy.get('rollingUpdate') or {}
    if strategy.get('type') == 'RollingUpdate':
        mu, _ = _int_or_percent(ru.get('maxUnavailable', 1))
        ms, _ = _int_or_percent(ru.get('maxSurge', 0))
        if mu is None:
            errs.append(FieldError('Invalid', 'spec.updateStrategy.rollingUpdate.maxUnavailable',
                                   ru.get('maxUnavailable'), 'must be an integer or percentage (e.g \'5%\')'))
        elif mu == 0 and (ms or 0) == 0:
            errs.append(FieldError('Invalid', 'spec.updateStrategy.rollingUpdate.maxUnavailable', 0,
                                   'may not be 0 when `maxSurge` is 0'))
    return errs


# -------------------------------------------------------------- RBAC

def validate_cluster_role(role):
    errs = []
    for i, rule in enumerate(role.get('rules') or []):
        path = 'rules[%d]' % i
        if not rule.get('verbs'):
            errs.append(FieldError('Required', path + '.verbs', None, 'verbs must contain at least one value'))
        if rule.get('nonResourceURLs'):
            if rule.get('resources') or rule.get('apiGroups'):
                errs.append(FieldError('Invalid', path + '.nonResourceURLs', rule['nonResourceURLs'],
                                       'rules cannot apply to both regular resources and non-resource URLs'))
        elif not rule.get('apiGroups'):
            errs.append(FieldError('Required', path + '.apiGroups', None,
                                   'resource rules must supply at least one api group'))
        elif not rule.get('resources'):
            errs.append(FieldError('Required', path + '.resources', None,
                                   'resource rules must supply at least one resource'))
    return errs


def validate_cluster_role_binding(crb, old=None):
    errs = []
    ref = crb.get('roleRef') or {}
    if ref.get('apiGroup') != 'rbac.authorization.k8s.io':
        errs.append(FieldError('NotSupported', 'roleRef.apiGroup', ref.get('apiGroup', ''),
                               'supported values: "rbac.authorization.k8s.io"'))
    if ref.get('kind') != 'ClusterRole':
        errs.append(FieldError('NotSupported', 'roleRef.kind', ref.get('kind', ''),
                               'supported values: "ClusterRole"'))
    if not ref.get('name'):
        errs.append(FieldError('Required', 'roleRef.name'))
    if old is not None and old.get('roleRef') != crb.get('roleRef'):
        errs.append(FieldError('Invalid', 'roleRef', ref, 'cannot change roleRef'))
    for i, s in enumerate(crb.get('subjects') or []):
        path = 'subjects[%d]' % i
        if s.get('kind') == 'ServiceAccount':
            if not s.get('name'):
                errs.append(FieldError('Required', path + '.name'))
            if not s.get('namespace'):
                errs.append(FieldError('Required', path + '.namespace'))
        elif s.get('kind') not in ('User', 'Group'):
            errs.append(FieldError('NotSupported', path + '.kind', s.get('kind', ''),
                                   'supported values: "ServiceAccount", "User", "Group"'))
    return errs


def validate_role_binding(rb, old=None):
    '''A RoleBinding: as a ClusterRoleBinding, but its roleRef may name a
    Role of its namespace.'''
    def as_cluster(obj):
        ref = dict(obj.get('roleRef') or {})
        if ref.get('kind') == 'Role':
            ref['kind'] = 'ClusterRole'
        return dict(obj, roleRef=ref)
    errs = validate_cluster_role_binding(as_cluster(rb), None if old is None else as_cluster(old))
    for e in errs:
        if e.field == 'roleRef.kind':
            e.detail = 'supported values: "ClusterRole", "Role"'
    # A ServiceAccount subject of a namespaced binding may leave out its
    # namespace (the binding's).
    return [e for e in errs if not (e.kind == 'Required' and e.field.endswith('.namespace'))]


# -------------------------------------------------------------- Secrets, ConfigMaps (core/v1)

CONFIG_KEY = r'[-._a-zA-Z0-9]+'
# What a Secret or a ConfigMap may hold, all keys together (MaxSecretSize).
MAX_DATA_BYTES = 1024 * 1024
SECRET_TYPES = {'data': 'object', 'immutable': 'bool', 'stringData': 'object', 'type': 'string'}
CONFIGMAP_TYPES = {'binaryData': 'object', 'data': 'object', 'immutable': 'bool'}
DOCKER_CONFIG_JSON = 'kubernetes.io/dockerconfigjson'


def _key_errors(path, key):
    if len(key) > 253:
        return [FieldError('Invalid', path, key, 'must be no more than 253 characters')]
    if not re.fullmatch(CONFIG_KEY, key):
        return [FieldError('Invalid', path, key,
                           "a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
                           "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
                           "'[-._a-zA-Z0-9]+')")]
    return []


def secret_decode_error(secret):
    '''Go's decoding of data ([]byte values, base64): the message of the
    400 the server answers for a value that is not base64, else None.'''
    import base64
    import binascii
    for v in (secret.get('data') or {}).values():
        if v is None:
            continue
        if not isinstance(v, str):
            return ('Secret in version "v1" cannot be handled as a Secret: json: cannot unmarshal %s into Go '
                    'struct field Secret.data of type []uint8' % ('number' if isinstance(v, (int, float)) else 'object'))
        try:
            base64.b64decode(v, validate=True)
        except (binascii.Error, ValueError):
            return 'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte %d' % (
                max(0, len(v.rstrip('=')) - 1))
    return None


def prepare_secret(new, old):
    '''What the server does before validation: stringData goes into data
    (base64), and the type defaults to Opaque.'''
    import base64
    string_data = new.pop('stringData', None) or {}
    if string_data:
        data = dict(new.get('data') or {})
        for k, v in string_data.items():
            data[k] = base64.b64encode(str(v).encode()).decode()
        new['data'] = data
    if not new.get('type'):
        new['type'] = 'Opaque'


def validate_secret(secret, old=None):
    import base64
    import json as _json
    errs = []
    data = secret.get('data') or {}
    size = 0
    for k, v in data.items():
        errs += _key_errors('data[%s]' % k, k)
        size += len(base64.b64decode(v or ''))
    if size > MAX_DATA_BYTES:
        errs.append(FieldError('Invalid', 'data', '', 'Too long: must have at most %d bytes' % MAX_DATA_BYTES))
    if secret.get('type') == DOCKER_CONFIG_JSON:
        key = '.dockerconfigjson'
        if key not in data:
            errs.append(FieldError('Required', 'data[%s]' % key))
        else:
            try:
                _json.loads(base64.b64decode(data[key] or ''))
            except ValueError as e:
                errs.append(FieldError('Invalid', 'data[%s]' % key, '<secret contents redacted>', str(e)))
    if old is not None:
        if secret.get('type') != old.get('type'):
            errs.append(FieldError('Invalid', 'type', secret.get('type'), 'field is immutable'))
        if old.get('immutable') and secret.get('data') != old.get('data'):
            errs.append(FieldError('Forbidden', 'data', None, 'field is immutable when `immutable` is set'))
    return errs


def validate_configmap(cm, old=None):
    errs = []
    size = 0
    for field in ('data', 'binaryData'):
        for k, v in (cm.get(field) or {}).items():
            errs += _key_errors('%s[%s]' % (field, k), k)
            if field == 'data' and not isinstance(v, str):
                errs.append(FieldError('Invalid', 'data[%s]' % k, v, 'must be a string'))
            size += len(v or '')
    if size > MAX_DATA_BYTES:
        errs.append(FieldError('Invalid', '', '', 'Too long: must have at most %d bytes' % MAX_DATA_BYTES))
    if old is not None and old.get('immutable') and (cm.get('data'), cm.get('binaryData')) != (
            old.get('data'), old.get('binaryData')):
        errs.append(FieldError('Forbidden', 'data', None, 'field is immutable when `immutable` is set'))
    return errs


# -------------------------------------------------------------- RuntimeClasses (node.k8s.io/v1)

RUNTIMECLASS_TYPES = {'handler': 'string', 'overhead': 'object', 'scheduling': 'object'}
LABEL_VALUE = r'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?'


def validate_runtime_class(rc, old=None):
    errs = []
    handler = rc.get('handler')
    if not handler:
        errs.append(FieldError('Required', 'handler'))
    elif len(handler) > 63 or not re.fullmatch(DNS1123_LABEL, handler):
        errs.append(FieldError('Invalid', 'handler', handler,
                               "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
                               "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
                               "'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"))
    if old is not None and handler != old.get('handler'):
        errs.append(FieldError('Invalid', 'handler', handler, 'field is immutable'))
    selector = ((rc.get('scheduling') or {}).get('nodeSelector')) or {}
    for k, v in selector.items():
        errs += [FieldError('Invalid', 'scheduling.nodeSelector', k, m) for m in qualified_name_errors(k)]
        if not isinstance(v, str) or len(v) > 63 or not re.fullmatch(LABEL_VALUE, v):
            errs.append(FieldError('Invalid', 'scheduling.nodeSelector', v,
                                   "a valid label must be an empty string or consist of alphanumeric characters, "
                                   "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
                                   "'MyValue',  or 'my_value',  or '12345', regex used for validation is "
                                   "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"))
    return errs


# -------------------------------------------------------------- Pod Security admission

POD_SECURITY_LEVELS = ('privileged', 'baseline', 'restricted')
BASELINE_CAPABILITIES = {'AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD',
                         'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT'}
RESTRICTED_VOLUMES = {'configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim',
                      'projected', 'secret'}


def pod_security_level(ns_labels, mode, default_level):
    '''The level of a mode (enforce, warn, audit) for a namespace: its
    label, else the cluster's default.'''
    v = (ns_labels or {}).get('pod-security.kubernetes.io/' + mode)
    return v if v in POD_SECURITY_LEVELS else default_level


def pod_security_warn_level(ns_labels, default_level):
    '''The warn level (PolicyToEvaluate): the label, else the default,
    raised to an enforce level set on the namespace when that is stricter.'''
    labels = ns_labels or {}
    warn = labels.get('pod-security.kubernetes.io/warn')
    if warn in POD_SECURITY_LEVELS:
        return warn
    enforce = labels.get('pod-security.kubernetes.io/enforce')
    if enforce in POD_SECURITY_LEVELS and \
            POD_SECURITY_LEVELS.index(enforce) > POD_SECURITY_LEVELS.index(default_level):
        return enforce
    return default_level


def _plural(word, items):
    return '%s%s %s' % (word, '' if len(items) == 1 else 's', ', '.join('"%s"' % i for i in items))


def pod_security_violations(level, spec):
    '''The checks of the level, each as "name (detail)", in the order the
    admission lists them.'''
    if level == 'privileged':
        return []
    out = []
    containers = list(spec.get('initContainers') or []) + list(spec.get('containers') or [])
    psc = spec.get('securityContext') or {}

    def sc(c):
        return c.get('securityContext') or {}

    # baseline
    hostns = ['%s=true' % k for k in ('hostNetwork', 'hostPID', 'hostIPC') if spec.get(k)]
    if hostns:
        out.append('host namespaces (%s)' % ', '.join(hostns))
    priv = [c['name'] for c in containers if sc(c).get('privileged')]
    if priv:
        out.append('privileged (%s must not set securityContext.privileged=true)' % _plural('container', priv))
    caps = []
    for c in containers:
        extra = [a for a in (sc(c).get('capabilities') or {}).get('add') or [] if a not in BASELINE_CAPABILITIES]
        if extra:
            caps.append('container "%s" must not include %s in securityContext.capabilities.add'
                        % (c['name'], ', '.join('"%s"' % a for a in extra)))
    if caps:
        out.append('non-default capabilities (%s)' % '; '.join(caps))
    hostpath = [v['name'] for v in spec.get('volumes') or [] if 'hostPath' in v]
    if hostpath:
        out.append('hostPath volumes (%s)' % _plural('volume', hostpath))
    ports = ['container "%s" uses hostPort %s' % (c['name'], p['hostPort'])
             for c in containers for p in c.get('ports') or [] if p.get('hostPort')]
    if ports:
        out.append('hostPort (%s)' % ', '.join(ports))
    if level == 'baseline':
        return out

    # restricted
    restricted_vols = ['volume "%s" uses restricted volume type "%s"' % (v['name'], t)
                       for v in spec.get('volumes') or []
                       for t in v if t != 'name' and t not in RESTRICTED_VOLUMES]
    if restricted_vols:
        out.append('restricted volume types (%s)' % ', '.join(restricted_vols))
    ape = [c['name'] for c in containers if sc(c).get('allowPrivilegeEscalation') is not False]
    if ape:
        out.append('allowPrivilegeEscalation != false (%s must set '
                   'securityContext.allowPrivilegeEscalation=false)' % _plural('container', ape))
    nodrop = [c['name'] for c in containers
              if 'ALL' not in ((sc(c).get('capabilities') or {}).get('drop') or [])]
    if nodrop:
        out.append('unrestricted capabilities (%s must set securityContext.capabilities.drop=["ALL"])'
                   % _plural('container', nodrop))
    explicit_false = [c['name'] for c in containers if sc(c).get('runAsNonRoot') is False]
    unset = [c['name'] for c in containers
             if sc(c).get('runAsNonRoot') is None and psc.get('runAsNonRoot') is not True]
    if psc.get('runAsNonRoot') is False or explicit_false:
        who = (['pod'] if psc.get('runAsNonRoot') is False else []) + ['container "%s"' % n for n in explicit_false]
        out.append('runAsNonRoot != true (%s must not set securityContext.runAsNonRoot=false)' % ' and '.join(who))
    elif unset:
        out.append('runAsNonRoot != true (pod or %s must set securityContext.runAsNonRoot=true)'
                   % _plural('container', unset))
    root = (['pod'] if psc.get('runAsUser') == 0 else []) + \
        ['container "%s"' % c['name'] for c in containers if sc(c).get('runAsUser') == 0]
    if root:
        out.append('runAsUser=0 (%s must not set runAsUser=0)' % ' and '.join(root))
    pod_seccomp = (psc.get('seccompProfile') or {}).get('type')
    noseccomp = [c['name'] for c in containers
                 if ((sc(c).get('seccompProfile') or {}).get('type') or pod_seccomp) not in ('RuntimeDefault',
                                                                                              'Localhost')]
    if noseccomp:
        out.append('seccompProfile (pod or %s must set securityContext.seccompProfile.type to "RuntimeDefault" '
                   'or "Localhost")' % _plural('container', noseccomp))
    return out


def pod_security_warning(level, spec):
    '''The Warning header text of a pod template in a namespace at level,
    or None.'''
    v = pod_security_violations(level, spec)
    if not v:
        return None
    return 'would violate PodSecurity "%s:latest": %s' % (level, ', '.join(v))


# -------------------------------------------------------------- scheduling

DAEMONSET_TOLERATIONS = [
    {'key': 'node.kubernetes.io/not-ready', 'operator': 'Exists', 'effect': 'NoExecute'},
    {'key': 'node.kubernetes.io/unreachable', 'operator': 'Exists', 'effect': 'NoExecute'},
    {'key': 'node.kubernetes.io/disk-pressure', 'operator': 'Exists', 'effect': 'NoSchedule'},
    {'key': 'node.kubernetes.io/memory-pressure', 'operator': 'Exists', 'effect': 'NoSchedule'},
    {'key': 'node.kubernetes.io/pid-pressure', 'operator': 'Exists', 'effect': 'NoSchedule'},
    {'key': 'node.kubernetes.io/unschedulable', 'operator': 'Exists', 'effect': 'NoSchedule'},
]


def _requirement_matches(req, labels):
    key, op, values = req.get('key'), req.get('operator'), req.get('values') or []
    has = key in labels
    v = labels.get(key)
    if op == 'In':
        return has and v in values
    if op == 'NotIn':
        return not has or v not in values
    if op == 'Exists':
        return has
    if op == 'DoesNotExist':
        return not has
    if op in ('Gt', 'Lt'):
        try:
            a, b = int(v), int(values[0])
        except (TypeError, ValueError, IndexError):
            return False
        return a > b if op == 'Gt' else a < b
    return False


def _term_matches(term, node):
    labels = node['metadata'].get('labels', {})
    fields = {'metadata.name': node['metadata']['name']}
    exprs = term.get('matchExpressions') or []
    fexprs = term.get('matchFields') or []
    if not exprs and not fexprs:
        return False        # an empty term matches nothing
    return all(_requirement_matches(r, labels) for r in exprs) and \
        all(_requirement_matches(r, fields) for r in fexprs)


def _tolerated(taint, tolerations):
    for t in tolerations:
        if t.get('effect') and t['effect'] != taint.get('effect'):
            continue
        if t.get('operator') == 'Exists':
            if not t.get('key') or t['key'] == taint.get('key'):
                return True
        elif t.get('key') == taint.get('key') and (t.get('value') or '') == (taint.get('value') or ''):
            return True
    return False


def pod_fits_node(spec, node):
    '''Whether the DaemonSet controller puts a pod of this spec on node:
    nodeSelector, required node affinity, and the NoSchedule/NoExecute
    taints against the tolerations (with the ones it adds itself).'''
    labels = node['metadata'].get('labels', {})
    if any(labels.get(k) != v for k, v in (spec.get('nodeSelector') or {}).items()):
        return False
    required = (((spec.get('affinity') or {}).get('nodeAffinity') or {})
                .get('requiredDuringSchedulingIgnoredDuringExecution'))
    if required is not None:
        if not any(_term_matches(t, node) for t in required.get('nodeSelectorTerms') or []):
            return False
    tolerations = list(spec.get('tolerations') or []) + DAEMONSET_TOLERATIONS
    for taint in (node.get('spec') or {}).get('taints') or []:
        if taint.get('effect') in ('NoSchedule', 'NoExecute') and not _tolerated(taint, tolerations):
            return False
    return True


def format_labels(m):
    '''labels.FormatLabels: "a=b,c=d", sorted; "<none>" when empty.'''
    return ','.join('%s=%s' % kv for kv in sorted((m or {}).items())) or '<none>'


def format_selector(sel):
    '''metav1.FormatLabelSelector.'''
    if not sel:
        return '<none>'
    parts = ['%s=%s' % kv for kv in sorted((sel.get('matchLabels') or {}).items())]
    for e in sel.get('matchExpressions') or []:
        op = e.get('operator')
        if op in ('In', 'NotIn'):
            parts.append('%s %s (%s)' % (e['key'], op.lower(), ','.join(e.get('values') or [])))
        elif op == 'Exists':
            parts.append(e['key'])
        elif op == 'DoesNotExist':
            parts.append('!' + e['key'])
    return ','.join(parts) or '<none>'
