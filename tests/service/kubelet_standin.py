# SPDX-License-Identifier: MIT
#
# A kubelet stand-in for the device plugin tests, written for them (no
# kubelet can run here), with Python grpcio: the part of kubelet's device
# manager a plugin talks to (k8s-node-facts.md, section 1).
#
# - It serves v1beta1.Registration on kubelet.sock in its directory and
#   refuses what kubelet refuses: a version other than v1beta1, a resource
#   name that is not an extended resource name, an endpoint that is not a
#   file name in the directory or does not answer.
# - On a registration it does what kubelet does (devicemanager's
#   Register): before it answers, it dials the plugin's socket and calls
#   GetDevicePluginOptions, so a plugin that waits for the answer before it
#   serves never gets one; then, from a thread, it keeps a ListAndWatch
#   stream open, recording every list with the time it came.
# - Every message the plugin sends is checked field by field as kubelet
#   reads it (IDs non-empty, at most 63 characters, unique; health exactly
#   Healthy or Unhealthy; NUMA node IDs not negative); a violation is kept
#   in violations, which the tests assert empty.
# - Given the API-server stand-in and its Node, it keeps the Node's
#   status.capacity and status.allocatable of each registered resource as
#   kubelet's node status does: capacity counts the devices of the last
#   list, allocatable the healthy ones; a stream that ends leaves the
#   capacity and makes every device unhealthy (allocatable "0").
# - restart() does what a starting kubelet does: deletes every socket in the
#   directory (the checkpoint file aside) and serves a new kubelet.sock.
#
# The stubs come from the bridge's own src/bridge/deviceplugin.proto,
# generated at test time with grpc_tools.protoc.

import os
import re
import shutil
import stat
import sys
import tempfile
import threading
import time
from concurrent import futures

import grpc

SRCDIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO = os.path.join(SRCDIR, 'src', 'bridge', 'deviceplugin.proto')
CHECKPOINT = 'kubelet_internal_checkpoint'
HEALTH = ('Healthy', 'Unhealthy')

_stubs = None


def stubs():
    '''(deviceplugin_pb2, deviceplugin_pb2_grpc), generated once per process.'''
    global _stubs
    if _stubs is None:
        from grpc_tools import protoc
        out = tempfile.mkdtemp(prefix='deviceplugin-stubs-')
        rc = protoc.main(['protoc', '-I' + os.path.dirname(PROTO), '--python_out=' + out,
                          '--grpc_python_out=' + out, PROTO])
        if rc != 0:
            raise RuntimeError('grpc_tools.protoc failed on %s (%d)' % (PROTO, rc))
        sys.path.insert(0, out)
        import deviceplugin_pb2
        import deviceplugin_pb2_grpc
        sys.path.remove(out)
        shutil.rmtree(out, ignore_errors=True)
        _stubs = (deviceplugin_pb2, deviceplugin_pb2_grpc)
    return _stubs


# kubelet: v1helper.IsExtendedResourceName, i.e. a qualified name with a
# domain that is not kubernetes.io.
_DNS_LABEL = r'[a-z0-9]([-a-z0-9]*[a-z0-9])?'
_QUALIFIED = re.compile(r'^(%s(\.%s)*)/([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$' % (_DNS_LABEL, _DNS_LABEL))


def is_extended_resource_name(name):
    m = _QUALIFIED.match(name)
    if not m or len(m.group(1)) > 253 or len(m.group(3)) > 63:
        return False
    domain = m.group(1)
    return domain != 'kubernetes.io' and not domain.endswith('.kubernetes.io')


