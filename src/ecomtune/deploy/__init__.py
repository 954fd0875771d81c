"""Deploy a run directory: compress it (`compress/`), serve it over HTTP (`serve/`), watch it for drift (`monitor/`)."""
