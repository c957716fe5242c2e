"""The README's "From Python" example runs as written, from a folder like the checkout."""

import os
import re

from conftest import CHECKOUT


def test_the_readme_example_runs(tmp_path, capsys, monkeypatch):
    readme = (CHECKOUT / "README.md").read_text()
    section = readme.split("## From Python", 1)
    assert len(section) == 2, "README.md has no section 'From Python'"
    blocks = re.findall(r"```python\n(.*?)```", section[1], re.S)
    assert blocks, "the 'From Python' section has no python code block"
    code = blocks[0]
    # Its paths are the checkout's; what it writes goes to a scratch folder, not the checkout.
    os.symlink(CHECKOUT / "assets", tmp_path / "assets")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md (From Python)", "exec"), {"__name__": "__readme__"})
    out = capsys.readouterr().out
    assert "abnormal" in out, out
    assert (tmp_path / "heatmap.png").is_file()


def test_the_installed_wheel_is_tested():
    """`import wscxr` finds the installed package, not the source folder."""
    import wscxr

    assert "site-packages" in wscxr.__file__, wscxr.__file__
