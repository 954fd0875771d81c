"""The web console at /ui: runs, a run, comparison and Pareto, "try it", drift monitor, the guide's page.

    runs.py          the run index, summaries, details, compare folders, the files a page may fetch
    app.py           `browse_app(roots)`: the console alone (`ecomtune ui RUNS_DIR`), no model loaded
    templates/       Jinja2 page shells (no data in them: the pages read /ui/api/* with the API key)
    static/          one CSS file and plain JS (no CDN, no web fonts: it works offline)

The router is `ecomtune.deploy.serve.routers.console`; `ecomtune serve RUN... --ui` mounts it next to the API.
"""
