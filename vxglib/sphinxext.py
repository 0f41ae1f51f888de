"""The book's Sphinx extension: the `explorer` directive, the offline files it needs, and two
fixes that keep the browser console free of errors.

In a notebook's markdown cell (or any MyST page)::

    ```{explorer} gradient_descent
    ```

puts the named Experiment's kernel-free explorer (see `vxglib.explorer`) in the page. Plotly's
JavaScript, taken from the plotly wheel, and `explorer.js` are copied to `_static/vxglib/` and
loaded only by pages that hold an explorer. Precomputed results are cached in
`_build/explorer-cache/`; a page is rebuilt when the vxglib code behind its explorer changes.
Registered in `_config.yml` under `sphinx.extra_extensions` as `vxglib.sphinxext`.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util.docutils import SphinxDirective

STATIC = Path(__file__).parent / "static"
ASSETS = "vxglib"  # the folder under _static that holds plotly.min.js and explorer.js


def cache_dir(app: Sphinx) -> Path:
    """Where precomputed explorers are kept: beside the HTML output, inside `_build`."""
    return Path(app.outdir).parent / "explorer-cache"


def _records(env: BuildEnvironment) -> dict[str, dict[str, str]]:
    """docname -> {experiment name: fingerprint} for every page holding an explorer."""
    if not hasattr(env, "vxglib_explorers"):
        env.vxglib_explorers = {}
    return env.vxglib_explorers


class ExplorerDirective(SphinxDirective):
    """```{explorer} NAME```: the explorer of the registered Experiment called NAME."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        from . import explorer

        name = self.arguments[0]
        try:
            experiment = explorer.find(name)
            data = explorer.precompute(experiment, cache_dir(self.env.app))
        except Exception as error:  # a failed experiment fails the (strict) build with its reason
            raise self.error(f"explorer {name!r}: {type(error).__name__}: {error}") from error
        _records(self.env).setdefault(self.env.docname, {})[name] = explorer.fingerprint(experiment)
        return [nodes.raw("", explorer.explorer_html(data, f"explorer-{name}"), format="html")]


def _outdated(app: Sphinx, env: BuildEnvironment, added, changed, removed) -> list[str]:
    """Pages whose explorers were computed from vxglib code that has changed since."""
    records = _records(env)
    if not records:
        return []
    from . import explorer

    stale = []
    for docname, fingerprints in records.items():
        try:
            if any(explorer.fingerprint(explorer.find(name)) != old for name, old in fingerprints.items()):
                stale.append(docname)
        except ValueError:  # the experiment is gone: re-read so the directive reports it
            stale.append(docname)
    return stale


def _purge(app: Sphinx, env: BuildEnvironment, docname: str) -> None:
    _records(env).pop(docname, None)


def _merge(app: Sphinx, env: BuildEnvironment, docnames: set[str], other: BuildEnvironment) -> None:
    _records(env).update({d: f for d, f in _records(other).items() if d in docnames})


def _copy_assets(app: Sphinx) -> None:
    """Put plotly.min.js (from the plotly wheel) and explorer.js in `_static/vxglib/`."""
    if app.builder.format != "html":
        return
    import plotly

    target = Path(app.outdir) / "_static" / ASSETS
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", target / "plotly.min.js")
    shutil.copyfile(STATIC / "explorer.js", target / "explorer.js")


def _add_scripts(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Load Plotly and explorer.js on the pages that hold an explorer, and only there."""
    if pagename in _records(app.env):
        app.add_js_file(f"{ASSETS}/plotly.min.js", loading_method="defer")
        app.add_js_file(f"{ASSETS}/explorer.js", loading_method="defer")


def _theme_defaults(app: Sphinx, config) -> None:
    """Give pydata-sphinx-theme a colour mode (or its script logs an error on a first visit) and
    the book a favicon (or every browser asks for a /favicon.ico that is not there)."""
    config.html_context.setdefault("default_mode", "auto")
    if not config.html_favicon:
        config.html_favicon = str(STATIC / "favicon.svg")


def _drop_duplicate_scripts(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Keep the first of identical script entries: sphinx-thebe and sphinx-togglebutton register
    their inline config twice (filename None, then ''), and a second `const THEBE_JS_URL` is a
    console error in every page."""
    seen, unique = set(), []
    for script in context.get("script_files", []):
        key = (getattr(script, "filename", script) or "", tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app: Sphinx) -> dict:
    """Register the directive and the event handlers."""
    app.add_directive("explorer", ExplorerDirective)
    app.connect("builder-inited", _copy_assets)
    app.connect("env-get-outdated", _outdated)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("html-page-context", _add_scripts)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    app.connect("config-inited", _theme_defaults)
    return {"version": "1.0", "env_version": 1, "parallel_read_safe": True, "parallel_write_safe": True}
