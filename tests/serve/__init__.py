"""A package, so that the `serve_app` fixture's "package" scope ends with these tests: without it the
fixture lives for the whole session and its replicas hold CPUs the later Ray tests wait for."""