class Plugin:
    '''kubelet's end of one registered plugin: its channel, its options and
    the lists its ListAndWatch stream sent.'''

    def __init__(self, kubelet, registration):
        self.kubelet = kubelet
        self.registration = registration
        self.resource = registration['resource_name']
        self.socket = os.path.join(kubelet.dir, registration['endpoint'])
        self.channel = grpc.insecure_channel('unix://' + self.socket)
        pb, pb_grpc = stubs()
        self.stub = pb_grpc.DevicePluginStub(self.channel)
        self.options = None
        self.lists = []          # (monotonic time, [device dicts])
        self.ended = None        # the stream's end: an exception, or 'eof'
        self.call = None

    def connect(self):
        '''In the Register call, as kubelet: the options, or an error.'''
        pb, _ = stubs()
        opts = self.stub.GetDevicePluginOptions(pb.Empty(), timeout=10)
        with self.kubelet.cond:
            self.options = {'pre_start_required': opts.pre_start_required,
                            'get_preferred_allocation_available': opts.get_preferred_allocation_available}
            self.kubelet.cond.notify_all()

    def run(self):
        pb, _ = stubs()
        k = self.kubelet
        try:
            self.call = self.stub.ListAndWatch(pb.Empty())
            for response in self.call:
                devices = k.check_list(self.resource, response)
                with k.cond:
                    self.lists.append((time.monotonic(), devices))
                    k.cond.notify_all()
                k.node_resources(self.resource, len(devices),
                                 sum(1 for d in devices if d['health'] == 'Healthy'))
            end = 'eof'
        except grpc.RpcError as e:
            end = e
        with k.cond:
            self.ended = end
            k.cond.notify_all()
        if k.plugins.get(self.resource) is self:
            k.node_resources(self.resource, None, 0)

    def close(self):
        if self.call is not None:
            self.call.cancel()
        self.channel.close()

    # What kubelet calls when a pod is admitted and its containers start.

    def allocate(self, containers):
        pb, _ = stubs()
        req = pb.AllocateRequest()
        for ids in containers:
            req.container_requests.add().devices_ids.extend(ids)
        return self.stub.Allocate(req, timeout=10)

    def preferred(self, available, must, size):
        pb, _ = stubs()
        req = pb.PreferredAllocationRequest()
        c = req.container_requests.add()
        c.available_deviceIDs.extend(available)
        c.must_include_deviceIDs.extend(must)
        c.allocation_size = size
        return self.stub.GetPreferredAllocation(req, timeout=10)

    def pre_start(self, ids):
        pb, _ = stubs()
        return self.stub.PreStartContainer(pb.PreStartContainerRequest(devices_ids=ids), timeout=10)


