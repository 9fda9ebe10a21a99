#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# The documentation says what the code does, checked where the two can be
# compared as data:
#   - nvidia-ccd(8)'s journal table lists every MESSAGE_ID of the daemon in
#     src/common/message-ids.h, and nothing else; nvidia-cc-k8s-bridge(8)'s
#     JOURNAL section names every one of the bridge;
#   - every configuration key of src/core/config.c is in nvidia-ccd(8) and
#     in docs/nvidia-ccd.conf.example, under its group;
#   - the polkit actions of the policy are those the .rules and .pkla
#     examples grant;
#   - nvidia-ccctl(1)'s SYNOPSIS has every command of src/ctl/ctl-args.c;
#   - README's status paragraph names the release meson.build builds.

import configparser
import os
import re
import sys
import xml.etree.ElementTree as ET

src = sys.argv[1]
problems = []


def read(path):
    with open(os.path.join(src, path)) as f:
        return f.read()


def unroff(text):
    return text.replace('\\-', '-').replace('\\ ', ' ')


# -- MESSAGE_IDs
ids = dict(re.findall(r'#define (CC_MESSAGE_\w+)\s+"([0-9a-f]{32})"', read('src/common/message-ids.h')))
daemon_ids = {v for k, v in ids.items() if not k.startswith('CC_MESSAGE_BRIDGE_')}
page = read('docs/nvidia-ccd.8')
m = re.search(r'^\.TS\nl l\.\n(.*?)^\.TE$', page, re.M | re.S)
if not m:
    problems.append('nvidia-ccd.8: no journal table (.TS l l.)')
    table = []
else:
    table = [line.split('\t')[0] for line in m.group(1).splitlines() if line.strip()]
if len(daemon_ids) < 10:
    problems.append('message-ids.h: only %d MESSAGE_IDs found' % len(daemon_ids))
for i in sorted(daemon_ids - set(table)):
    name = [k for k, v in ids.items() if v == i][0]
    problems.append('nvidia-ccd.8: the journal table lacks %s (%s)' % (i, name))
for i in sorted(set(table) - daemon_ids):
    problems.append('nvidia-ccd.8: the journal table lists %s, which the daemon does not log' % i)
if len(table) != len(set(table)):
    problems.append('nvidia-ccd.8: the journal table lists a MESSAGE_ID twice')
# The bridge's own: each named in nvidia-cc-k8s-bridge(8)'s JOURNAL section.
bridge_ids = {k: v for k, v in ids.items() if k.startswith('CC_MESSAGE_BRIDGE_')}
m = re.search(r'^\.SH JOURNAL\n(.*?)^\.SH ', read('docs/nvidia-cc-k8s-bridge.8'), re.M | re.S)
journal = m.group(1) if m else ''
if not m:
    problems.append('nvidia-cc-k8s-bridge.8: no JOURNAL section')
for k, v in sorted(bridge_ids.items()):
    if v not in journal:
        problems.append('nvidia-cc-k8s-bridge.8: the JOURNAL section lacks %s (%s)' % (v, k))

# -- configuration keys
keys = re.findall(r'\{\s*"(\w+)",\s*"(\w+)",\s*parse_\w+', read('src/core/config.c'))
if len(keys) < 5:
    problems.append('config.c: only %d keys found' % len(keys))
example = configparser.RawConfigParser(allow_no_value=True, strict=False)
example.optionxform = str
example_text = read('docs/nvidia-ccd.conf.example')
# Keys are commented out ("#Key=value"): uncomment them to parse.
example.read_string(re.sub(r'^#(\w+=)', r'\1', example_text, flags=re.M))
for group, key in keys:
    if '[%s] %s=' % (group, key) not in unroff(page):
        problems.append('nvidia-ccd.8: CONFIGURATION lacks [%s] %s=' % (group, key))
    if not example.has_option(group, key):
        problems.append('nvidia-ccd.conf.example: [%s] lacks %s' % (group, key))
for group in example.sections():
    for key in example.options(group):
        if (group, key) not in keys:
            problems.append('nvidia-ccd.conf.example: [%s] %s is not a key of the daemon' % (group, key))

# -- polkit actions
policy = ET.fromstring(read('polkit/org.nvidia.ConfidentialCompute.policy'))
actions = {a.get('id') for a in policy.findall('action')}
rules = set(re.findall(r'action\.id == "([\w.-]+)"', read('polkit/50-nvidia-ccd.rules.example')))
pkla = configparser.RawConfigParser(strict=True, interpolation=None)
pkla.optionxform = str
pkla.read_string(read('polkit/50-nvidia-ccd.pkla.example'))
granted = set()
for section in pkla.sections():
    for k in ('Identity', 'Action', 'ResultAny', 'ResultInactive', 'ResultActive'):
        if not pkla.has_option(section, k):
            problems.append('50-nvidia-ccd.pkla.example: [%s] lacks %s' % (section, k))
    granted |= set(pkla.get(section, 'Action', fallback='').split(';'))
    if pkla.get(section, 'Identity', fallback='') != 'unix-group:nvidia-cc-admin':
        problems.append('50-nvidia-ccd.pkla.example: [%s] is not for unix-group:nvidia-cc-admin' % section)
if rules != actions:
    problems.append('50-nvidia-ccd.rules.example grants %s, the policy has %s' % (sorted(rules), sorted(actions)))
if granted != actions:
    problems.append('50-nvidia-ccd.pkla.example grants %s, the policy has %s' % (sorted(granted), sorted(actions)))

# -- nvidia-ccctl(1)'s SYNOPSIS
verbs = re.findall(r'\{ "([a-z-]+)", CTL_COMMAND_\w+,', read('src/ctl/ctl-args.c'))
ctl_page = unroff(read('docs/nvidia-ccctl.1'))
synopsis = ctl_page[ctl_page.index('.SH SYNOPSIS'):ctl_page.index('.SH DESCRIPTION')]
listed = re.findall(r'^\.B ([a-z-]+)$', synopsis, re.M)
if len(verbs) < 5:
    problems.append('ctl-args.c: only %d commands found' % len(verbs))
for v in verbs:
    if v not in listed:
        problems.append('nvidia-ccctl.1: SYNOPSIS lacks %s' % v)

# -- README's status
version = re.search(r"version : '([^']+)'", read('meson.build')).group(1)
if '**Status of release %s.**' % version not in read('README.md'):
    problems.append('README.md: no "**Status of release %s.**" paragraph: restate the status for this release'
                    % version)

for p in problems:
    print(p, file=sys.stderr)
if problems:
    sys.exit(1)
print('%d MESSAGE_IDs in the man page, %d in the bridge\'s, %d configuration keys, %d polkit actions, %d commands, release %s'
      % (len(table), len(bridge_ids), len(keys), len(actions), len(verbs), version))
