#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Lists the service cases for meson, one "NAME FILE CLASS.METHOD" a line
(with --files, the test files it reads, one a line).

Read from the test files with ast, nothing imported, so a case written in a
file is a case meson runs.  A class runs when its name ends in "Test"
(base classes end in "TestCase" or "Mixin"); its cases are its test_*
methods and those of its bases defined in the test files.  NAME is
service-PREFIX-CASE, with the prefixes below, which scripts/test's
per-suite accounting and its kubectl tier match on."""

import ast
import os
import sys

# By file; a class may have its own.
FILE_PREFIX = {
    'test_kubectl.py': 'kubectl-',
    'test_bridge.py': 'bridge-',
    'test_bridge_bus.py': 'bridge-',
    'test_bridge_ops.py': 'bridge-',
    'test_bridge_profiles.py': 'bridge-',
    'test_page.py': 'page-',
    'test_bridge_workload.py': 'bridge-',
    'test_bridge_rtclass.py': 'bridge-rtclass-',
    'test_devplugin.py': 'devplugin-',
    'test_quickstart.py': 'quickstart-',
}
CLASS_PREFIX = {
    'KubectlLegacyDiscoveryTest': 'kubectl-legacy-',
}


def base_name(node):
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def main():
    args = sys.argv[1:]
    list_files = '--files' in args
    args = [a for a in args if a != '--files']
    directory = args[0] if args else os.path.dirname(os.path.abspath(__file__))
    files = sorted(f for f in os.listdir(directory) if f.startswith('test_') and f.endswith('.py'))
    if list_files:
        print('\n'.join(files))
        return
    classes = {}  # name -> (file, [base names], [test methods in order])
    for name in files:
        with open(os.path.join(directory, name), encoding='utf-8') as f:
            tree = ast.parse(f.read(), name)
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            if node.name in classes:
                sys.exit('%s: class %s is also in %s' % (name, node.name, classes[node.name][0]))
            methods = [n.name for n in node.body
                       if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name.startswith('test_')]
            classes[node.name] = (name, [base_name(b) for b in node.bases], methods)

    def cases_of(cls, seen=()):
        if cls not in classes or cls in seen:
            return []
        _, bases, methods = classes[cls]
        out = []
        for b in bases:
            out += [m for m in cases_of(b, seen + (cls,)) if m not in out]
        return out + [m for m in methods if m not in out]

    names = {}
    for cls, (name, _, _) in classes.items():
        if not cls.endswith('Test'):
            continue
        prefix = CLASS_PREFIX.get(cls, FILE_PREFIX.get(name, ''))
        for method in cases_of(cls):
            test = 'service-' + prefix + method[len('test_'):]
            if test in names:
                sys.exit('%s.%s and %s are both named %s' % (cls, method, names[test], test))
            names[test] = '%s.%s' % (cls, method)
            print(test, name, names[test])


if __name__ == '__main__':
    main()