class KubeletStandin:
    def __init__(self, directory, api=None, node=None):
        self.dir = directory
        # The API-server stand-in and the Node whose status it keeps.
        self.api = api
        self.node = node
        self.capacity = {}           # resource -> devices in the last list
        self.cond = threading.Condition()
        self.registrations = []      # every Register call, accepted or not
        self.plugins = {}            # resource -> Plugin (the latest registration)
        self.old_plugins = []
        self.violations = []
        self.server = None
        self.generation = 0          # one per start()
        self.stopped_generation = 0  # the last generation stop() ended

    # -- checks

    def violation(self, what):
        with self.cond:
            self.violations.append(what)
            self.cond.notify_all()

    def check_list(self, resource, response):
        '''A ListAndWatchResponse as kubelet reads it; returns it as dicts.'''
        devices, ids = [], set()
        for d in response.devices:
            where = '%s device %r' % (resource, d.ID)
            if not d.ID or len(d.ID) > 63:
                self.violation('%s: ID empty or over 63 characters' % where)
            if d.ID in ids:
                self.violation('%s: ID listed twice' % where)
            ids.add(d.ID)
            if d.health not in HEALTH:
                self.violation('%s: health %r is not Healthy or Unhealthy' % (where, d.health))
            numa = None
            if d.HasField('topology'):
                numa = [n.ID for n in d.topology.nodes]
                if any(n < 0 for n in numa):
                    self.violation('%s: negative NUMA node %r' % (where, numa))
            devices.append({'ID': d.ID, 'health': d.health, 'numa': numa})
        return devices

    def node_resources(self, resource, total, healthy):
        '''Patches the Node's status with the resource's counts, as kubelet's
        node status update does (total None: the last capacity stays).'''
        if self.api is None:
            return
        import json
        import kube_standin
        with self.cond:
            if total is not None:
                self.capacity[resource] = total
            status = {'capacity': {resource: str(self.capacity.get(resource, 0))},
                      'allocatable': {resource: str(healthy)}}
        self.api.store.patch(kube_standin.RESOURCES['nodes'], None, self.node,
                             'application/strategic-merge-patch+json', json.dumps({'status': status}).encode())

    # -- Registration service

    def Register(self, request, context):
        reg = {'version': request.version, 'endpoint': request.endpoint,
               'resource_name': request.resource_name,
               'has_options': request.HasField('options'),
               'options': {'pre_start_required': request.options.pre_start_required,
                           'get_preferred_allocation_available':
                               request.options.get_preferred_allocation_available},
               'at': time.monotonic(), 'generation': self.generation}
        problem = None
        if request.version != 'v1beta1':
            problem = 'unsupported version %r' % request.version
        elif not is_extended_resource_name(request.resource_name):
            problem = 'invalid resource name %r' % request.resource_name
        elif not request.endpoint or '/' in request.endpoint:
            problem = 'endpoint %r is not a file name' % request.endpoint
        else:
            try:
                st = os.stat(os.path.join(self.dir, request.endpoint))
                if not stat.S_ISSOCK(st.st_mode):
                    problem = 'endpoint %r is not a socket' % request.endpoint
            except FileNotFoundError:
                problem = 'endpoint %r does not exist' % request.endpoint
        reg['problem'] = problem
        with self.cond:
            self.registrations.append(reg)
            self.cond.notify_all()
        if problem:
            self.violation('Register: ' + problem)
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        # kubelet dials the plugin and asks for its options before it
        # answers; ListAndWatch runs in a goroutine of its own.
        plugin = Plugin(self, reg)
        try:
            plugin.connect()
        except grpc.RpcError as e:
            plugin.close()
            # A kubelet that stops while it registers a plugin reports
            # nothing: it is gone, and the plugin registers with the next.
            if reg['generation'] > self.stopped_generation:
                self.violation('Register: the plugin did not answer GetDevicePluginOptions: %s' % e)
            context.abort(grpc.StatusCode.UNAVAILABLE, 'cannot connect to the plugin')
        with self.cond:
            old = self.plugins.get(request.resource_name)
            if old is not None:
                self.old_plugins.append(old)
            self.plugins[request.resource_name] = plugin
        threading.Thread(target=plugin.run, daemon=True).start()
        pb, _ = stubs()
        return pb.Empty()

    # -- life

    def start(self):
        _, pb_grpc = stubs()
        self.generation += 1
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        servicer = type('Registration', (pb_grpc.RegistrationServicer,), {'Register': lambda s, r, c: self.Register(r, c)})()
        pb_grpc.add_RegistrationServicer_to_server(servicer, self.server)
        path = os.path.join(self.dir, 'kubelet.sock')
        if self.server.add_insecure_port('unix:' + path) == 0:
            raise RuntimeError('cannot serve on ' + path)
        self.server.start()

    def stop(self):
        self.stopped_generation = self.generation
        if self.server is not None:
            self.server.stop(None).wait()
            self.server = None
        with self.cond:
            plugins = list(self.plugins.values()) + self.old_plugins
            self.plugins = {}
            self.old_plugins = []
        for p in plugins:
            p.close()

    def restart(self):
        '''As a starting kubelet: every socket in the directory goes (the
        checkpoint stays), then a new kubelet.sock.'''
        self.stop()
        for name in os.listdir(self.dir):
            path = os.path.join(self.dir, name)
            if name != CHECKPOINT and stat.S_ISSOCK(os.lstat(path).st_mode):
                os.unlink(path)
        self.start()

    # -- waiting

    def wait(self, pred, timeout, what, alive=lambda: True):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                v = pred()
                if v:
                    return v
                if not alive():
                    raise RuntimeError('a process under test exited while waiting for %s' % what)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError('timed out after %g s waiting for %s' % (timeout, what))
                self.cond.wait(left)

    def poke(self):
        with self.cond:
            self.cond.notify_all()
