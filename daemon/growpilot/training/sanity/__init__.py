"""The sanity set: ordinary Python that is not any workspace's, written for Growpilot. The evaluator
scores every candidate adapter on it; a rise in its loss means the adapter is forgetting general code.
These modules are data: nothing imports them."""
