"""What the installed package exposes: only ``bert4keras_ext`` (the editable install put the repository root on
sys.path, so the repository's ``tasks`` and ``tests`` shadowed a user's own modules of those names)."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_installed_package_exposes_only_bert4keras_ext(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    code = ('import importlib.util as u, sys\n'
            'spec = u.find_spec("bert4keras_ext")\n'
            'print(spec is not None, u.find_spec("tasks") is None, u.find_spec("tests") is None)\n')
    r = subprocess.run([sys.executable, '-c', code], cwd=str(tmp_path), env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    installed, no_tasks, no_tests = r.stdout.split()
    if installed != 'True':
        pytest.skip('bert4keras_ext is not installed in this interpreter (run scripts/setup.sh)')
    assert (no_tasks, no_tests) == ('True', 'True')


def test_python_requires_admits_the_versions_tensorflow_supports():
    """setup.py pinned Python < 3.12 although TF 2.21 and tf-keras 2.21 publish wheels for 3.12."""
    import re
    text = open(os.path.join(ROOT, 'setup.py'), encoding='utf-8').read()
    spec = re.search(r"python_requires='([^']+)'", text).group(1)
    from packaging.specifiers import SpecifierSet
    assert '3.11.7' in SpecifierSet(spec) and '3.12.1' in SpecifierSet(spec)
