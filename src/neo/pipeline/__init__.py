"""The pipeline: download -> process -> write. Synchronous for now; queued in the next stage."""
