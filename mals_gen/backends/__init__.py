"""Image backends for `mals generate`.

`sketch` draws pedestrians procedurally from an attribute vector (no model weights, labels known by
construction); `diffusion` runs a text-to-image pipeline. The generate stage wraps either one.
"""
