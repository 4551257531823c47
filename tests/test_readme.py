"""Every ```python snippet of the README runs as written, in order, in one fresh interpreter."""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_readme_snippets_run(tmp_path):
    with open(os.path.join(ROOT, 'README.md'), encoding='utf-8') as f:
        blocks = re.findall(r'```python\n(.*?)```', f.read(), flags=re.S)
    assert len(blocks) >= 3
    script = tmp_path / 'readme.py'
    script.write_text('\n'.join(blocks), encoding='utf-8')
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=str(tmp_path),
                            env=dict(os.environ, PYTHONPATH=ROOT), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'loaded' in result.stdout
