# SPDX-License-Identifier: MIT
#
# One method call on the test bus, run by the service tests as another user
# (setpriv): the bus address comes from DBUS_SYSTEM_BUS_ADDRESS, the call
# from the command line, and the outcome goes to stdout as one JSON object
# {"error": NAME|null, "message": ..., "seconds": ...}.  The arguments are a
# Python expression, so a test can ask for a 4 MB array without putting it
# on a command line (GLib is there for variants):
#
#   bus_client.py PATH IFACE METHOD SIGNATURE ARGS_EXPR [TIMEOUT_S [COUNT]]
#
# With COUNT > 1 the calls go out at once (asynchronously) and the output
# has one object per line, in the order the replies came.

import json
import os
import sys
import time

import gi
gi.require_version('Gio', '2.0')
gi.require_version('GLib', '2.0')
from gi.repository import Gio, GLib  # noqa: E402

BUS_NAME = 'org.nvidia.ConfidentialCompute'


def main():
    path, iface, method, sig, expr = sys.argv[1:6]
    timeout = float(sys.argv[6]) if len(sys.argv) > 6 else 30
    count = int(sys.argv[7]) if len(sys.argv) > 7 else 1
    args = eval(expr, {'GLib': GLib})  # the test's own expression
    conn = Gio.DBusConnection.new_for_address_sync(
        os.environ['DBUS_SYSTEM_BUS_ADDRESS'],
        Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
        None, None)
    params = GLib.Variant('(%s)' % sig, tuple(args)) if sig else None
    loop = GLib.MainLoop()
    left = [count]
    start = time.monotonic()

    def done(c, res):
        out = {'error': None, 'message': '', 'seconds': 0}
        try:
            c.call_finish(res)
        except GLib.Error as e:
            out['error'] = Gio.DBusError.get_remote_error(e) or 'timeout-or-local:%s' % e.message
            out['message'] = e.message
        out['seconds'] = time.monotonic() - start
        print(json.dumps(out), flush=True)
        left[0] -= 1
        if left[0] == 0:
            loop.quit()

    for _ in range(count):
        conn.call(BUS_NAME, path, iface, method, params, None, Gio.DBusCallFlags.NONE,
                  int(timeout * 1000), None, done)
    loop.run()


if __name__ == '__main__':
    main()
