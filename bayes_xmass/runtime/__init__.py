"""Runtime services: atomic file output, on-disk caches, PyTensor/nutpie compilation, task execution."""
