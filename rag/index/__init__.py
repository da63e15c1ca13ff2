"""The index: a self-describing build folder (store, manifest), the loaded snapshot, and the
two back-end interfaces (dense vectors, keyword search) with their embedded implementations."""
